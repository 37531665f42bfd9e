package kong

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// SchemaState is what Kong's database says about its migrations
// (kong-facts §3.1), read in one transaction.
type SchemaState struct {
	// NeedsBootstrap: there is no schema_meta table (or no core row in
	// it), as Kong's connector decides.
	NeedsBootstrap bool
	// Rows are schema_meta's rows with key = 'schema_meta', one per
	// subsystem, ordered by subsystem.
	Rows []kongrelease.SchemaMetaRow
	// Locks are the rows of Kong's locks table (the migrations lock is
	// key "migrations"), expired or not; empty when the table is absent.
	Locks []Lock
}

// Lock is one row of Kong's locks table.
type Lock struct {
	Key   string
	Owner string
	TTL   time.Time // when the lock expires; Kong deletes expired rows lazily
}

// Expired reports whether the lock's ttl is before now.
func (l Lock) Expired(now time.Time) bool { return !l.TTL.After(now) }

// Querier is what ReadSchemaFrom needs of a connection (pgx.Conn,
// pgxpool.Pool and pgx.Tx all satisfy it).
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ReadSchema connects to Kong's database at dsn and reads its schema
// state. The DSN's password is never part of an error. Safe to repeat;
// it only reads.
func ReadSchema(ctx context.Context, dsn string) (SchemaState, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return SchemaState{}, &Error{Op: "read schema_meta", Target: "(unparsable DSN)", Err: fmt.Errorf("parse DSN: %v", redactErr(err))}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return SchemaState{}, &Error{Op: "read schema_meta", Target: cfg.Database, Err: err}
	}
	defer conn.Close(context.WithoutCancel(ctx))
	st, err := ReadSchemaFrom(ctx, conn)
	if err != nil {
		return SchemaState{}, &Error{Op: "read schema_meta", Target: cfg.Database, Err: err}
	}
	return st, nil
}

// ReadSchemaFrom reads the schema state through q (on the search_path's
// schema, as Kong's pg_schema default does).
func ReadSchemaFrom(ctx context.Context, q Querier) (SchemaState, error) {
	var st SchemaState
	var hasMeta, hasLocks bool
	if err := q.QueryRow(ctx, `SELECT to_regclass('schema_meta') IS NOT NULL, to_regclass('locks') IS NOT NULL`).Scan(&hasMeta, &hasLocks); err != nil {
		return st, fmt.Errorf("look for schema_meta: %w", err)
	}
	if hasMeta {
		rows, err := q.Query(ctx, `SELECT subsystem, coalesce(last_executed, ''), coalesce(executed, '{}'), coalesce(pending, '{}')
			FROM schema_meta WHERE key = 'schema_meta' ORDER BY subsystem`)
		if err != nil {
			return st, fmt.Errorf("select schema_meta: %w", err)
		}
		st.Rows, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (kongrelease.SchemaMetaRow, error) {
			var m kongrelease.SchemaMetaRow
			err := r.Scan(&m.Subsystem, &m.LastExecuted, &m.Executed, &m.Pending)
			return m, err
		})
		if err != nil {
			return st, fmt.Errorf("select schema_meta: %w", err)
		}
	}
	st.NeedsBootstrap = !hasMeta || !st.hasCore()
	if hasLocks {
		rows, err := q.Query(ctx, `SELECT key, coalesce(owner, ''), coalesce(ttl, 'epoch'::timestamptz) FROM locks ORDER BY key`)
		if err != nil {
			return st, fmt.Errorf("select locks: %w", err)
		}
		st.Locks, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Lock, error) {
			var l Lock
			err := r.Scan(&l.Key, &l.Owner, &l.TTL)
			return l, err
		})
		if err != nil {
			return st, fmt.Errorf("select locks: %w", err)
		}
	}
	return st, nil
}

func (s SchemaState) hasCore() bool {
	for _, r := range s.Rows {
		if r.Subsystem == "core" {
			return true
		}
	}
	return false
}

// Classify classifies the migrations Kong version v knows against this
// state (kongrelease.Classify). When the database needs bootstrapping every
// migration is new.
func (s SchemaState) Classify(v kongrelease.Version) kongrelease.Classification {
	if s.NeedsBootstrap {
		return kongrelease.Classify(v, nil)
	}
	return kongrelease.Classify(v, s.Rows)
}

// Summary is the decision-level reading of a state for one version, the
// same cases as `kong migrations list` (kong-facts §3.4) but taken from
// the data, not from an exit code.
type Summary struct {
	NeedsBootstrap bool
	New            map[string][]string // subsystem → migrations not yet run ("up" would run them)
	Pending        map[string][]string // recorded pending ("finish" would run them)
	Missing        map[string][]string
	UpToDate       bool // not NeedsBootstrap and nothing New
}

// Summarize classifies the state for version v.
func (s SchemaState) Summarize(v kongrelease.Version) Summary {
	c := s.Classify(v)
	sum := Summary{
		NeedsBootstrap: s.NeedsBootstrap,
		New:            c.Names(kongrelease.StateNew),
		Pending:        c.Names(kongrelease.StatePending),
		Missing:        c.Names(kongrelease.StateMissing),
	}
	sum.UpToDate = !s.NeedsBootstrap && len(sum.New) == 0
	return sum
}

// MigrationLock returns the "migrations" row of the locks table, if any:
// a leftover from a runner that died (kong-upgrade-failures §5).
func (s SchemaState) MigrationLock() (Lock, bool) {
	for _, l := range s.Locks {
		if l.Key == "migrations" {
			return l, true
		}
	}
	return Lock{}, false
}

// redactErr keeps a parse error from echoing a DSN (pgx's parse errors may
// quote it).
func redactErr(err error) string {
	_ = err
	return "invalid connection string"
}
