package migrations

import (
	"strings"

	"github.com/upshift-dev/upshift/internal/kongsim/internal/store"
)

// This file holds the SQL each migration step runs in the emulator, on
// Kong's own tables (contract 1, store/ddl.go):
//   - core steps make the schema changes Kong's make (store.CoreUp,
//     store.CoreTeardown; 000_base stands for 000–015, see ddl.go);
//   - a plugin's steps create and change its tables (store.PluginUp);
//   - rate-limiting 006_350_to_360: up copies the flat redis_* fields into
//     config.redis (keeping the flat ones), teardown removes the flat ones,
//     as K: kong/plugins/rate-limiting/migrations/006_350_to_360.lua does on
//     Kong's plugins.config column.
//
// Every other step runs an empty statement inside its transaction (so the
// bookkeeping, the timing faults and the output are real, the data change
// is not). internal/kongsim/fidelity/migrations.md says so per row.

// upSQL returns the body of a migration's up step (without BEGIN/COMMIT).
func upSQL(subsystem, name string) string {
	switch {
	case subsystem == "core":
		return store.CoreUp(name)
	case subsystem == "rate-limiting" && name == "006_350_to_360":
		return rateLimiting006Up
	}
	return store.PluginUp(subsystem, name)
}

// teardownSQL returns the SQL of a migration's teardown step ("" for a
// no-op teardown).
func teardownSQL(subsystem, name string) string {
	switch {
	case subsystem == "core":
		return store.CoreTeardown(name)
	case subsystem == "rate-limiting" && name == "006_350_to_360":
		return rateLimiting006Teardown
	}
	return ""
}

// redisFields are the flat fields 3.6 moved under config.redis
// (kong-breaking-changes 36-1), with their new names.
var redisFields = []string{"host", "port", "password", "username", "ssl", "ssl_verify", "server_name", "timeout", "database"}

// rateLimiting006Up: config.redis.X = COALESCE(config.redis_X,
// config.redis.X) for each field; a missing plugins table is accepted.
var rateLimiting006Up = func() string {
	var pairs []string
	for _, f := range redisFields {
		pairs = append(pairs, "'"+f+"', COALESCE(config -> 'redis_"+f+"', config #> '{redis,"+f+"}')")
	}
	return `DO $$
BEGIN
  UPDATE plugins
     SET config = config || jsonb_build_object('redis', jsonb_build_object(` + strings.Join(pairs, ", ") + `))
   WHERE name = 'rate-limiting';
EXCEPTION WHEN UNDEFINED_COLUMN OR UNDEFINED_TABLE THEN
  -- accept the existing state, as Kong does
END$$;`
}()

// rateLimiting006Teardown removes the flat redis_* keys from config.
var rateLimiting006Teardown = func() string {
	var minus string
	for _, f := range redisFields {
		minus += " - 'redis_" + f + "'"
	}
	return `DO $$
BEGIN
  UPDATE plugins
     SET config = config` + minus + `
   WHERE name = 'rate-limiting';
EXCEPTION WHEN UNDEFINED_COLUMN OR UNDEFINED_TABLE THEN
  -- accept the existing state, as Kong does
END$$;`
}()
