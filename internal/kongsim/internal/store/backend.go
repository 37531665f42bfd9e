package store

import (
	"context"
	"fmt"
	"strings"
)

// Backend stores entity objects (Kong's JSON shape) by table. The Store
// above it validates and enforces Kong's rules; a backend only persists,
// looks up and lists. Implementations: PG (DB mode) and Mem (DB-less).
type Backend interface {
	// Get returns the object with this id, or nil when there is none.
	Get(ctx context.Context, ent *Entity, id string) (map[string]any, error)
	// Find returns the objects whose top-level field equals value; for a
	// foreign field, whose {"id"} equals value; for "cache_key", whose
	// cache key equals value.
	Find(ctx context.Context, ent *Entity, field, value string) ([]map[string]any, error)
	// List returns up to q.Limit objects ordered by id, after q.After.
	List(ctx context.Context, ent *Entity, q Query) ([]map[string]any, error)
	// Save inserts or replaces the object (by its "id").
	Save(ctx context.Context, ent *Entity, obj map[string]any) error
	// Delete removes the row with this id; absent rows are not an error.
	Delete(ctx context.Context, ent *Entity, id string) error
}

// Query selects a page of a table.
type Query struct {
	After  string            // exclusive lower bound on id; "" from the start
	Limit  int               // 0 = no limit
	Tags   []string          // tag filter
	AnyTag bool              // Tags joined with "/" (OR) rather than "," (AND)
	Where  map[string]string // foreign field -> referenced id
}

// cacheKey is the string form of an entity's cache key fields; "" when the
// entity has none.
func cacheKey(ent *Entity, obj map[string]any) string {
	if ent.Name == "keys" {
		return fmt.Sprintf("%v:%v", obj["kid"], refID(obj["set"]))
	}
	if len(ent.CacheKey) == 0 {
		return ""
	}
	parts := []string{ent.Name}
	for _, f := range ent.CacheKey {
		if fd := ent.Field(f); fd != nil && fd.Type == "foreign" {
			parts = append(parts, refID(obj[f]))
		} else if obj[f] != nil {
			parts = append(parts, fmt.Sprint(obj[f]))
		} else {
			parts = append(parts, "")
		}
	}
	return strings.Join(parts, ":")
}

// refID returns the id of a foreign value {"id": "..."}, or "".
func refID(v any) string {
	m, _ := v.(map[string]any)
	id, _ := m["id"].(string)
	return id
}

// columns returns the table columns (besides id, timestamps, tags and
// entity) and their values for obj; ddl.go declares the same columns.
func columns(ent *Entity, obj map[string]any) (names []string, values []any) {
	add := func(n string, v any) {
		names = append(names, n)
		values = append(values, v)
	}
	for _, f := range ent.Fields {
		switch {
		case f.Type == "foreign":
			if id := refID(obj[f.Name]); id != "" {
				add(f.Name+"_id", id)
			} else {
				add(f.Name+"_id", nil)
			}
		case f.Unique:
			add(f.Name, strOrNil(obj[f.Name]))
		}
	}
	for _, c := range ent.Columns {
		add(c, strOrNil(obj[c]))
	}
	if len(ent.CacheKey) > 0 {
		add("cache_key", cacheKey(ent, obj))
	}
	return names, values
}

func strOrNil(v any) any {
	if v == nil {
		return nil
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// matchesTags reports whether obj's tags satisfy the filter.
func matchesTags(obj map[string]any, tags []string, anyTag bool) bool {
	if len(tags) == 0 {
		return true
	}
	have := map[string]bool{}
	if l, ok := obj["tags"].([]any); ok {
		for _, t := range l {
			if s, ok := t.(string); ok {
				have[s] = true
			}
		}
	}
	for _, t := range tags {
		if have[t] && anyTag {
			return true
		}
		if !have[t] && !anyTag {
			return false
		}
	}
	return !anyTag
}
