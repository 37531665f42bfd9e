package schema_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
)

// An expectation is written on the offending line as a comment:
// "# ERROR: UP012", "# WARNING: UP020", "# INFO: UP003", several allowed;
// a diagnostic without a rule ID (from the HCL parser) is written with its
// summary in quotes: # ERROR: "Unsupported argument".
var expectRE = regexp.MustCompile(`(ERROR|WARNING|INFO): (UP\d{3}|"[^"]+")`)

// key identifies one diagnostic for comparison: file:line severity id.
func key(file string, line int, sev, id string) string {
	return fmt.Sprintf("%s:%d %s %s", file, line, sev, id)
}

// expectations reads the expected diagnostics of every file.
func expectations(t *testing.T, files []string) []string {
	t.Helper()
	var out []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			_, comment, ok := strings.Cut(line, "#")
			if !ok {
				continue
			}
			for _, m := range expectRE.FindAllStringSubmatch(comment, -1) {
				out = append(out, key(f, i+1, m[1], strings.Trim(m[2], `"`)))
			}
		}
	}
	sort.Strings(out)
	return out
}

// actual lists what parsing and linting report, in the same shape.
func actual(diags hcl.Diagnostics) []string {
	var out []string
	for _, d := range diags {
		id := schema.RuleID(d)
		if id == "" {
			id = d.Summary
		}
		file, line := "?", 0
		if d.Subject != nil {
			file, line = d.Subject.Filename, d.Subject.Start.Line
		}
		out = append(out, key(file, line, strings.ToUpper(schema.SeverityOf(d).String()), id))
	}
	sort.Strings(out)
	return out
}

// lintPath parses and lints one case (a file or a directory).
func lintPath(path string, opts schema.Options) ([]string, hcl.Diagnostics) {
	p := plan.NewParser()
	set, diags := p.LoadPaths(path)
	diags = append(diags, schema.Lint(set, opts)...)
	return set.Files, diags
}

func cases(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), plan.FileSuffix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	if len(out) == 0 {
		t.Fatalf("no cases in %s", dir)
	}
	return out
}

// strictEnv is the environment the "strict" cases see.
func strictEnv(name string) (string, bool) {
	if strings.HasPrefix(name, "SET_") {
		return "x", true
	}
	return "", false
}

func optionsFor(path string) schema.Options {
	if strings.Contains(filepath.Base(path), "strict") {
		return schema.Options{StrictEnv: true, LookupEnv: strictEnv}
	}
	return schema.Options{}
}

func compareCase(t *testing.T, path string) []string {
	files, diags := lintPath(path, optionsFor(path))
	want, got := expectations(t, files), actual(diags)
	if !slices.Equal(want, got) {
		missing, extra := difference(want, got), difference(got, want)
		for _, m := range missing {
			t.Errorf("expected, not reported: %s", m)
		}
		for _, e := range extra {
			t.Errorf("reported, not expected: %s", e)
		}
		t.Logf("all diagnostics:%s", describe(diags))
	}
	return want
}

// difference returns the elements of a not matched one-for-one in b.
func difference(a, b []string) []string {
	left := map[string]int{}
	for _, s := range b {
		left[s]++
	}
	var out []string
	for _, s := range a {
		if left[s] > 0 {
			left[s]--
			continue
		}
		out = append(out, s)
	}
	return out
}

func describe(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&b, "\n\t\t%v [%s] %s: %s", d.Subject, schema.RuleID(d), d.Summary, d.Detail)
	}
	return b.String()
}

func TestValidCases(t *testing.T) {
	for _, path := range cases(t, filepath.Join("testdata", "valid")) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			for _, w := range compareCase(t, path) {
				if !strings.Contains(w, " INFO ") {
					t.Errorf("a valid case may only expect info findings: %s", w)
				}
			}
		})
	}
}

func TestInvalidCases(t *testing.T) {
	failing := map[string]bool{}
	for _, path := range cases(t, filepath.Join("testdata", "invalid")) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want := compareCase(t, path)
			if len(want) == 0 {
				t.Errorf("an invalid case must expect at least one diagnostic")
			}
			for _, w := range want {
				f := strings.Fields(w)
				if strings.HasPrefix(f[len(f)-1], "UP") {
					failing[f[len(f)-1]] = true
				}
			}
		})
	}
	for _, r := range schema.Rules() {
		if !failing[r.ID] {
			t.Errorf("rule %s (%s) has no failing case in testdata/invalid", r.ID, r.Summary)
		}
	}
}
