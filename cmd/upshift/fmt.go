package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/upshift-dev/upshift/plan"
)

const fmtUsage = `Usage: upshift fmt [flags] [PATH...]

Rewrites each plan file in the canonical layout: hclwrite's formatting
(indentation, aligned "="), no leading blank lines, at most one blank line in
a row, one newline at the end. A PATH is a file (formatted whatever its name)
or a directory searched recursively for *.upshift.hcl (default "."); "-"
reads standard input and writes the result to standard output.

A file with a syntax error is reported on stderr and left untouched.
Files are written in place atomically (a temporary file renamed over the
original, keeping its mode).

Flags:
  --check      write nothing; list the files that would change and exit 1
               if there is any
  --diff       print a unified diff of each change
  --list       print the name of each file that changes (default true;
               --list=false to silence)
  --write      write the changes (default true; false with --check)

Exit codes: 0 every file is (now) formatted; 1 a file has a syntax error or
cannot be read or written, or (with --check) a file would change; 2 usage
error.
`

var fmtCommand = &command{
	Name:     "fmt",
	Synopsis: "Rewrite plan files in the canonical layout",
	Usage:    fmtUsage,
	Run: func(ctx context.Context, args []string, s *streams) int {
		opts, err := parseFmtArgs(args)
		if err != nil {
			return handleParseError("fmt", fmtUsage, err, s)
		}
		view := &humanFmtView{out: s.Out, err: s.Err, color: colorAllowed(s.Err)}
		return runFmt(ctx, opts, s.In, view)
	},
}

// fmtOptions is `upshift fmt`'s parsed command line.
type fmtOptions struct {
	Paths []string // "-" is standard input
	Check bool
	Diff  bool
	List  bool
	Write bool
}

func parseFmtArgs(args []string) (fmtOptions, error) {
	o := fmtOptions{List: true, Write: true}
	fs := newFlagSet("fmt")
	fs.BoolVar(&o.Check, "check", false, "")
	fs.BoolVar(&o.Diff, "diff", false, "")
	fs.BoolVar(&o.List, "list", true, "")
	fs.BoolVar(&o.Write, "write", true, "")
	paths, err := parseFlags(fs, args)
	if err != nil {
		return o, err
	}
	if o.Check {
		o.Write = false
	}
	stdin := 0
	for _, p := range paths {
		if p == "" {
			return o, usageErrorf("an empty path")
		}
		if p == "-" {
			stdin++
		}
	}
	if stdin > 0 && len(paths) > 1 {
		return o, usageErrorf(`"-" (standard input) cannot be combined with other paths`)
	}
	if len(paths) == 0 {
		paths = []string{"."}
	}
	o.Paths = paths
	return o, nil
}

// runFmt formats every file opts.Paths names. It goes on past a bad file
// and reports every one. Files are formatted concurrently (one worker per
// CPU); what the view shows comes in the order of the file list.
func runFmt(ctx context.Context, opts fmtOptions, stdin io.Reader, view fmtView) int {
	if len(opts.Paths) == 1 && opts.Paths[0] == "-" {
		return fmtStdin(opts, stdin, view)
	}
	// The same files, and the same errors for what cannot be read, as lint.
	files, found := plan.FindFiles(opts.Paths...)
	code := exitOK
	if len(found) > 0 {
		view.Diagnostics(found, nil)
		if found.HasErrors() {
			code = exitFail
		}
	}
	results := make([]fmtResult, len(files))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(files); i = int(next.Add(1) - 1) {
				if err := ctx.Err(); err != nil {
					results[i] = fmtResult{err: err}
					continue
				}
				results[i] = fmtFile(files[i], opts)
			}
		})
	}
	wg.Wait()
	for i, r := range results {
		switch {
		case r.diags != nil:
			view.Diagnostics(r.diags, map[string]*hcl.File{files[i]: r.file})
			code = exitFail
		case r.err != nil:
			view.Error(r.err)
			code = exitFail
		}
		if !r.changed {
			continue
		}
		if opts.List {
			view.Changed(files[i])
		}
		if opts.Diff {
			view.Diff(files[i], r.before, r.after)
		}
		if opts.Check {
			code = exitFail
		}
	}
	return code
}

// fmtResult is what formatting one file found (and did).
type fmtResult struct {
	changed       bool            // its formatting differed (and, with Write, was rewritten)
	before, after []byte          // kept for --diff only
	diags         hcl.Diagnostics // syntax errors: the file was left alone
	file          *hcl.File       // the parsed file, for the diagnostics' snippets
	err           error           // reading or writing failed
}

// checkSyntax parses src as HCL native syntax; it returns the file (for
// snippets) and the diagnostics when there are errors.
func checkSyntax(name string, src []byte) (*hcl.File, hcl.Diagnostics) {
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		return f, diags
	}
	return f, nil
}

// checkFmtSource applies lint's bounds (size, nesting: hclwrite's output
// grows with the square of the depth) and then the syntax check.
func checkFmtSource(name string, src []byte) (*hcl.File, hcl.Diagnostics) {
	if d := plan.CheckSource(name, src); d != nil {
		return nil, hcl.Diagnostics{d}
	}
	return checkSyntax(name, src)
}

// fmtFile formats one file, writing it back when opts.Write. Safe to call
// concurrently for different files.
func fmtFile(name string, opts fmtOptions) fmtResult {
	src, d := plan.ReadFile(name) // lint's reader: regular files, bounded
	if d != nil {
		return fmtResult{diags: hcl.Diagnostics{d}}
	}
	if f, diags := checkFmtSource(name, src); diags != nil {
		return fmtResult{diags: diags, file: f}
	}
	out := canonical(src)
	if bytes.Equal(src, out) {
		return fmtResult{}
	}
	r := fmtResult{changed: true}
	if opts.Diff {
		r.before, r.after = src, out
	}
	if opts.Write {
		r.err = writeFormatted(name, out)
	}
	return r
}

// fmtStdin formats standard input to standard output (--check: nothing
// written, exit 1 if it would change; --diff: the diff instead).
func fmtStdin(opts fmtOptions, stdin io.Reader, view fmtView) int {
	src, err := io.ReadAll(io.LimitReader(stdin, plan.MaxFileSize+1))
	if err != nil {
		view.Error(fmt.Errorf("read standard input: %w", err))
		return exitFail
	}
	const name = stdinName
	if f, diags := checkFmtSource(name, src); diags != nil {
		view.Diagnostics(diags, map[string]*hcl.File{name: f})
		return exitFail
	}
	out := canonical(src)
	changed := !bytes.Equal(src, out)
	switch {
	case opts.Diff:
		view.Diff(name, src, out)
	case !opts.Check:
		view.Formatted(out)
	}
	if changed && opts.Check {
		return exitFail
	}
	return exitOK
}

// writeFormatted writes out over name, keeping its mode; a symbolic link
// is kept and its target rewritten.
func writeFormatted(name string, out []byte) error {
	target, err := filepath.EvalSymlinks(name)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	info, err := os.Stat(target)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return writeAtomic(target, out, info.Mode().Perm())
}

// writeAtomic replaces name with data: a temporary file in the same
// directory, given perm, synced, then renamed over name.
func writeAtomic(name string, data []byte, perm fs.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".upshift-fmt-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err = os.Rename(tmp.Name(), name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// stdinName names standard input ("-") in diagnostics of fmt and lint.
const stdinName = "<stdin>"
