// Command kong is kongsim's stand-in for Kong Gateway's `kong` CLI. It
// implements `kong migrations bootstrap|up|finish|list|reset|status` and
// `kong version` against real PostgreSQL, with Kong's output and exit codes
// (kongsim/internal/migrations does the work).
//
// A real Kong binary knows its version; this one must be told, with
// KONG_VERSION (e.g. "3.6.1" or "3.10.0.2") or --kong-version. The database
// comes from Kong's environment variables: KONG_PG_HOST (127.0.0.1),
// KONG_PG_PORT (5432), KONG_PG_DATABASE (kong), KONG_PG_USER (kong),
// KONG_PG_PASSWORD, KONG_PG_SSL (off), KONG_PG_TIMEOUT (ms, 5000).
//
// Field failures on demand (see kongsim/fidelity/migrations.md):
//
//	KONGSIM_SLOW_MIGRATION=name:duration[,name:duration]  server-side delay inside a step
//	KONGSIM_KILL_AFTER_COMMIT=name   SIGKILL self after the step commits, before schema_meta records it
//	KONGSIM_CLIENT_TIMEOUT=name      the step commits, then Kong's client timeout error, exit 1
//
// A name is a migration name or "subsystem/name".
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/upshift-dev/upshift/kongsim/internal/migrations"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, stdinIsTTY(), os.Stdout, os.Stderr, killSelf)
	stop()
	os.Exit(code)
}

// killSelf ends the process as SIGKILL would end a real runner: no
// deferred cleanup, no lock removal.
func killSelf() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// run is the whole CLI; main only wires the process to it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, isTTY bool, stdout, stderr io.Writer, kill func()) int {
	inv, err := parseArgs(args, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %s\n\n  Run with --v (verbose) or --vv (debug) for more details\n", err)
		return 1
	}
	switch inv.command {
	case "version":
		fmt.Fprintln(stdout, inv.version)
		return 0
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	opts := inv.opts
	opts.Stdout, opts.Stderr, opts.Stdin, opts.IsTTY, opts.Kill = stdout, stderr, stdin, isTTY, kill
	connect, database, err := connector(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "Error: %s\n\n  Run with --v (verbose) or --vv (debug) for more details\n", err)
		return 1
	}
	opts.Database = database
	return migrations.New(connect, opts).Run(ctx, inv.subcommand)
}
