package store

import (
	"context"
	"sort"
	"sync"
)

// Mem is the in-memory backend of DB-less nodes. It is safe for concurrent
// use; objects are deep-copied in and out.
type Mem struct {
	mu     sync.RWMutex
	tables map[string]map[string]map[string]any
}

// NewMem returns an empty in-memory backend.
func NewMem() *Mem { return &Mem{tables: map[string]map[string]map[string]any{}} }

func copyObj(o map[string]any) map[string]any {
	if o == nil {
		return nil
	}
	return deepCopy(o).(map[string]any)
}

// Get implements Backend.
func (m *Mem) Get(_ context.Context, ent *Entity, id string) (map[string]any, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return copyObj(m.tables[ent.Name][id]), nil
}

// Find implements Backend.
func (m *Mem) Find(_ context.Context, ent *Entity, field, value string) ([]map[string]any, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []map[string]any
	for _, id := range m.sortedIDs(ent.Name) {
		o := m.tables[ent.Name][id]
		if fieldEquals(ent, o, field, value) {
			out = append(out, copyObj(o))
		}
	}
	return out, nil
}

func fieldEquals(ent *Entity, o map[string]any, field, value string) bool {
	if field == "cache_key" && len(ent.CacheKey) > 0 {
		return cacheKey(ent, o) == value
	}
	if f := ent.Field(field); f != nil && f.Type == "foreign" {
		return refID(o[field]) == value
	}
	s, ok := o[field].(string)
	return ok && s == value
}

func (m *Mem) sortedIDs(table string) []string {
	ids := make([]string, 0, len(m.tables[table]))
	for id := range m.tables[table] {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// List implements Backend.
func (m *Mem) List(_ context.Context, ent *Entity, q Query) ([]map[string]any, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []map[string]any
	for _, id := range m.sortedIDs(ent.Name) {
		if q.After != "" && id <= q.After {
			continue
		}
		o := m.tables[ent.Name][id]
		if !matchesTags(o, q.Tags, q.AnyTag) {
			continue
		}
		ok := true
		for f, v := range q.Where {
			if refID(o[f]) != v {
				ok = false
			}
		}
		if !ok {
			continue
		}
		out = append(out, copyObj(o))
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	return out, nil
}

// Save implements Backend.
func (m *Mem) Save(_ context.Context, ent *Entity, obj map[string]any) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tables[ent.Name]
	if t == nil {
		t = map[string]map[string]any{}
		m.tables[ent.Name] = t
	}
	t[obj["id"].(string)] = copyObj(obj)
	return nil
}

// Delete implements Backend.
func (m *Mem) Delete(_ context.Context, ent *Entity, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.tables[ent.Name], id)
	return nil
}
