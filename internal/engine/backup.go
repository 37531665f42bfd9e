package engine

import (
	"context"

	"github.com/upshift-dev/upshift/internal/backup"
)

// Backups is what the engine needs of a plan's backups; *backup.Driver
// implements it. Checking (Latest, Fingerprint) is split from acting
// (Backup, Restore).
//
// An upgrade proceeds only on a backup whose Manifest.Usable() is nil
// (a test restore succeeded, or a declarative backup passed
// backup.VerifyDeclarative); the manifest's Fingerprint is what the drift
// guard compares Fingerprint against before every traffic step and point of
// no return.
type Backups interface {
	// Backup takes, verifies and prunes. Not idempotent (each call is a new
	// backup); cancellation stops pg_dump/pg_restore and leaves no archive.
	// A failed verification is not an error: the manifest says so.
	Backup(ctx context.Context) (*backup.Manifest, error)
	// Latest is the newest backup of the plan, nil when none. Read-only.
	Latest(ctx context.Context) (*backup.Manifest, error)
	// Fingerprint of the live configuration (one SQL query in DB mode,
	// GET /config DB-less). Read-only, safe to repeat.
	Fingerprint(ctx context.Context) (backup.Fingerprint, error)
	// Restore restores m into targetDSN: a new or empty database, a no-op
	// when it already holds m, drop-and-recreate of a database Upshift
	// created; replacing any other database only with allowReplace (the
	// plan's rollback { restore = true }); otherwise *backup.RefusedError.
	// Safe to repeat; an interrupted restore is redone by the next call.
	Restore(ctx context.Context, m *backup.Manifest, targetDSN string, allowReplace bool) (backup.RestoreResult, error)
}
