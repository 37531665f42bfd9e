package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// RefusedError is a restore (or verification) that Upshift will not do,
// with the reason a person needs to decide what to do instead.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "refused: " + e.Reason }

// Restore actions (RestoreResult.Action).
const (
	ActionCreated   = "created" // the database did not exist: created, then restored
	ActionEmpty     = "restored_into_empty"
	ActionUnchanged = "unchanged" // already holds exactly this manifest: nothing done
	ActionRecreated = "recreated" // Upshift's database: dropped, created, restored
	ActionReplaced  = "replaced"  // a database Upshift did not create, replaced (AllowReplace)
)

// RestoreOptions says where to restore a database-level backup.
type RestoreOptions struct {
	Manifest *Manifest
	// TargetDSN names the database to restore into (it may not exist yet).
	TargetDSN string
	// MaintenanceDB is the database used to create and drop the target;
	// default "postgres".
	MaintenanceDB string
	// AllowReplace permits replacing a non-empty database that Upshift did
	// not create (X's, for a rollback after a point of no return). The
	// engine sets it only from the plan's rollback { restore = true }.
	AllowReplace bool
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	Action   string
	Database string
	Node     string // a declarative restore's target (Admin URL without userinfo)
}

// The marker: Upshift records on the database itself (COMMENT ON
// DATABASE) that it created it and which manifest it restored, because the
// engine's journal does not exist yet. Owned means Upshift created the
// database (or was given it empty) and may drop and recreate it; State is
// "restoring" during a restore and "restored" after.
type marker struct {
	Upshift  int    `json:"upshift"` // 1
	Owned    bool   `json:"owned"`
	State    string `json:"state"`
	Manifest string `json:"manifest"` // sha256 of the archive
}

const markerPrefix = "upshift:"

// Restore restores a pg_dump backup, choosing the mode from what the
// target is, explicitly:
//
//   - the database does not exist: create it (marked as Upshift's) and
//     restore;
//   - it exists and is empty: mark it as Upshift's and restore;
//   - it holds exactly this manifest (marker says restored, and its
//     fingerprint equals the manifest's): nothing to do;
//   - Upshift created it (marker): drop, recreate, restore (a half-finished
//     restore is redone this way);
//   - it is not Upshift's and not empty: refused, unless AllowReplace, in
//     which case its public schema is dropped and the backup restored in
//     place (the database, its owner and grants stay).
//
// Anything else is a *RefusedError with the reason. The archive's checksum
// and format version are checked first. Safe to repeat: a repeated restore
// is a no-op, an interrupted one is redone. Cancellation stops pg_restore;
// the marker then says "restoring" and the next call redoes it.
func Restore(ctx context.Context, o RestoreOptions) (RestoreResult, error) {
	m := o.Manifest
	if m == nil || m.Kind != KindPGDump {
		return RestoreResult{}, &RefusedError{Reason: "only database-level (pg_dump) backups restore into a database"}
	}
	if err := checkArchive(ctx, m); err != nil {
		return RestoreResult{}, err
	}
	tc, err := parseConn(o.TargetDSN)
	if err != nil {
		return RestoreResult{}, err
	}
	res := RestoreResult{Database: tc.Database}
	if tc.Database == "" || tc.Database == o.maintenance() {
		return res, &RefusedError{Reason: fmt.Sprintf("target database %q is the maintenance database", tc.Database)}
	}
	admin, err := o.adminConn(ctx)
	if err != nil {
		return res, err
	}
	defer admin.Close(context.WithoutCancel(ctx))

	mk, exists, err := readMarker(ctx, admin, tc.Database)
	if err != nil {
		return res, err
	}
	if !exists {
		res.Action = ActionCreated
		if err := createDatabase(ctx, admin, tc.Database); err != nil {
			return res, err
		}
		return res, restoreInto(ctx, admin, tc, m, true)
	}
	empty, fp, err := inspect(ctx, o.TargetDSN)
	if err != nil {
		return res, err
	}
	switch {
	case mk != nil && mk.State == "restored" && mk.Manifest == m.SHA256 && fp == m.Fingerprint.Hash:
		res.Action = ActionUnchanged
		return res, nil
	case empty:
		res.Action = ActionEmpty
		return res, restoreInto(ctx, admin, tc, m, true)
	case mk != nil && mk.Owned:
		res.Action = ActionRecreated
		if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{tc.Database}.Sanitize()+" WITH (FORCE)"); err != nil {
			return res, fmt.Errorf("drop database %s: %w", tc.Database, err)
		}
		if err := createDatabase(ctx, admin, tc.Database); err != nil {
			return res, err
		}
		return res, restoreInto(ctx, admin, tc, m, true)
	case !o.AllowReplace:
		why := "it was not created by Upshift"
		if mk != nil {
			why = "Upshift restored into it but did not create it"
		}
		return res, &RefusedError{Reason: fmt.Sprintf("database %q is not empty and %s; replacing it needs rollback { restore = true } in the plan", tc.Database, why)}
	default:
		res.Action = ActionReplaced
		t, err := pgx.Connect(ctx, o.TargetDSN)
		if err != nil {
			return res, fmt.Errorf("connect to %s: %w", tc.Database, err)
		}
		_, err = t.Exec(ctx, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
		t.Close(context.WithoutCancel(ctx))
		if err != nil {
			return res, fmt.Errorf("clear database %s: %w", tc.Database, err)
		}
		return res, restoreInto(ctx, admin, tc, m, mk != nil && mk.Owned)
	}
}

