package render

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/upshift-dev/upshift/schema"
)

// Format is an output format of `upshift lint --format`.
type Format string

const (
	Text   Format = "text"
	JSON   Format = "json"
	GitHub Format = "github"
	SARIF  Format = "sarif"
)

// Formats lists every format, in the order help texts show them.
func Formats() []Format { return []Format{Text, JSON, GitHub, SARIF} }

// ParseFormat returns the Format named s, or an error listing the valid ones.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats() {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, 0, 4)
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	return "", fmt.Errorf("unknown format %q (want one of %s)", s, strings.Join(names, ", "))
}

// ParserRuleID is the rule ID given, in json, github and sarif output, to
// diagnostics that come from the parser rather than from a lint rule.
const ParserRuleID = "HCL"

// FormatRule is the rule of `upshift lint --check-format`'s finding: a
// file not in the canonical layout of `upshift fmt`. It is not a lint rule
// (schema.Rules): it checks layout, not meaning, and only on request.
var FormatRule = &schema.Rule{
	ID:       "FMT",
	Severity: schema.SeverityError,
	Summary:  "File not in the canonical layout",
	Fix:      "Run upshift fmt on the file (upshift fmt --diff shows what changes).",
}

// Options tune Write. The zero value renders plain text without source
// snippets, paths as given.
type Options struct {
	// Files holds the parsed sources by filename (plan.Parser.Files), used
	// for snippets (text, json) and exact columns (sarif).
	Files map[string]*hcl.File
	// Color turns on ANSI colours in text output. The caller decides (a
	// terminal, NO_COLOR unset).
	Color bool
	// BaseDir is the directory github and sarif paths are made relative
	// to: the repository root (GitHub resolves annotation paths from it),
	// not the working directory. Relative filenames are taken as relative
	// to the working directory first. Empty means the paths are written as
	// the diagnostics hold them.
	BaseDir string
	// ToolVersion is the upshift version written into SARIF's tool.driver.
	ToolVersion string
}

// Write renders diags in format f to w. It returns only w's write errors
// (and an error for an unknown format).
func Write(w io.Writer, f Format, diags hcl.Diagnostics, opts Options) error {
	switch f {
	case Text:
		return writeText(w, diags, opts)
	case JSON:
		return writeJSON(w, diags, opts)
	case GitHub:
		return writeGitHub(w, diags, opts)
	case SARIF:
		return writeSARIF(w, diags, opts)
	}
	_, err := ParseFormat(string(f))
	return err
}

// Counts are the diagnostics of a list by Upshift severity.
type Counts struct {
	Errors, Warnings, Infos int
}

// Count counts diags by schema.SeverityOf.
func Count(diags hcl.Diagnostics) Counts {
	var c Counts
	for _, d := range diags {
		switch schema.SeverityOf(d) {
		case schema.SeverityError:
			c.Errors++
		case schema.SeverityWarning:
			c.Warnings++
		default:
			c.Infos++
		}
	}
	return c
}

// ruleID is d's lint rule ID, or ParserRuleID for parser diagnostics.
func ruleID(d *hcl.Diagnostic) string {
	if id := schema.RuleID(d); id != "" {
		return id
	}
	return ParserRuleID
}

// relPath returns filename relative to base with forward slashes, when base
// is set and filename (relative ones from the working directory) is inside
// it. Names that are not paths ("<stdin>") are kept.
func relPath(filename, base string) string {
	if strings.HasPrefix(filename, "<") {
		return filename
	}
	if base != "" {
		absBase, err1 := filepath.Abs(base)
		absFile, err2 := filepath.Abs(filename)
		if err1 == nil && err2 == nil {
			if rel, err := filepath.Rel(absBase, absFile); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				filename = rel
			}
		}
	}
	return filepath.ToSlash(filepath.Clean(filename))
}

// subject is the range a diagnostic points at: Subject, else Context.
func subject(d *hcl.Diagnostic) *hcl.Range {
	if d.Subject != nil {
		return d.Subject
	}
	return d.Context
}

// source returns the bytes of the file rng names, or nil.
func source(files map[string]*hcl.File, rng *hcl.Range) []byte {
	if rng == nil || files == nil {
		return nil
	}
	if f := files[rng.Filename]; f != nil {
		return f.Bytes
	}
	return nil
}

// contextString names the block enclosing offset in the file ("upgrade
// \"x\""), or "".
func contextString(files map[string]*hcl.File, rng *hcl.Range) string {
	if rng == nil || files == nil {
		return ""
	}
	f := files[rng.Filename]
	if f == nil || f.Nav == nil {
		return ""
	}
	type contextStringer interface{ ContextString(offset int) string }
	if cs, ok := f.Nav.(contextStringer); ok {
		return cs.ContextString(rng.Start.Byte)
	}
	return ""
}
