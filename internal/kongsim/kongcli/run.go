// Package kongcli is kongsim's `kong` CLI (see internal/kongsim/cmd/kongsim-kong), as a
// package: the kongsim kong binary and `upshift sandbox` (which runs it as
// the plans' to.kong without the Go toolchain) share it.
package kongcli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/upshift-dev/upshift/internal/kongsim/internal/migrations"
)

// Main runs the CLI as a process: os.Args[1:] (or args), the process's
// environment and standard streams, SIGINT/SIGTERM cancelling, and a real
// SIGKILL of itself for KONGSIM_KILL_AFTER_COMMIT. It returns the exit code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, os.Getenv, os.Stdin, stdinIsTTY(), os.Stdout, os.Stderr, killSelf)
}

// killSelf ends the process as SIGKILL would end a real runner: no
// deferred cleanup, no lock removal.
func killSelf() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

// EnvRunLog names a file to which every run appends a line when it starts
// ("start PID ARGS...") and one when it returns ("end PID CODE"): tests
// count how many times a command (migrations finish) ran, including runs
// killed half way (a start without an end).
const EnvRunLog = "KONGSIM_RUN_LOG"

// Run is the whole CLI; Main only wires the process to it.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, isTTY bool, stdout, stderr io.Writer, kill func()) (code int) {
	if path := getenv(EnvRunLog); path != "" {
		if err := appendRunLog(path, fmt.Sprintf("start %d %s", os.Getpid(), strings.Join(args, " "))); err != nil {
			fmt.Fprintf(stderr, "Error: %s: %s\n", EnvRunLog, err)
			return 1
		}
		defer func() {
			if err := appendRunLog(path, fmt.Sprintf("end %d %d", os.Getpid(), code)); err != nil {
				fmt.Fprintf(stderr, "Error: %s: %s\n", EnvRunLog, err)
			}
		}()
	}
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

// appendRunLog appends line to path and syncs it, so that a kill right
// after leaves it in the file.
func appendRunLog(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
