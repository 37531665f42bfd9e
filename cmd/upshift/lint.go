package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"

	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
	"github.com/upshift-dev/upshift/schema/render"
)

const lintUsage = `Usage: upshift lint [flags] [PATH...]

Parses the plan files at each PATH (a file, or a directory searched
recursively for *.upshift.hcl; default "."; "-" reads one plan file from
standard input) and checks them with every lint rule. Findings go to
stdout. Secrets written in a plan are shown as *** wherever a source line
or a message would show them.

Flags:
  --format FORMAT  text (default), json, github (workflow-command
                   annotations), sarif (SARIF 2.1.0)
  --strict         warnings fail too (exit 1); info findings never fail
  --strict-env     every env("NAME") must be set in this environment (UP027)
  --check-format   also report each file that is not in the canonical layout
                   of 'upshift fmt' (an error, rule FMT): lint and
                   'fmt --check' in one pass
  --no-color       no colours in text output (also: NO_COLOR set, or stdout
                   not a terminal)
  --deck FILE      instead of plans, check a decK file (YAML or JSON) with
                   the preflight rules (PF30-1...: docs/preflight.md) of every
                   hop from --from to --to; it sees what only a source file
                   shows (acl whitelist, omitted defaults). Formats: text,
                   json, github
  --from VERSION   with --deck: the Kong version the file runs on now
  --to VERSION     with --deck: the Kong version to upgrade to

In github and sarif output, paths are relative to the repository root:
$GITHUB_WORKSPACE when set, else the working directory.

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
		if opts.Deck != "" {
			return runLintDeck(opts, s)
		}
		color := !opts.NoColor && colorAllowed(s.Out)
		return runLint(ctx, opts, s.In, newLintView(opts.Format, s.Out, s.Err, color))
	},
}

// lintOptions is `upshift lint`'s parsed command line.
type lintOptions struct {
	Paths       []string // "-" is standard input
	Format      render.Format
	Strict      bool
	StrictEnv   bool
	CheckFormat bool
	NoColor     bool
	// Deck, From, To: lint --deck FILE --from V --to V (lint_deck.go).
	Deck, From, To string
}

func parseLintArgs(args []string) (lintOptions, error) {
	var o lintOptions
	fs := newFlagSet("lint")
	format := fs.String("format", string(render.Text), "")
	fs.BoolVar(&o.Strict, "strict", false, "")
	fs.BoolVar(&o.StrictEnv, "strict-env", false, "")
	fs.BoolVar(&o.CheckFormat, "check-format", false, "")
	fs.BoolVar(&o.NoColor, "no-color", false, "")
	fs.StringVar(&o.Deck, "deck", "", "")
	fs.StringVar(&o.From, "from", "", "")
	fs.StringVar(&o.To, "to", "", "")
	paths, err := parseFlags(fs, args)
	if err != nil {
		return o, err
	}
	if o.Format, err = render.ParseFormat(*format); err != nil {
		return o, usageErrorf("--format: %v", err)
	}
	if err := checkDeckArgs(o, paths); err != nil {
		return o, err
	}
	for _, p := range paths {
		if strings.TrimSpace(p) == "" {
			return o, usageErrorf("an empty path")
		}
		if p == "-" && len(paths) > 1 {
			return o, usageErrorf(`"-" (standard input) cannot be combined with other paths`)
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
func runLint(ctx context.Context, opts lintOptions, stdin io.Reader, view lintView) int {
	p := plan.NewParser()
	if opts.CheckFormat {
		// Checked as each file is read, in the parser's workers: one pass.
		p.CheckSource = func(name string, src []byte) hcl.Diagnostics {
			if d := formatFinding(name, src); d != nil {
				return hcl.Diagnostics{d}
			}
			return nil
		}
	}
	var set *plan.Set
	var diags hcl.Diagnostics
	if len(opts.Paths) == 1 && opts.Paths[0] == "-" {
		set, diags = loadStdin(p, stdin)
	} else {
		set, diags = p.LoadPaths(opts.Paths...)
	}
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

// loadStdin parses standard input as the plan file "<stdin>" (file()
// paths are then relative to the working directory), with the bounds of a
// file.
func loadStdin(p *plan.Parser, stdin io.Reader) (*plan.Set, hcl.Diagnostics) {
	set := &plan.Set{Files: []string{stdinName}}
	src, err := io.ReadAll(io.LimitReader(stdin, plan.MaxFileSize+1))
	if err != nil {
		return set, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read plan file",
			Detail:   fmt.Sprintf("read standard input: %v.", err),
			Subject:  &hcl.Range{Filename: stdinName, Start: hcl.InitialPos, End: hcl.InitialPos},
		}}
	}
	plans, diags := p.LoadSource(stdinName, src)
	set.Plans = plans
	if p.CheckSource != nil && !diags.HasErrors() {
		diags = append(diags, p.CheckSource(stdinName, src)...)
	}
	return set, diags
}

// formatFinding is the --check-format error for one file, or nil when src
// is canonical: an error of rule render.FormatRuleID at the first line
// that differs. Files with errors are left to those errors.
func formatFinding(name string, src []byte) *hcl.Diagnostic {
	want := canonical(src)
	if bytes.Equal(src, want) {
		return nil
	}
	// The first line that differs, for the annotation's position.
	line, start := 1, 0
	for i := 0; i < len(src) && i < len(want) && src[i] == want[i]; i++ {
		if src[i] == '\n' {
			line, start = line+1, i+1
		}
	}
	end := len(src)
	if j := bytes.IndexByte(src[start:], '\n'); j >= 0 {
		end = start + j
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  render.FormatRule.Summary,
		Detail:   fmt.Sprintf("The layout differs from line %d on. Run: upshift fmt %s (upshift fmt --diff shows the change).", line, name),
		Subject: &hcl.Range{Filename: name,
			Start: hcl.Pos{Line: line, Column: 1, Byte: start},
			End:   hcl.Pos{Line: line, Column: 1 + utf8.RuneCount(src[start:end]), Byte: end}},
		Extra: &schema.Finding{Rule: render.FormatRule, Severity: schema.SeverityError},
	}
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
