package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// SeedSpec says how many entities Seed writes. Routes hang from the
// services in turn, key-auth credentials from the consumers; each
// rate-limiting plugin needs a scope of its own (Kong's cache key is
// unique per name, route, service and consumer), so they take the
// consumers first, then the routes, then the services.
type SeedSpec struct {
	Services, Routes, Consumers, KeyAuth, RateLimiting int
	// Prefix starts every name, path and host ("seed-" when empty); seeding
	// twice with one prefix fails on Kong's unique names and writes nothing.
	Prefix string
	// Tags are set on every seeded entity.
	Tags []string
}

// Check reports a spec that cannot be seeded.
func (sp SeedSpec) Check() error {
	switch {
	case sp.Services < 0 || sp.Routes < 0 || sp.Consumers < 0 || sp.KeyAuth < 0 || sp.RateLimiting < 0:
		return errors.New("seed counts must not be negative")
	case sp.Routes > 0 && sp.Services == 0:
		return errors.New("seeding routes needs services")
	case sp.KeyAuth > 0 && sp.Consumers == 0:
		return errors.New("seeding key-auth credentials needs consumers")
	case sp.RateLimiting > sp.Consumers+sp.Routes+sp.Services:
		return fmt.Errorf("%d rate-limiting plugins need as many consumers, routes and services (one plugin per scope), have %d",
			sp.RateLimiting, sp.Consumers+sp.Routes+sp.Services)
	}
	return nil
}

// Seed writes spec's entities into the PostgreSQL backend's tables with
// COPY, in one transaction, as the Admin API would have stored them:
// each kind's first object goes through the Store's own defaults and
// validation (a plugin's config gets the shape of the node's version),
// the rest differ from it only in id, names and references; ws_id is the
// default workspace, cache_key Kong's, created_at and updated_at now.
// Foreign keys and unique constraints are the database's, so a failure
// writes nothing. It returns the rows written per table.
func (s *Store) Seed(ctx context.Context, spec SeedSpec) (map[string]int, error) {
	if err := spec.Check(); err != nil {
		return nil, err
	}
	pg, ok := s.be().(*PG)
	if !ok {
		return nil, errors.New("seed: needs a PostgreSQL database")
	}
	if spec.Prefix == "" {
		spec.Prefix = "seed-"
	}
	tx, err := pg.Pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var wsID string
	if err := tx.QueryRow(ctx, `SELECT id::text FROM workspaces WHERE name = 'default'`).Scan(&wsID); err != nil {
		return nil, fmt.Errorf("seed: read the default workspace: %w", err)
	}
	now := float64(s.now())
	ids := func(n int) []string {
		l := make([]string, n)
		for i := range l {
			l[i] = uuid.NewString()
		}
		return l
	}
	svcs, cons, routes := ids(spec.Services), ids(spec.Consumers), ids(spec.Routes)
	ref := func(id string) map[string]any { return map[string]any{"id": id} }
	name := func(kind string, i int) string { return fmt.Sprintf("%s%s-%06d", spec.Prefix, kind, i+1) }
	var tags []any
	for _, t := range spec.Tags {
		tags = append(tags, t)
	}
	counts := map[string]int{}
	kinds := []struct {
		entity string
		ids    []string
		n      int
		vary   func(i int, o map[string]any)
	}{
		{"services", svcs, spec.Services, func(i int, o map[string]any) {
			o["name"] = name("service", i)
			o["host"] = name("service", i) + ".internal"
		}},
		{"routes", routes, spec.Routes, func(i int, o map[string]any) {
			o["name"] = name("route", i)
			o["paths"] = []any{"/" + name("route", i)}
			o["service"] = ref(svcs[i%len(svcs)])
		}},
		{"consumers", cons, spec.Consumers, func(i int, o map[string]any) { o["username"] = name("consumer", i) }},
		{"keyauth_credentials", nil, spec.KeyAuth, func(i int, o map[string]any) {
			o["consumer"] = ref(cons[i%len(cons)])
			o["key"] = randomHex(16) // Kong's default: a random key
		}},
		{"plugins", nil, spec.RateLimiting, func(i int, o map[string]any) {
			o["name"] = "rate-limiting"
			minute := float64(60 + i%100)
			if c, ok := o["config"].(map[string]any); ok {
				// The template's config, completed for this version.
				c = maps.Clone(c)
				c["minute"] = minute
				o["config"] = c
			} else {
				o["config"] = map[string]any{"minute": minute, "policy": "local"}
			}
			o["consumer"], o["route"], o["service"] = nil, nil, nil
			switch {
			case i < len(cons):
				o["consumer"] = ref(cons[i])
			case i < len(cons)+len(routes):
				o["route"] = ref(routes[i-len(cons)])
			default:
				o["service"] = ref(svcs[i-len(cons)-len(routes)])
			}
		}},
	}
	for _, k := range kinds {
		if k.n == 0 {
			continue
		}
		ent := s.Reg.ByName(k.entity)
		if ent == nil {
			return nil, fmt.Errorf("seed: this version has no %s", k.entity)
		}
		cols, err := pg.columns(ctx, ent.TableName())
		if err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
		if len(cols) == 0 {
			return nil, fmt.Errorf("seed: table %s does not exist (database not bootstrapped?)", ent.TableName())
		}
		// The template: the first object, completed and validated as an
		// Admin API write is.
		tmpl := map[string]any{"id": uuid.NewString(), "created_at": now}
		if ent.Field("updated_at") != nil {
			tmpl["updated_at"] = now
		}
		if len(tags) > 0 {
			tmpl["tags"] = tags
		}
		k.vary(0, tmpl)
		s.fillAuto(ent, tmpl)
		if errs := complete(ent, tmpl, s.Plugin, s.PluginTop); errs != nil {
			return nil, fmt.Errorf("seed %s: %v", k.entity, SchemaViolation(errs))
		}
		var names []string
		for c := range toRow(ent, tmpl) {
			if cols[c] {
				names = append(names, c)
			}
		}
		if cols["ws_id"] {
			names = append(names, "ws_id")
		}
		times := map[string]bool{}
		for _, f := range ent.Fields {
			if f.Timestamp || (ent.Name == "keyauth_credentials" && f.Name == "ttl") {
				times[f.Name] = true
			}
		}
		src := &seedRows{n: k.n, names: names, times: times, ws: wsID, make: func(i int) map[string]any {
			o := maps.Clone(tmpl)
			o["id"] = uuid.NewString()
			if k.ids != nil {
				o["id"] = k.ids[i]
			}
			k.vary(i, o)
			return toRow(ent, o)
		}}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{ent.TableName()}, names, src)
		if err != nil {
			return nil, fmt.Errorf("seed %s: copy: %w", k.entity, err)
		}
		counts[ent.TableName()] = int(n)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("seed: commit: %w", err)
	}
	return counts, nil
}

