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

// cacheKey is an entity's cache key as Kong writes it into the cache_key
// column, without the trailing workspace id: "<table>:<k1>:…:<k5>:" (K:
// kong/db/dao/init.lua DAO:cache_key: five slots, empty for absent ones,
// then ws_id); "" when the entity has none. keys' cache key is (kid, set).
func cacheKey(ent *Entity, obj map[string]any) string {
	fields := ent.CacheKey
	if ent.Name == "keys" {
		fields = []string{"kid", "set"}
	}
	if len(fields) == 0 {
		return ""
	}
	parts := []string{ent.Name, "", "", "", "", "", ""}
	for i, f := range fields {
		if fd := ent.Field(f); fd != nil && fd.Type == "foreign" {
			parts[i+1] = refID(obj[f])
		} else if obj[f] != nil {
			parts[i+1] = fmt.Sprint(obj[f])
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
