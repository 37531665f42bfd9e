package migrations

import (
	"strings"

	"github.com/upshift-dev/upshift/internal/kongsim/internal/store"
)

// This file holds the SQL of each migration's `up` string, which Kong runs
// in one "BEGIN; …; COMMIT;" (K: connector.lua run_up_migration), on
// Kong's own tables (contract 1, store/ddl.go):
//   - core steps make the schema changes Kong's make (store.CoreUp;
//     000_base stands for 000–015, see ddl.go);
//   - a plugin's steps create and change its tables (store.PluginUp);
//   - the 3.6 redis moves (rate-limiting 006_350_to_360,
//     response-ratelimiting 001_350_to_360, acme 003_350_to_360) rewrite
//     plugins.config as those files' `up` do, in the text of the version
//     that runs them: 3.6.x's moves the fields in `up` and has no
//     teardown, 3.7.0's and later keep the old fields until the teardown
//     (kongrelease's catalogue says which: the migration's Teardown flag).
//
// The Lua functions of a migration (up_f, teardown) are in funcs.go; they
// run query by query, outside one transaction. Every other step runs an
// empty statement inside its transaction (bookkeeping, timing faults and
// output are real, and there is no data change to make: fidelity/
// migrations.md says so per file).

// upSQL returns the body of a migration's up step (without BEGIN/COMMIT).
// teardown is the catalogue's flag for the running version: the redis
// moves without one are 3.6.x's files.
func upSQL(subsystem, name string, teardown bool) string {
	switch {
	case subsystem == "core":
		return store.CoreUp(name)
	case subsystem == "rate-limiting" && name == "006_350_to_360",
		subsystem == "response-ratelimiting" && name == "001_350_to_360":
		if !teardown {
			return redisMoveUp36(subsystem)
		}
		return redisMoveUp(subsystem)
	case subsystem == "acme" && name == "003_350_to_360":
		if !teardown {
			return acme003Up36
		}
		return acme003Up
	}
	return store.PluginUp(subsystem, name)
}

// redisMoveUp36: the same files at tags 3.6.0 and 3.6.1 (blob cc697f7c /
// a67fe338), which have no teardown: `up` removes the flat fields and
// replaces config.redis with the nine fields taken from the flat ones
// only (a nested value already there is lost; an absent flat field gives
// a JSON null). `-` binds tighter than `||`, as in the file.
func redisMoveUp36(plugin string) string {
	var minus string
	var pairs []string
	for _, f := range redisFields {
		minus += " - 'redis_" + f + "'"
		pairs = append(pairs, "'"+f+"', config -> 'redis_"+f+"'")
	}
	return `DO $$
BEGIN
  UPDATE plugins
     SET config = config::jsonb` + minus + `
           || jsonb_build_object('redis', jsonb_build_object(` + strings.Join(pairs, ", ") + `))
   WHERE name = '` + plugin + `';
EXCEPTION WHEN UNDEFINED_COLUMN OR UNDEFINED_TABLE THEN
  -- accept the existing state, as Kong does
END$$;`
}

// redisFields are the flat fields 3.6 moved under config.redis
// (kong-breaking-changes 36-1), with their new names.
var redisFields = []string{"host", "port", "password", "username", "ssl", "ssl_verify", "server_name", "timeout", "database"}

// redisMoveUp: K: kong/plugins/rate-limiting/migrations/006_350_to_360.lua
// and response-ratelimiting/migrations/001_350_to_360.lua up, as of 3.7.0
// (the files' "reentrant" version, also at HEAD): config.redis is replaced
// by an object of the nine fields, each COALESCE(config.redis_X,
// config.redis.X) (a JSON null when both are absent); the flat fields
// stay until the teardown. A missing plugins table is accepted.
func redisMoveUp(plugin string) string {
	var pairs []string
	for _, f := range redisFields {
		pairs = append(pairs, "'"+f+"', COALESCE(config -> 'redis_"+f+"', config #> '{redis,"+f+"}')")
	}
	return `DO $$
BEGIN
  UPDATE plugins
     SET config = config::jsonb || jsonb_build_object('redis', jsonb_build_object(` + strings.Join(pairs, ", ") + `))
   WHERE name = '` + plugin + `';
EXCEPTION WHEN UNDEFINED_COLUMN OR UNDEFINED_TABLE THEN
  -- accept the existing state, as Kong does
END$$;`
}

