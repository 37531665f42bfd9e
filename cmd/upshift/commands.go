package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// command is one `upshift` subcommand.
type command struct {
	Name     string
	Synopsis string // one line for `upshift help`
	Usage    string // the full text of `upshift help NAME` and `NAME -h`
	// Run parses args (everything after the command name) and runs the
	// command; it returns the exit code.
	Run func(ctx context.Context, args []string, s *streams) int
}

// commands is every command, in the order `upshift help` lists them. The
// ones architecture.md plans (plan, apply, preflight, status, agent,
// sandbox) are added here when they exist.
func commands() []*command {
	return []*command{lintCommand, fmtCommand, planCommand, applyCommand, backupCommand, restoreCommand, agentCommand, statusCommand, sandboxCommand, unlockCommand, versionCommand, preflightCommand,
		approveCommand, pauseCommand, resumeCommand, abortCommand,
		pathCommand}
}

func lookup(name string) *command {
	for _, c := range commands() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func topUsage() string {
	var b strings.Builder
	b.WriteString("Usage: upshift <command> [flags] [args]\n\nUpshift upgrades Kong Gateway clusters from plans kept in Git.\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-8s %s\n", c.Name, c.Synopsis)
	}
	b.WriteString("\nRun 'upshift help <command>' or 'upshift <command> -h' for a command's flags.\n" +
		"Exit codes: 0 success, 1 errors found or operation failed, 2 usage error.\n")
	return b.String()
}

// errUsage marks a usage error (exit 2); errHelp asks for the usage text
// (exit 0).
var errHelp = errors.New("help requested")

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// newFlagSet returns a FlagSet that reports nothing itself: parseFlags
// turns its errors into usage errors.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if flagSetMade != nil {
		flagSetMade(fs)
	}
	return fs
}

// flagSetMade, set by a test, sees each command's flags (README's command
// list must name every one: readme_test.go).
var flagSetMade func(*flag.FlagSet)

// parseFlags parses args with fs, allowing flags after positional
// arguments (`upshift lint plans/ --strict`); "--" ends the flags. It
// returns the positional arguments, errHelp for -h/--help, or a
// *usageError.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, &usageError{err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// fs.Parse consumed a "--" if it stopped there: everything left is positional.
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// handleParseError prints a parse error for the command name and returns the exit
// code: 0 for -h (usage on stdout), 2 otherwise (error on stderr).
func handleParseError(name, usage string, err error, s *streams) int {
	if errors.Is(err, errHelp) {
		fmt.Fprint(s.Out, usage)
		return exitOK
	}
	fmt.Fprintf(s.Err, "upshift %s: %v\nRun 'upshift %s -h' for usage.\n", name, err, name)
	return exitUsage
}
