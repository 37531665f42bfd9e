package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
	"github.com/upshift-dev/upshift/schema/render"
)

const lintUsage = `Usage: upshift lint [flags] [PATH...]

Parses the plan files at each PATH (a file, or a directory searched
recursively for *.upshift.hcl; default ".") and checks them with every lint
rule. Findings go to stdout.

Flags:
  --format FORMAT  text (default), json, github (workflow-command
                   annotations), sarif (SARIF 2.1.0)
  --strict         warnings fail too (exit 1); info findings never fail
  --strict-env     every env("NAME") must be set in this environment (UP027)
  --no-color       no colours in text output (also: NO_COLOR set, or stdout
                   not a terminal)

Exit codes: 0 no errors (and, with --strict, no warnings); 1 errors found,
or warnings with --strict, or a path that cannot be read; 2 usage error.
`

var lintCommand = &command{
	Name:     "lint",
	Synopsis: "Check plan files: syntax, structure and the lint rules (UP001...)",
	Usage:    lintUsage,
	Run: func(ctx context.Context, args []string, s *streams) int {
		opts, err := parseLintArgs(args)
		if err != nil {
			return handleParseError("lint", lintUsage, err, s)
		}
		color := !opts.NoColor && colorAllowed(s.Out)
		return runLint(ctx, opts, newLintView(opts.Format, s.Out, s.Err, color))
	},
}

// lintOptions is `upshift lint`'s parsed command line.
type lintOptions struct {
	Paths     []string
	Format    render.Format
	Strict    bool
	StrictEnv bool
	NoColor   bool
}

func parseLintArgs(args []string) (lintOptions, error) {
	var o lintOptions
	fs := newFlagSet("lint")
	format := fs.String("format", string(render.Text), "")
	fs.BoolVar(&o.Strict, "strict", false, "")
	fs.BoolVar(&o.StrictEnv, "strict-env", false, "")
	fs.BoolVar(&o.NoColor, "no-color", false, "")
	paths, err := parseFlags(fs, args)
	if err != nil {
		return o, err
	}
	if o.Format, err = render.ParseFormat(*format); err != nil {
		return o, usageErrorf("--format: %v", err)
	}
	for _, p := range paths {
		if strings.TrimSpace(p) == "" {
			return o, usageErrorf("an empty path")
		}
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	o.Paths = paths
	return o, nil
}

// runLint parses and lints opts.Paths and shows every diagnostic through
// view. Unreadable paths are diagnostics (errors) like any other.
func runLint(ctx context.Context, opts lintOptions, view lintView) int {
	p := plan.NewParser()
	set, diags := p.LoadPaths(opts.Paths...)
	diags = append(diags, schema.Lint(set, schema.Options{StrictEnv: opts.StrictEnv})...)
	sortByPosition(diags)
	if err := view.Diagnostics(diags, p.Files()); err != nil {
		view.Error(fmt.Errorf("write findings: %w", err))
		return exitFail
	}
	c := render.Count(diags)
	view.Summary(c, len(set.Files))
	if c.Errors > 0 || (opts.Strict && c.Warnings > 0) {
		return exitFail
	}
	return exitOK
}

// colorAllowed reports whether w is a terminal and NO_COLOR is unset
// (https://no-color.org: any non-empty value).
func colorAllowed(w any) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// sortByPosition orders diags by file, then position (stable: equal
// positions keep the parser-then-linter order); diagnostics without a
// range come first.
func sortByPosition(diags hcl.Diagnostics) {
	slices.SortStableFunc(diags, func(a, b *hcl.Diagnostic) int {
		ra, rb := a.Subject, b.Subject
		switch {
		case ra == nil && rb == nil:
			return 0
		case ra == nil:
			return -1
		case rb == nil:
			return 1
		}
		if c := cmp.Compare(ra.Filename, rb.Filename); c != 0 {
			return c
		}
		return cmp.Compare(ra.Start.Byte, rb.Start.Byte)
	})
}
