// Package migrations emulates Kong's database migrations on PostgreSQL:
// the schema_meta and locks tables exactly as Kong creates and writes them
// (K: kong/db/strategies/postgres/connector.lua), the classification of
// schema_meta for a node of a given version (Inspect, built on
// kongrelease.Classify), and the `kong migrations` operations (bootstrap,
// up, finish, list, reset, status) with Kong's output lines and exit codes
// (K: kong/cmd/migrations.lua, kong/cmd/utils/migrations.lua,
// kong/db/init.lua run_migrations).
//
// Start reading at state.go (Inspect, what a node calls at start), then
// run.go (the operations) and schema.go (DDL, record_migration, the lock).
// The `kong` binary in internal/kongsim/cmd/kongsim-kong is a thin CLI over Run.
//
// What it does not do: the SQL of most migrations is a no-op (only core
// 000_base, each plugin's first migration, and rate-limiting 006_350_to_360
// change data; internal/kongsim/fidelity/migrations.md lists each); it knows only the
// open-source subsystems (kongrelease.Migrations); Cassandra is not
// emulated.
package migrations
