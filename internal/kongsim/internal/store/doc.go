// Package store keeps the Kong entities of a kongsim node: in PostgreSQL in
// DB mode (tables as Kong names them, see ddl.go, contract 1 with the
// migrations package) and in memory in DB-less mode. It validates entities
// against Kong's schemas, fills defaults, and reports errors in Kong's error
// object shape (kong/db/errors.lua), so the Admin API layer above only
// translates HTTP to store calls.
//
// It does not run migrations, record schema_meta, or validate plugin
// configs itself (that is the plugins package). Start reading at ddl.go,
// then schema.go (entity definitions) and store.go (the Store interface).
package store
