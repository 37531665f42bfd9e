package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/term"

	"github.com/upshift-dev/upshift/schema/render"
)

// lintView is everything `upshift lint` writes. The text view adds a
// summary line; the machine views (json, github, sarif) write only their
// document, so that it stays parseable.
type lintView interface {
	// Diagnostics writes the findings (all of them, once).
	Diagnostics(diags hcl.Diagnostics, files map[string]*hcl.File) error
	// Summary reports the counts over nFiles plan files.
	Summary(c render.Counts, nFiles int)
	// Error reports a failure of the command itself.
	Error(err error)
}

func newLintView(f render.Format, out, errw io.Writer, color bool) lintView {
	return &renderLintView{format: f, out: out, err: errw, color: color && f == render.Text}
}

type renderLintView struct {
	format   render.Format
	out, err io.Writer
	color    bool
}

func (v *renderLintView) Diagnostics(diags hcl.Diagnostics, files map[string]*hcl.File) error {
	// Annotation and SARIF paths are relative to the repository root,
	// which GitHub Actions names; elsewhere the working directory.
	base := os.Getenv("GITHUB_WORKSPACE")
	if base == "" {
		base, _ = os.Getwd()
	}
	return render.Write(v.out, v.format, diags, render.Options{
		Files:       files,
		Color:       v.color,
		BaseDir:     base,
		ToolVersion: buildVersion().Module,
	})
}

func (v *renderLintView) Summary(c render.Counts, nFiles int) {
	if v.format != render.Text {
		return
	}
	parts := []string{plural(c.Errors, "error", "errors"), plural(c.Warnings, "warning", "warnings")}
	if c.Infos > 0 {
		parts = append(parts, plural(c.Infos, "info", "info"))
	}
	fmt.Fprintf(v.out, "%s in %s\n", strings.Join(parts, ", "), plural(nFiles, "file", "files"))
}

func (v *renderLintView) Error(err error) {
	fmt.Fprintf(v.err, "upshift lint: %v\n", err)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// fmtView is everything `upshift fmt` writes.
type fmtView interface {
	// Changed reports a file whose formatting differs (--list).
	Changed(name string)
	// Diff shows the unified diff of one file (--diff).
	Diff(name string, before, after []byte)
	// Formatted writes a formatted document (stdin mode).
	Formatted(src []byte)
	// Diagnostics reports why files could not be formatted.
	Diagnostics(diags hcl.Diagnostics, files map[string]*hcl.File)
	// Error reports a failure that is not about a file's content.
	Error(err error)
}

type humanFmtView struct {
	out, err io.Writer
	color    bool // stderr's diagnostics
}

func (v *humanFmtView) Changed(name string) { fmt.Fprintln(v.out, filepath.ToSlash(name)) }

func (v *humanFmtView) Diff(name string, before, after []byte) {
	io.WriteString(v.out, unifiedDiff(filepath.ToSlash(name), before, after))
}

func (v *humanFmtView) Formatted(src []byte) { v.out.Write(src) }

func (v *humanFmtView) Diagnostics(diags hcl.Diagnostics, files map[string]*hcl.File) {
	render.Write(v.err, render.Text, diags, render.Options{Files: files, Color: v.color})
}

func (v *humanFmtView) Error(err error) { fmt.Fprintf(v.err, "upshift fmt: %v\n", err) }

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
