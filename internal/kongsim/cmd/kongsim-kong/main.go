// Command kong is kongsim's stand-in for Kong Gateway's `kong` CLI. It
// implements `kong migrations bootstrap|up|finish|list|reset|status` and
// `kong version` against real PostgreSQL, with Kong's output and exit codes
// (internal/kongsim/internal/migrations does the work).
//
// A real Kong binary knows its version; this one must be told, with
// KONG_VERSION (e.g. "3.6.1" or "3.10.0.2") or --kong-version. The database
// comes from Kong's environment variables: KONG_PG_HOST (127.0.0.1),
// KONG_PG_PORT (5432), KONG_PG_DATABASE (kong), KONG_PG_USER (kong),
// KONG_PG_PASSWORD, KONG_PG_SSL (off), KONG_PG_SSL_REQUIRED (off),
// KONG_PG_SSL_VERIFY (off), KONG_LUA_SSL_TRUSTED_CERTIFICATE, KONG_PG_SSL_CERT,
// KONG_PG_SSL_CERT_KEY, KONG_PG_TIMEOUT (ms, 5000).
//
// Field failures on demand (see internal/kongsim/fidelity/migrations.md):
//
//	KONGSIM_SLOW_MIGRATION=name:duration[,name:duration]  server-side delay inside a step
//	KONGSIM_KILL_AFTER_COMMIT=name   SIGKILL self after the step commits, before schema_meta records it
//	KONGSIM_CLIENT_TIMEOUT=name      the step commits, then Kong's client timeout error, exit 1
//
// A name is a migration name or "subsystem/name".
package main

import (
	"os"

	"github.com/upshift-dev/upshift/internal/kongsim/kongcli"
)

func main() { os.Exit(kongcli.Main(os.Args[1:])) }
