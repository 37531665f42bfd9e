package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PGStore is the Store for agents that share one PostgreSQL database (HA:
// several agents, one journal). Two tables, created idempotently by
// NewPGStore:
//
//	upshift_leases   one row per plan: holder, token, expires_at, and who
//	                 broke the last lease; the row is never deleted, so
//	                 tokens only grow
//	upshift_journal  (plan, seq) primary key, kind, token, recorded_at and
//	                 the whole record as jsonb
//
// Every write is one transaction that first locks the plan's lease row
// (SELECT ... FOR UPDATE): appends to one plan are serialised by that lock
// (the next seq is max(seq)+1 under it, and the primary key would refuse a
// duplicate anyway), and the fencing check sees the lease exactly as it is
// when the record commits. Lease expiry is judged by the database's now(),
// never by the client's clock.
//
// The store needs a direct connection or a session-mode pooler; the
// agent's leader election (session advisory lock) is separate and is not
// done here.
type PGStore struct {
	pool *pgxpool.Pool
	own  bool
}

var _ Store = (*PGStore)(nil)

// pgSchema creates the tables; it runs under a transaction-scoped advisory
// lock because concurrent CREATE TABLE IF NOT EXISTS can still collide.
const pgSchema = `
create table if not exists upshift_leases (
	plan          text primary key,
	holder        text,
	token         bigint not null default 0,
	expires_at    timestamptz,
	acquired_at   timestamptz,
	broken_by     text,
	broken_reason text
);
create table if not exists upshift_journal (
	plan        text not null,
	seq         bigint not null,
	kind        text not null,
	token       bigint not null default 0,
	recorded_at timestamptz not null,
	record      jsonb not null,
	primary key (plan, seq)
);
alter table upshift_leases add column if not exists holder_proc jsonb;`

// pgSchemaLock is the advisory lock key for schema creation ("upshift" + 1).
const pgSchemaLock int64 = 0x7570736869667401

// OpenPostgres connects to dsn (a URL or key=value string; keep the
// password out of it and in PGPASSWORD or a pgpass file) and prepares the
// tables. The store owns the pool and closes it in Close.
func OpenPostgres(ctx context.Context, dsn string) (*PGStore, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("journal database: cannot parse the connection string") // pgx's message may quote it
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "upshift-journal"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("journal database: %w", err)
	}
	s, err := NewPGStore(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.own = true
	return s, nil
}

// NewPGStore uses pool (which the caller keeps and closes) and creates the
// tables if they are missing.
func NewPGStore(ctx context.Context, pool *pgxpool.Pool) (*PGStore, error) {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "select pg_advisory_xact_lock($1)", pgSchemaLock); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, pgSchema)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("journal database: create tables: %w", err)
	}
	return &PGStore{pool: pool}, nil
}

// Close closes the pool if the store opened it.
func (s *PGStore) Close() error {
	if s.own {
		s.pool.Close()
	}
	return nil
}

// pgLeaseRow is a plan's lease row, read under FOR UPDATE or not.
type pgLeaseRow struct {
	holder, brokenBy, reason *string
	token                    int64
	expires                  *time.Time
	live                     bool
	now                      time.Time
	proc                     *procID // the holding process (lease_proc.go)
}

func (r pgLeaseRow) state(plan string) LeaseState {
	st := LeaseState{Plan: plan, Token: r.token, Live: r.live}
	if r.holder != nil {
		st.Holder = *r.holder
	}
	if r.expires != nil {
		st.Expires = r.expires.UTC()
	}
	if r.brokenBy != nil {
		st.BrokenBy = *r.brokenBy
	}
	if r.reason != nil {
		st.Reason = *r.reason
	}
	return st
}

const pgLeaseCols = `holder, token, expires_at, coalesce(holder is not null and expires_at > now(), false), broken_by, broken_reason, now(), holder_proc`

func scanLease(row pgx.Row) (pgLeaseRow, error) {
	var r pgLeaseRow
	err := row.Scan(&r.holder, &r.token, &r.expires, &r.live, &r.brokenBy, &r.reason, &r.now, &r.proc)
	return r, err
}

// lockLease creates the plan's lease row if needed and locks it for the
// rest of tx.
func lockLease(ctx context.Context, tx pgx.Tx, plan string) (pgLeaseRow, error) {
	if _, err := tx.Exec(ctx, `insert into upshift_leases (plan) values ($1) on conflict do nothing`, plan); err != nil {
		return pgLeaseRow{}, fmt.Errorf("lease row: %w", err)
	}
	r, err := scanLease(tx.QueryRow(ctx, `select `+pgLeaseCols+` from upshift_leases where plan = $1 for update`, plan))
	if err != nil {
		return r, fmt.Errorf("lock lease row: %w", err)
	}
	return r, nil
}

// Append implements Store.
func (s *PGStore) Append(ctx context.Context, rec Record) (Record, error) {
	if err := checkRecord(&rec); err != nil {
		return Record{}, err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		l, err := lockLease(ctx, tx, rec.Plan)
		if err != nil {
			return err
		}
		if err := fence(&rec, l.token, l.live); err != nil {
			return err
		}
		return insertRecord(ctx, tx, &rec, l.now)
	})
	if err != nil {
		return Record{}, fmt.Errorf("append %s to journal of plan %q: %w", rec.Kind, rec.Plan, err)
	}
	return rec, nil
}

// insertRecord gives rec the next seq; the caller holds the lease row lock.
func insertRecord(ctx context.Context, tx pgx.Tx, rec *Record, now time.Time) error {
	if err := tx.QueryRow(ctx, `select coalesce(max(seq), 0) + 1 from upshift_journal where plan = $1`, rec.Plan).Scan(&rec.Seq); err != nil {
		return fmt.Errorf("next seq: %w", err)
	}
	if rec.Time.IsZero() {
		rec.Time = now
	}
	rec.Time = rec.Time.UTC()
	js, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode record: %w", err)
	}
	_, err = tx.Exec(ctx, `insert into upshift_journal (plan, seq, kind, token, recorded_at, record) values ($1, $2, $3, $4, $5, $6)`,
		rec.Plan, rec.Seq, string(rec.Kind), rec.Token, rec.Time, js)
	if err != nil {
		return fmt.Errorf("insert record: %w", err)
	}
	return nil
}

// Records implements Store.
func (s *PGStore) Records(ctx context.Context, plan string, since int64) ([]Record, error) {
	if err := validPlanName(plan); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `select record from upshift_journal where plan = $1 and seq > $2 order by seq`, plan, since)
	if err != nil {
		return nil, fmt.Errorf("read journal of plan %q: %w", plan, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) {
		var js []byte
		var r Record
		if err := row.Scan(&js); err != nil {
			return r, err
		}
		if err := json.Unmarshal(js, &r); err != nil {
			return r, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		return r, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read journal of plan %q: %w", plan, err)
	}
	return out, nil
}

// Plans implements Store.
func (s *PGStore) Plans(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `select plan from upshift_leases union select distinct plan from upshift_journal order by 1`)
	if err != nil {
		return nil, fmt.Errorf("list plans: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list plans: %w", err)
	}
	return out, nil
}
