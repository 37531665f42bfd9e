// Package backup makes, verifies and restores backups of a Kong cluster's
// configuration, and defines the configuration fingerprint.
//
// Two kinds of backup:
//
//   - Database-level (DB mode, the primary backup): pg_dump -Fc of Kong's
//     database into the plan's backup directory, with a manifest (plan,
//     commit, Kong version, schema_meta snapshot, fingerprint, size,
//     SHA-256, time, pg_dump and archive-format versions). The manifest's
//     schema_meta and fingerprint come from the very snapshot pg_dump dumps
//     (pg_export_snapshot + --snapshot). With an Admin API, a decK dump is
//     written next to it as a second, application-level backup.
//   - Declarative (DB-less and hybrid data planes): Kong's own GET /config
//     export, which POST /config accepts unchanged.
//
// Start reading at backup.go (Backup), then verify.go (Verify), restore.go
// (Restore and its modes), declarative.go (VerifyDeclarative and
// RestoreDeclarative), fingerprint.go (the fingerprint's definition),
// driver.go (what the engine calls; engine.Backups).
//
// Passwords reach pg_dump and pg_restore only as PGPASSWORD (or the
// user's pgpass file); argv carries the DSN without its password, and no
// error or log line carries it.
//
// What a decK dump does not carry: RBAC roles, users and permissions,
// licenses, workspaces' metadata beyond their entities, the keyring and
// data encryption, event hooks, developer-portal content (Enterprise);
// the database-level backup has everything in the database. What neither
// backup carries: the keyring material held outside the database,
// kong.conf, certificates and keys in the prefix (nginx-kong.conf, TLS
// files), and environment variables (kong-facts §4.4): back those up
// with the hosts' configuration management.
//
// Restore modes are explicit (restore.go): a new or empty database; a
// database already holding exactly this manifest (no-op); drop and
// recreate a database Upshift created; replace a database Upshift did not
// create only with RestoreOptions.AllowReplace (the plan's
// rollback { restore = true }); anything else is a *RefusedError. Until
// the engine's journal exists, "created by Upshift" is recorded on the
// database itself, as a COMMENT ON DATABASE starting "upshift:" (a JSON
// marker with the restored archive's SHA-256 and the restore state).
//
// A declarative backup is verified without a scratch node
// (VerifyDeclarative): decK's own file validation through
// go-database-reconciler, its entity counts, and its fingerprint equal to
// the manifest's and to X's as read at verification time. RestoreDeclarative
// loads one into a DB-less node (POST /config) and reads the node's
// configuration back.
//
// What it does not do: restore into a running Kong's database without the
// caller stopping Kong first, or prove that a declarative backup loads into
// a particular Kong version (only Y's own POST /config does).
package backup