// seedRows is a pgx.CopyFromSource over rows made on demand (100,000 of
// them are never all in memory).
type seedRows struct {
	n, i  int
	names []string
	times map[string]bool // timestamp columns
	ws    string
	make  func(i int) map[string]any
	cur   []any
	err   error
}

func (r *seedRows) Next() bool {
	if r.i >= r.n || r.err != nil {
		return false
	}
	row := r.make(r.i)
	r.i++
	r.cur = make([]any, len(r.names))
	for j, c := range r.names {
		switch c {
		case "ws_id":
			r.cur[j] = r.ws
		case "cache_key":
			if k, _ := row[c].(string); k != "" {
				r.cur[j] = k + r.ws // as PG.save appends the workspace
			}
		default:
			r.cur[j] = copyValue(row[c])
			if ts, ok := row[c].(string); ok && r.times[c] {
				t, err := time.Parse(time.RFC3339Nano, ts)
				if err != nil {
					r.err = fmt.Errorf("%s: %w", c, err)
					return false
				}
				r.cur[j] = t
			}
		}
	}
	return true
}

func (r *seedRows) Values() ([]any, error) { return r.cur, nil }
func (r *seedRows) Err() error             { return r.err }

// copyValue turns a row value (JSON-shaped) into one pgx encodes for the
// column: whole numbers as integers, string lists as text[]; strings are
// given as PostgreSQL's text form (uuid, timestamps), maps as jsonb.
func copyValue(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
	case []any:
		l := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return v
			}
			l = append(l, s)
		}
		return l
	}
	return v
}
