// Command upshift is the Upshift CLI: `upshift <command> [flags] [args]`.
//
// Commands today: lint, fmt, version, help. Each lives in its own file
// (lint.go, fmt.go, version.go) in three parts, kept apart as in
// Terraform's internal/command (style.md #5):
//
//   - parseXArgs(args) (xOptions, error): flags and arguments only. Flags
//     are the standard library's flag package, one FlagSet per command, so
//     --long and -long both work; flags may follow the paths.
//   - runX(ctx, opts, view) int: does the work and returns the exit code.
//   - a view (views.go) that owns every byte written to stdout/stderr.
//
// Why no cobra: the command set is small and flat, the stdlib FlagSet gives
// the Terraform/Go-style flags the design asks for, and the help texts are
// hand-written anyway; one dependency fewer.
//
// Exit codes, for every command (architecture.md): 0 success/clean; 1
// errors found or the operation failed; 2 usage error (unknown command or
// flag, bad flag value); 3 only for `plan --detailed-exitcode`.
//
// Output: a command's result (lint findings, fmt's file list or diff) goes
// to stdout; usage errors and fmt's syntax diagnostics go to stderr.
//
// Adding a command (plan, apply, preflight, backup, restore, status, agent,
// sandbox, unlock): write its file with parse/run/view, then add its
// *command to the commands table in commands.go. Nothing is registered
// before it exists: an unknown command is a usage error that lists the
// real ones.
//
// Start reading at Main (main.go), then commands.go.
package main
