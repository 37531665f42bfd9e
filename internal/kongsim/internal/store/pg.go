package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PG is the PostgreSQL backend of DB-mode nodes: one row per entity in the
// tables of ddl.go, the whole object in the entity column. Several nodes
// on one database see the same rows.
type PG struct {
	Pool *pgxpool.Pool
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// Get implements Backend.
func (p *PG) Get(ctx context.Context, ent *Entity, id string) (map[string]any, error) {
	rows, err := p.query(ctx, "SELECT entity FROM "+quoteIdent(ent.Name)+" WHERE id = $1", id)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0], nil
}

// Find implements Backend.
func (p *PG) Find(ctx context.Context, ent *Entity, field, value string) ([]map[string]any, error) {
	var cond string
	switch f := ent.Field(field); {
	case field == "cache_key" && len(ent.CacheKey) > 0:
		cond = "cache_key = $1"
	case f != nil && f.Type == "foreign":
		cond = "entity->" + quoteLit(field) + "->>'id' = $1"
	default:
		cond = "entity->>" + quoteLit(field) + " = $1"
	}
	return p.query(ctx, "SELECT entity FROM "+quoteIdent(ent.Name)+" WHERE "+cond+" ORDER BY id", value)
}

func quoteLit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// List implements Backend.
func (p *PG) List(ctx context.Context, ent *Entity, q Query) ([]map[string]any, error) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.After != "" {
		conds = append(conds, "id > "+arg(q.After)+"::uuid")
	}
	if len(q.Tags) > 0 {
		op := "@>"
		if q.AnyTag {
			op = "&&"
		}
		conds = append(conds, "tags "+op+" "+arg(q.Tags)+"::text[]")
	}
	for f, v := range q.Where {
		conds = append(conds, "entity->"+quoteLit(f)+"->>'id' = "+arg(v))
	}
	sql := "SELECT entity FROM " + quoteIdent(ent.Name)
	if len(conds) > 0 {
		sql += " WHERE " + strings.Join(conds, " AND ")
	}
	sql += " ORDER BY id"
	if q.Limit > 0 {
		sql += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	return p.query(ctx, sql, args...)
}

func (p *PG) query(ctx context.Context, sql string, args ...any) ([]map[string]any, error) {
	rows, err := p.Pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var o map[string]any
		if err := json.Unmarshal(raw, &o); err != nil {
			return nil, fmt.Errorf("decode entity: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// Save implements Backend. A unique or foreign-key violation the Store did
// not catch first (a race between nodes) comes back as a *pgconn.PgError.
func (p *PG) Save(ctx context.Context, ent *Entity, obj map[string]any) error {
	raw, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	var tags []string
	if l, ok := obj["tags"].([]any); ok {
		for _, t := range l {
			if s, ok := t.(string); ok {
				tags = append(tags, s)
			}
		}
	}
	names, values := columns(ent, obj)
	cols := []string{"id", "created_at", "updated_at", "tags", "entity"}
	vals := []any{obj["id"], toInt(obj["created_at"]), toIntOrNil(obj["updated_at"]), tags, raw}
	for i, n := range names {
		cols = append(cols, n)
		vals = append(vals, values[i])
	}
	ph := make([]string, len(cols))
	set := make([]string, 0, len(cols))
	for i, c := range cols {
		ph[i] = fmt.Sprintf("$%d", i+1)
		cols[i] = quoteIdent(c)
		if c != "id" {
			set = append(set, cols[i]+" = EXCLUDED."+cols[i])
		}
	}
	sql := "INSERT INTO " + quoteIdent(ent.Name) + " (" + strings.Join(cols, ", ") + ") VALUES (" +
		strings.Join(ph, ", ") + ") ON CONFLICT (id) DO UPDATE SET " + strings.Join(set, ", ")
	_, err = p.Pool.Exec(ctx, sql, vals...)
	return err
}

// Delete implements Backend.
func (p *PG) Delete(ctx context.Context, ent *Entity, id string) error {
	_, err := p.Pool.Exec(ctx, "DELETE FROM "+quoteIdent(ent.Name)+" WHERE id = $1", id)
	return err
}

func toInt(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}

func toIntOrNil(v any) any {
	if f, ok := v.(float64); ok {
		return int64(f)
	}
	return nil
}

// isPgCode reports whether err is a PostgreSQL error with this SQLSTATE.
func isPgCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}
