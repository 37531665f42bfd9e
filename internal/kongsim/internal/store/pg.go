package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PG is the PostgreSQL backend of DB-mode nodes: one row per entity in
// Kong's own tables (ddl.go), one column per field as Kong's postgres
// strategy maps them (K: kong/db/strategies/postgres/init.lua): a foreign
// key <field> is the column <field>_id, timestamps are TIMESTAMP WITH TIME
// ZONE, arrays are PostgreSQL arrays, records and maps jsonb; ws_id is the
// default workspace and cache_key Kong's "<table>:<k1>:…:<k5>:<ws_id>".
// Several nodes on one database see the same rows.
type PG struct {
	Pool *pgxpool.Pool

	mu   sync.Mutex
	cols map[string]map[string]bool // table → its columns, as last read
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

func quoteLit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// defaultWS is the default workspace's id, read in the statement itself
// (a reset and bootstrap gives it a new one).
const defaultWS = `(SELECT id FROM workspaces WHERE name = 'default')`

// columns returns the table's columns, cached until a statement meets a
// missing column or table (a migration changed the schema). A node that
// runs while a newer version's migrations add columns keeps writing the
// columns it knew, as an older Kong does.
func (p *PG) columns(ctx context.Context, table string) (map[string]bool, error) {
	p.mu.Lock()
	c := p.cols[table]
	p.mu.Unlock()
	if c != nil {
		return c, nil
	}
	rows, err := p.Pool.Query(ctx, `SELECT attname::text FROM pg_attribute
		WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`, quoteIdent(table))
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", table, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", table, err)
	}
	c = map[string]bool{}
	for _, n := range names {
		c[n] = true
	}
	if len(c) > 0 {
		p.mu.Lock()
		if p.cols == nil {
			p.cols = map[string]map[string]bool{}
		}
		p.cols[table] = c
		p.mu.Unlock()
	}
	return c, nil
}

// forget drops the cached columns after a schema error.
func (p *PG) forget(err error) {
	if isPgCode(err, "42703") || isPgCode(err, "42P01") {
		p.mu.Lock()
		p.cols = nil
		p.mu.Unlock()
	}
}

// Get implements Backend.
func (p *PG) Get(ctx context.Context, ent *Entity, id string) (map[string]any, error) {
	rows, err := p.query(ctx, ent, "WHERE id = $1", id)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0], nil
}

// Find implements Backend.
func (p *PG) Find(ctx context.Context, ent *Entity, field, value string) ([]map[string]any, error) {
	var cond string
	switch f := ent.Field(field); {
	case field == "cache_key":
		cols, err := p.columns(ctx, ent.TableName())
		if err != nil {
			return nil, err
		}
		if !cols["cache_key"] {
			// Before 3.0 targets have none, and Kong does not check.
			return nil, nil
		}
		cond = "cache_key = $1 OR cache_key = $1 || " + defaultWS + "::text"
	case f != nil && f.Type == "foreign":
		cond = quoteIdent(field+"_id") + "::text = $1"
	default:
		cond = quoteIdent(field) + "::text = $1"
	}
	return p.query(ctx, ent, "WHERE "+cond+" ORDER BY id", value)
}

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
		conds = append(conds, quoteIdent(f+"_id")+"::text = "+arg(v))
	}
	var where string
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	where += " ORDER BY id"
	if q.Limit > 0 {
		where += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	return p.query(ctx, ent, where, args...)
}

// query reads whole rows (to_jsonb) and maps them to entity objects.
func (p *PG) query(ctx context.Context, ent *Entity, where string, args ...any) ([]map[string]any, error) {
	rows, err := p.Pool.Query(ctx, "SELECT to_jsonb(t) FROM "+quoteIdent(ent.TableName())+" AS t "+where, args...)
	if err != nil {
		p.forget(err)
		return nil, err
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		var row map[string]any
		if err := json.Unmarshal(raw, &row); err != nil {
			return nil, fmt.Errorf("decode %s row: %w", ent.TableName(), err)
		}
		o, err := fromRow(ent, row)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// fromRow maps a table row to the entity object the Admin API shows.
// Columns the entity has no field for (ws_id, cache_key, routes'
// expression, ...) are left out; a field without a column (a column a
// later migration adds) reads as null.
func fromRow(ent *Entity, row map[string]any) (map[string]any, error) {
	obj := make(map[string]any, len(ent.Fields))
	for _, f := range ent.Fields {
		switch {
		case f.Type == "foreign":
			if id, _ := row[f.Name+"_id"].(string); id != "" {
				obj[f.Name] = map[string]any{"id": id}
			} else {
				obj[f.Name] = nil
			}
		case f.Timestamp:
			t, err := epoch(row[f.Name])
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", ent.Name, f.Name, err)
			}
			obj[f.Name] = t
		case ent.Name == "keyauth_credentials" && f.Name == "ttl":
			// Kong keeps the expiry time; the emulator shows the ttl the
			// credential was created with (not the seconds left).
			exp, err := epoch(row["ttl"])
			if err != nil {
				return nil, fmt.Errorf("%s.ttl: %w", ent.Name, err)
			}
			created, _ := epoch(row["created_at"])
			if e, ok := exp.(float64); ok {
				c, _ := created.(float64)
				obj["ttl"] = math.Round(e - c)
			} else {
				obj["ttl"] = nil
			}
		default:
			obj[f.Name] = row[f.Name]
		}
	}
	return obj, nil
}

// epoch converts a timestamp column (as to_jsonb prints it) to seconds
// since the epoch, with milliseconds when the column has them; nil stays
// nil.
func epoch(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, fmt.Errorf("timestamp %q: %w", s, err)
	}
	if ms := t.UnixMilli(); ms%1000 != 0 {
		return float64(ms) / 1000, nil
	}
	return float64(t.Unix()), nil
}