// redisMoveTeardown: the same files' teardown (one query): the flat
// redis_* keys are removed from config.
func redisMoveTeardown(plugin string) string {
	var minus string
	for _, f := range redisFields {
		minus += " - 'redis_" + f + "'"
	}
	return `DO $$
BEGIN
  UPDATE plugins
     SET config = config::jsonb` + minus + `
   WHERE name = '` + plugin + `';
EXCEPTION WHEN UNDEFINED_COLUMN OR UNDEFINED_TABLE THEN
  -- accept the existing state, as Kong does
END$$;`
}

// acme003Up: K: kong/plugins/acme/migrations/003_350_to_360.lua up (3.7.0
// and HEAD): storage_config.redis gets password (from auth), server_name
// (from ssl_server_name) and extra_options {scan_count, namespace}, each
// COALESCE(old name, new name); the old keys stay until the teardown.
// Kong's expression is kept as it is: jsonb_set is strict, so a config
// without storage_config.redis would become NULL, in Kong as here (Kong
// stores the schema's defaults, so the record is always there).
const acme003Up = `DO $$
BEGIN
  UPDATE plugins
     SET config = jsonb_set(config, '{storage_config,redis}',
           config #> '{storage_config, redis}'
           || jsonb_build_object(
                'password', COALESCE(config #> '{storage_config, redis, auth}', config #> '{storage_config, redis, password}'),
                'server_name', COALESCE(config #> '{storage_config, redis, ssl_server_name}', config #> '{storage_config, redis, server_name}'),
                'extra_options', jsonb_build_object(
                  'scan_count', COALESCE(config #> '{storage_config, redis, scan_count}', config #> '{storage_config, redis, extra_options, scan_count}'),
                  'namespace', COALESCE(config #> '{storage_config, redis, namespace}', config #> '{storage_config, redis, extra_options, namespace}'))))
   WHERE name = 'acme';
EXCEPTION WHEN UNDEFINED_COLUMN OR UNDEFINED_TABLE THEN
  -- accept the existing state, as Kong does
END$$;`

// acme003Up36: the same file at tags 3.6.0 and 3.6.1 (blob 084f7721, no
// teardown): storage_config.redis is replaced by the nine fields of the
// redis record (password from auth, server_name from ssl_server_name,
// the others by their own name; an absent one is a JSON null) and
// extra_options {scan_count, namespace}; every other key of it goes.
const acme003Up36 = `DO $$
BEGIN
  UPDATE plugins
     SET config = config #- '{storage_config,redis}'
           || jsonb_build_object('storage_config', (config -> 'storage_config') - 'redis'
                || jsonb_build_object('redis', jsonb_build_object(
                     'host', config #> '{storage_config, redis, host}',
                     'port', config #> '{storage_config, redis, port}',
                     'password', config #> '{storage_config, redis, auth}',
                     'username', config #> '{storage_config, redis, username}',
                     'ssl', config #> '{storage_config, redis, ssl}',
                     'ssl_verify', config #> '{storage_config, redis, ssl_verify}',
                     'server_name', config #> '{storage_config, redis, ssl_server_name}',
                     'timeout', config #> '{storage_config, redis, timeout}',
                     'database', config #> '{storage_config, redis, database}')
                   || jsonb_build_object('extra_options', jsonb_build_object(
                     'scan_count', config #> '{storage_config, redis, scan_count}',
                     'namespace', config #> '{storage_config, redis, namespace}'))))
   WHERE name = 'acme';
EXCEPTION WHEN UNDEFINED_COLUMN OR UNDEFINED_TABLE THEN
  -- accept the existing state, as Kong does
END$$;`

// acme003Teardown: the same file's teardown: the old keys go.
const acme003Teardown = `DO $$
BEGIN
  UPDATE plugins
     SET config = config
           #- '{storage_config,redis,auth}'
           #- '{storage_config,redis,ssl_server_name}'
           #- '{storage_config,redis,scan_count}'
           #- '{storage_config,redis,namespace}'
   WHERE name = 'acme';
EXCEPTION WHEN UNDEFINED_COLUMN OR UNDEFINED_TABLE THEN
  -- accept the existing state, as Kong does
END$$;`
