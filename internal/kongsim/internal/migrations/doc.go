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
// Each step runs as Kong's does: the `up` SQL in one transaction
// (steps.go), then the Lua `up_f`, and at `finish` the Lua `teardown`,
// query by query outside one transaction (funcs.go: 016's regex paths and
// target cache keys, the 3.6 redis moves, the plugin config fixups).
//
// What it does not do: migrations whose data change only matters below
// 2.8 (core 000–015, the 2.x plugin teardowns) and the plugin tables
// kongsim does not keep (rate-limiting counters, sessions, acme storage)
// are bookkeeping only; fidelity/migrations.md has a row per file. It
// knows only the open-source subsystems (kongrelease.Migrations); a
// migration whose file changed between versions runs the text of the
// running version where it matters (the 3.6 redis moves: no teardown at
// 3.6.x, pending until finish from 3.7.0); Cassandra is not emulated.
package migrations