func timestamp(v any) any {
	f, ok := v.(float64)
	if !ok {
		return nil
	}
	return time.UnixMilli(int64(math.Round(f * 1000))).UTC().Format(time.RFC3339Nano)
}

// toRow maps an entity object to its table's columns.
func toRow(ent *Entity, obj map[string]any) map[string]any {
	row := make(map[string]any, len(ent.Fields)+1)
	for _, f := range ent.Fields {
		switch {
		case f.Type == "foreign":
			if id := refID(obj[f.Name]); id != "" {
				row[f.Name+"_id"] = id
			} else {
				row[f.Name+"_id"] = nil
			}
		case f.Timestamp:
			row[f.Name] = timestamp(obj[f.Name])
		case ent.Name == "keyauth_credentials" && f.Name == "ttl":
			if ttl, ok := obj["ttl"].(float64); ok {
				c, _ := obj["created_at"].(float64)
				row["ttl"] = timestamp(c + ttl)
			} else {
				row["ttl"] = nil
			}
		case f.Name == "cache_key":
		default:
			row[f.Name] = obj[f.Name]
		}
	}
	if (ent.Name == "plugins" || ent.Name == "vaults") && row["config"] == nil {
		row["config"] = map[string]any{} // NOT NULL in Kong's tables
	}
	if len(ent.CacheKey) > 0 || ent.Name == "keys" {
		row["cache_key"] = cacheKey(ent, obj)
	}
	return row
}

// Save implements Backend. A unique or foreign-key violation the Store did
// not catch first (a race between nodes) comes back as a *pgconn.PgError.
func (p *PG) Save(ctx context.Context, ent *Entity, obj map[string]any) error {
	err := p.save(ctx, ent, obj)
	if err != nil && (isPgCode(err, "42703") || isPgCode(err, "42P01")) {
		p.forget(err) // the schema changed under the node: read it again once
		err = p.save(ctx, ent, obj)
	}
	return err
}

func (p *PG) save(ctx context.Context, ent *Entity, obj map[string]any) error {
	table := ent.TableName()
	cols, err := p.columns(ctx, table)
	if err != nil {
		return err
	}
	if len(cols) == 0 {
		return &pgconn.PgError{Code: "42P01", Message: fmt.Sprintf(`relation "%s" does not exist`, table)}
	}
	row := toRow(ent, obj)
	for k := range row {
		if !cols[k] {
			delete(row, k)
		}
	}
	raw, err := json.Marshal(row)
	if err != nil {
		return err
	}
	var names, exprs, set []string
	for k := range row {
		q := quoteIdent(k)
		names = append(names, q)
		if k == "cache_key" && cols["ws_id"] {
			exprs = append(exprs, "r.cache_key || coalesce("+defaultWS+"::text, '')")
		} else {
			exprs = append(exprs, "r."+q)
		}
	}
	if cols["ws_id"] {
		names = append(names, "ws_id")
		exprs = append(exprs, defaultWS)
	}
	for _, n := range names {
		if n != `"id"` {
			set = append(set, n+" = EXCLUDED."+n)
		}
	}
	sql := "INSERT INTO " + quoteIdent(table) + " (" + strings.Join(names, ", ") + ") SELECT " + strings.Join(exprs, ", ") +
		" FROM jsonb_populate_record(NULL::" + quoteIdent(table) + ", $1::jsonb) AS r ON CONFLICT (id) DO UPDATE SET " + strings.Join(set, ", ")
	_, err = p.Pool.Exec(ctx, sql, raw)
	return err
}

// Delete implements Backend.
func (p *PG) Delete(ctx context.Context, ent *Entity, id string) error {
	_, err := p.Pool.Exec(ctx, "DELETE FROM "+quoteIdent(ent.TableName())+" WHERE id = $1", id)
	p.forget(err)
	return err
}

// isPgCode reports whether err is a PostgreSQL error with this SQLSTATE.
func isPgCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}
