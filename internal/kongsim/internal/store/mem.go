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
	// index holds, per table and Find field, the ids of the rows by the
	// value Find compares (fieldKey). An index is built on a field's first
	// Find and kept up to date by Save and Delete: the Store's uniqueness
	// check finds by every unique field and the cache key on each insert,
	// which a scan made quadratic (36 s of CPU for 10,000 entities).
	index map[string]map[string]map[string]map[string]bool
}

// NewMem returns an empty in-memory backend.
func NewMem() *Mem {
	return &Mem{tables: map[string]map[string]map[string]any{}, index: map[string]map[string]map[string]map[string]bool{}}
}

// fieldKey is the value of o's field that Find compares with: the cache
// key for "cache_key", a foreign field's id, a string field's value; ok
// is false when o has no such value (a non-string field never matches).
func fieldKey(ent *Entity, o map[string]any, field string) (key string, ok bool) {
	if field == "cache_key" && len(ent.CacheKey) > 0 {
		return cacheKey(ent, o), true
	}
	if f := ent.Field(field); f != nil && f.Type == "foreign" {
		return refID(o[field]), true
	}
	s, ok := o[field].(string)
	return s, ok
}

// indexed returns the index of table's field, building it on first use.
// The caller holds m.mu for writing.
func (m *Mem) indexed(ent *Entity, field string) map[string]map[string]bool {
	byField := m.index[ent.Name]
	if byField == nil {
		byField = map[string]map[string]map[string]bool{}
		m.index[ent.Name] = byField
	}
	if idx, ok := byField[field]; ok {
		return idx
	}
	idx := map[string]map[string]bool{}
	for id, o := range m.tables[ent.Name] {
		addKey(idx, ent, o, field, id)
	}
	byField[field] = idx
	return idx
}

func addKey(idx map[string]map[string]bool, ent *Entity, o map[string]any, field, id string) {
	if k, ok := fieldKey(ent, o, field); ok {
		if idx[k] == nil {
			idx[k] = map[string]bool{}
		}
		idx[k][id] = true
	}
}

func removeKey(idx map[string]map[string]bool, ent *Entity, o map[string]any, field, id string) {
	if k, ok := fieldKey(ent, o, field); ok {
		delete(idx[k], id)
		if len(idx[k]) == 0 {
			delete(idx, k)
		}
	}
}

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

// Find implements Backend, through the field's index (ordered by id, as
// List is).
func (m *Mem) Find(_ context.Context, ent *Entity, field, value string) ([]map[string]any, error) {
	m.mu.Lock() // the first Find of a field builds its index
	defer m.mu.Unlock()
	ids := make([]string, 0, 1)
	for id := range m.indexed(ent, field)[value] {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []map[string]any
	for _, id := range ids {
		out = append(out, copyObj(m.tables[ent.Name][id]))
	}
	return out, nil
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
	id := obj["id"].(string)
	o := copyObj(obj)
	for field, idx := range m.index[ent.Name] {
		if old := t[id]; old != nil {
			removeKey(idx, ent, old, field, id)
		}
		addKey(idx, ent, o, field, id)
	}
	t[id] = o
	return nil
}

// Delete implements Backend.
func (m *Mem) Delete(_ context.Context, ent *Entity, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.tables[ent.Name][id]; old != nil {
		for field, idx := range m.index[ent.Name] {
			removeKey(idx, ent, old, field, id)
		}
	}
	delete(m.tables[ent.Name], id)
	return nil
}