func (o RestoreOptions) maintenance() string {
	if o.MaintenanceDB == "" {
		return "postgres"
	}
	return o.MaintenanceDB
}

func (o RestoreOptions) adminConn(ctx context.Context) (*pgx.Conn, error) {
	dsn, err := withDatabase(o.TargetDSN, o.maintenance())
	if err != nil {
		return nil, err
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to maintenance database %s: %w", o.maintenance(), err)
	}
	return c, nil
}

// checkArchive verifies the archive's checksum and that the local
// pg_restore reads its format.
func checkArchive(ctx context.Context, m *Manifest) error {
	_, sum, err := fileDigest(m.ArchivePath())
	if err != nil {
		return fmt.Errorf("backup %s: %w", m.Name, err)
	}
	if sum != m.SHA256 {
		return &RefusedError{Reason: fmt.Sprintf("archive %s has SHA-256 %s, the manifest says %s", m.ArchivePath(), sum, m.SHA256)}
	}
	return CheckRestorable(ctx, m.ArchivePath())
}

func createDatabase(ctx context.Context, admin *pgx.Conn, db string) error {
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", db, err)
	}
	return nil
}

func readMarker(ctx context.Context, admin *pgx.Conn, db string) (*marker, bool, error) {
	var comment *string
	err := admin.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1`, db).Scan(&comment)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("look up database %s: %w", db, err)
	}
	if comment == nil || !strings.HasPrefix(*comment, markerPrefix) {
		return nil, true, nil
	}
	var mk marker
	if err := json.Unmarshal([]byte(strings.TrimPrefix(*comment, markerPrefix)), &mk); err != nil || mk.Upshift != 1 {
		return nil, true, nil
	}
	return &mk, true, nil
}

// RestoreMark is what Upshift's marker on a database says: Owned (Upshift
// created it, or was given it empty), State ("restoring" during a restore,
// "restored" after) and Manifest, the SHA-256 of the archive restored.
type RestoreMark struct {
	Owned           bool
	State, Manifest string
}

// ReadRestoreMark reads the marker of the database q is connected to; ok
// is false when it carries none. Read-only.
func ReadRestoreMark(ctx context.Context, q Querier) (RestoreMark, bool, error) {
	var comment *string
	if err := q.QueryRow(ctx, `SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()`).Scan(&comment); err != nil {
		return RestoreMark{}, false, fmt.Errorf("read the database's marker: %w", err)
	}
	if comment == nil || !strings.HasPrefix(*comment, markerPrefix) {
		return RestoreMark{}, false, nil
	}
	var mk marker
	if err := json.Unmarshal([]byte(strings.TrimPrefix(*comment, markerPrefix)), &mk); err != nil || mk.Upshift != 1 {
		return RestoreMark{}, false, nil
	}
	return RestoreMark{Owned: mk.Owned, State: mk.State, Manifest: mk.Manifest}, true, nil
}

func writeMarker(ctx context.Context, admin *pgx.Conn, db string, mk marker) error {
	mk.Upshift = 1
	b, _ := json.Marshal(mk)
	lit := "'" + strings.ReplaceAll(markerPrefix+string(b), "'", "''") + "'"
	if _, err := admin.Exec(ctx, "COMMENT ON DATABASE "+pgx.Identifier{db}.Sanitize()+" IS "+lit); err != nil {
		return fmt.Errorf("mark database %s: %w", db, err)
	}
	return nil
}

// inspect reports whether the database has no user tables, and its
// fingerprint ("" when empty).
func inspect(ctx context.Context, dsn string) (bool, string, error) {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return false, "", fmt.Errorf("connect to target: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`).Scan(&n); err != nil {
		return false, "", fmt.Errorf("inspect target: %w", err)
	}
	if n == 0 {
		return true, "", nil
	}
	fp, err := FingerprintDB(ctx, c)
	if err != nil {
		return false, "", err
	}
	return false, fp.Hash, nil
}

// restoreInto runs pg_restore into an existing database, with the marker
// saying "restoring" before and "restored" after.
func restoreInto(ctx context.Context, admin *pgx.Conn, tc conn, m *Manifest, owned bool) error {
	if err := writeMarker(ctx, admin, tc.Database, marker{Owned: owned, State: "restoring", Manifest: m.SHA256}); err != nil {
		return err
	}
	if _, err := run(ctx, tc.Env, "pg_restore", "--no-owner", "--no-acl", "--exit-on-error", "-d", tc.Arg, m.ArchivePath()); err != nil {
		return fmt.Errorf("restore %s into %s: %w", m.Name, tc.Database, err)
	}
	return writeMarker(context.WithoutCancel(ctx), admin, tc.Database, marker{Owned: owned, State: "restored", Manifest: m.SHA256})
}
