package migrations

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The SQL in this file is what Kong's PostgreSQL connector sends for the
// migration bookkeeping (K: kong/db/strategies/postgres/connector.lua
// schema_bootstrap, setup_locks, insert_lock, read_lock, remove_lock,
// record_migration, reset_schema), written for pgx.

// schemaMetaDDL creates schema_meta exactly as Kong does (kong-facts §3.1).
const schemaMetaDDL = `CREATE TABLE IF NOT EXISTS schema_meta (
  key            TEXT,
  subsystem      TEXT,
  last_executed  TEXT,
  executed       TEXT[],
  pending        TEXT[],

  PRIMARY KEY (key, subsystem)
);`

// locksDDL creates locks and its index exactly as Kong's setup_locks does.
const locksDDL = `BEGIN;
  CREATE TABLE IF NOT EXISTS locks (
    key    TEXT PRIMARY KEY,
    owner  TEXT,
    ttl    TIMESTAMP WITH TIME ZONE
  );
  CREATE INDEX IF NOT EXISTS locks_ttl_idx ON locks (ttl);
COMMIT;`

// SchemaMetaDDL and LocksDDL are exported for tests and tools that must
// create Kong's bookkeeping tables without running a bootstrap.
func SchemaMetaDDL() string { return schemaMetaDDL }

// LocksDDL: see SchemaMetaDDL.
func LocksDDL() string { return locksDDL }

// execSimple sends sql as one simple-protocol query (several statements
// allowed), as pgmoon does, and waits for all results.
func execSimple(ctx context.Context, conn *pgx.Conn, sql string) error {
	_, err := conn.PgConn().Exec(ctx, sql).ReadAll()
	return err
}

// schemaBootstrap creates schema_meta and locks (Kong's schema_bootstrap;
// the schema itself is the connection's current one).
func schemaBootstrap(ctx context.Context, conn *pgx.Conn) error {
	if err := execSimple(ctx, conn, schemaMetaDDL); err != nil {
		return fmt.Errorf("create schema_meta: %w", err)
	}
	if err := execSimple(ctx, conn, locksDDL); err != nil {
		return fmt.Errorf("create locks: %w", err)
	}
	return nil
}

// recordState is record_migration's state argument.
type recordState string

const (
	recordExecuted recordState = "executed"
	recordPending  recordState = "pending"
	recordTeardown recordState = "teardown"
)

// recordMigration writes one step to schema_meta with Kong's upserts:
// executed → last_executed=name, append to executed; pending → append to
// pending (last_executed unchanged); teardown → last_executed=name, append
// to executed, remove from pending. ARRAY_APPEND does not deduplicate: a
// forced re-run (-f) appends the name again, as Kong does.
func recordMigration(ctx context.Context, conn *pgx.Conn, subsystem, name string, st recordState) error {
	var sql string
	switch st {
	case recordExecuted:
		sql = `INSERT INTO schema_meta (key, subsystem, last_executed, executed)
     VALUES ('schema_meta', $1, $2, ARRAY[$2::text])
ON CONFLICT (key, subsystem) DO UPDATE
        SET last_executed = EXCLUDED.last_executed,
            executed = ARRAY_APPEND(COALESCE(schema_meta.executed, ARRAY[]::TEXT[]), $2::text)`
	case recordPending:
		sql = `INSERT INTO schema_meta (key, subsystem, pending)
     VALUES ('schema_meta', $1, ARRAY[$2::text])
ON CONFLICT (key, subsystem) DO UPDATE
        SET pending = ARRAY_APPEND(schema_meta.pending, $2::text)`
	case recordTeardown:
		sql = `INSERT INTO schema_meta (key, subsystem, last_executed, executed)
     VALUES ('schema_meta', $1, $2, ARRAY[$2::text])
ON CONFLICT (key, subsystem) DO UPDATE
        SET last_executed = EXCLUDED.last_executed,
            executed = ARRAY_APPEND(COALESCE(schema_meta.executed, ARRAY[]::TEXT[]), $2::text),
            pending  = ARRAY_REMOVE(COALESCE(schema_meta.pending,  ARRAY[]::TEXT[]), $2::text)`
	default:
		return fmt.Errorf("unknown 'state' argument: %s", st)
	}
	_, err := conn.Exec(ctx, sql, subsystem, name)
	return err
}

// insertLock is Kong's insert_lock: delete expired rows, then insert the
// row for key with ttl = now + ttl, doing nothing on conflict, in one
// transaction. It reports whether this owner got the lock.
func insertLock(ctx context.Context, conn *pgx.Conn, key, owner string, ttl time.Duration) (bool, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `DELETE FROM locks WHERE ttl < CURRENT_TIMESTAMP AT TIME ZONE 'UTC'`); err != nil {
		return false, err
	}
	expiry := float64(time.Now().Add(ttl).UnixMilli()) / 1000
	tag, err := tx.Exec(ctx, `INSERT INTO locks (key, owner, ttl)
       VALUES ($1, $2, TO_TIMESTAMP($3) AT TIME ZONE 'UTC')
  ON CONFLICT DO NOTHING`, key, owner, expiry)
	if err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// readLock is Kong's read_lock: is there an unexpired row for key?
func readLock(ctx context.Context, conn *pgx.Conn, key string) (bool, error) {
	var n int
	err := conn.QueryRow(ctx, `SELECT count(*)
  FROM locks
 WHERE key = $1
   AND ttl >= CURRENT_TIMESTAMP AT TIME ZONE 'UTC'`, key).Scan(&n)
	return n > 0, err
}

// removeLock is Kong's remove_lock: delete the row if this owner holds it.
func removeLock(ctx context.Context, conn *pgx.Conn, key, owner string) error {
	_, err := conn.Exec(ctx, `DELETE FROM locks WHERE key = $1 AND owner = $2`, key, owner)
	return err
}

// resetSchema drops every table of the current schema, which is what
// Kong's reset_schema achieves by dropping and re-creating the schema (it
// falls back to dropping the tables when it may not drop the schema; the
// emulator always takes that path, so the schema's owner and grants stay).
func resetSchema(ctx context.Context, conn *pgx.Conn) error {
	rows, err := conn.Query(ctx, `SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	sql := "BEGIN;\nDROP TABLE IF EXISTS "
	for i, n := range names {
		if i > 0 {
			sql += ", "
		}
		sql += n
	}
	sql += " CASCADE;\nCOMMIT;"
	return execSimple(ctx, conn, sql)
}
