package schema_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
)

func TestRulesTable(t *testing.T) {
	rules := schema.Rules()
	id := regexp.MustCompile(`^UP\d{3}$`)
	for i, r := range rules {
		if !id.MatchString(r.ID) || r.Summary == "" || r.Fix == "" {
			t.Errorf("rule %+v: malformed", r)
		}
		if i > 0 && rules[i-1].ID >= r.ID {
			t.Errorf("rules not sorted or duplicated at %s", r.ID)
		}
		if schema.RuleByID(r.ID) != r {
			t.Errorf("RuleByID(%s)", r.ID)
		}
	}
	// Safety rules named by the design are never acknowledgeable.
	for _, id := range []string{"UP002", "UP012", "UP028"} {
		if schema.RuleByID(id).Acknowledgeable {
			t.Errorf("%s must never be acknowledgeable", id)
		}
	}
}

// RULES.md is generated from the table; regenerate with go generate ./schema.
func TestRulesMarkdownCurrent(t *testing.T) {
	got, err := os.ReadFile("RULES.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, schema.RulesMarkdown()) {
		t.Fatal("schema/RULES.md is stale: run go generate ./schema")
	}
	for _, r := range schema.Rules() {
		if !bytes.Contains(got, []byte("## "+r.ID+"\n")) {
			t.Errorf("RULES.md has no section for %s", r.ID)
		}
	}
}

// lintSource parses and lints one in-memory file.
func lintSource(t *testing.T, src string, opts schema.Options) hcl.Diagnostics {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.upshift.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p := plan.NewParser()
	set, diags := p.LoadPaths(path)
	return append(diags, schema.Lint(set, opts)...)
}

func findRule(diags hcl.Diagnostics, id string) *hcl.Diagnostic {
	for _, d := range diags {
		if schema.RuleID(d) == id {
			return d
		}
	}
	return nil
}

// The path diagnostic names the series to go through, and points at the
// exact expression.
func TestPathMessage(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "invalid", "up004_path.upshift.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	d := findRule(lintSource(t, string(src), schema.Options{}), "UP004")
	if d == nil {
		t.Fatal("no UP004")
	}
	if !strings.Contains(d.Detail, "3.4 → 3.7 is not a guaranteed upgrade path: go through 3.5 and 3.6") {
		t.Errorf("detail: %s", d.Detail)
	}
	line := 1 + strings.Count(string(src[:strings.Index(string(src), `"3.7.0"`)]), "\n")
	if d.Subject.Start.Line != line || d.Subject.Start.Column != 17 || d.Subject.End.Column != 24 {
		t.Errorf("subject %v, want line %d columns 17-24 (the version string)", d.Subject, line)
	}
	if f := schema.FindingOf(d); f.Plan != "p" || f.Severity != schema.SeverityError || d.Severity != hcl.DiagError {
		t.Errorf("finding %+v", f)
	}
}

// An acknowledged finding is kept as info, marked, and does not count as
// a warning or an error.
func TestAcknowledgedIsInfo(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "valid", "blue_green_acknowledged.upshift.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	diags := lintSource(t, string(src), schema.Options{})
	d := findRule(diags, "UP007")
	if d == nil {
		t.Fatal("UP007 dropped")
	}
	f := schema.FindingOf(d)
	if !f.Acknowledged || f.Severity != schema.SeverityInfo || f.Rule.Severity != schema.SeverityError ||
		!strings.HasSuffix(d.Summary, "(acknowledged)") || diags.HasErrors() {
		t.Errorf("acknowledged finding: %+v %q errors=%v", f, d.Summary, diags.HasErrors())
	}
	// Without the acknowledgement it is an error.
	diags = lintSource(t, strings.Replace(string(src), `acknowledge = ["UP007"]`, "", 1), schema.Options{})
	if d := findRule(diags, "UP007"); d == nil || schema.SeverityOf(d) != schema.SeverityError {
		t.Errorf("unacknowledged UP007: %v", d)
	}
}

// StrictEnv reads the real environment by default.
func TestStrictEnvUsesEnvironment(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "valid", "strict_env.upshift.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"SET_X_ADMIN_URL", "SET_X_DSN", "SET_Y_DSN"} {
		t.Setenv(k, "v")
	}
	if d := findRule(lintSource(t, string(src), schema.Options{StrictEnv: true}), "UP027"); d != nil {
		t.Errorf("variables are set: %v", d)
	}
	os.Unsetenv("SET_Y_DSN")
	d := findRule(lintSource(t, string(src), schema.Options{StrictEnv: true}), "UP027")
	if d == nil || !strings.Contains(d.Detail, "SET_Y_DSN is not set") {
		t.Errorf("unset variable: %v", d)
	}
}

func TestLintNil(t *testing.T) {
	if d := schema.Lint(nil, schema.Options{}); d != nil {
		t.Errorf("Lint(nil) = %v", d)
	}
	if d := schema.Lint(&plan.Set{Plans: []*plan.Plan{nil, {Name: "empty"}}}, schema.Options{}); len(d) == 0 {
		t.Errorf("an empty plan has findings (no checks at least)")
	}
}

// Analysis and check shapes (UP034, UP035), one block at a time inside a
// plan that is otherwise clean.
func TestAnalysisAndCheckShapes(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("testdata", "valid", "dual_cluster.upshift.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	const anchor = `  analysis "same" {`
	for _, c := range []struct {
		block, rule string
	}{
		{`analysis "a" {` + "\n" + `compare = "kong_metrics"` + "\n" + `prometheus = "http://p"` + "\n}", "UP034"},
		{`analysis "a" { query = "up" }`, "UP034"},
		{`analysis "a" {` + "\nprometheus = \"http://p\"\nquery = \"up\"\n}", "UP034"},
		{`analysis "a" {` + "\nprometheus = \"http://p\"\nquery = \"up\"\nmin = 2\nmax = 1\n}", "UP034"},
		{`analysis "a" { error_rate_margin = 0.1 }`, "UP034"},
		{`analysis "a" { compare = "kong_metrics" }`, "UP034"},
		{`analysis "a" {` + "\ncompare = \"kong_metrics\"\nerror_rate_margin = 2\n}", "UP034"},
		{`analysis "a" {}`, "UP034"},
		{`analysis "a" {` + "\ncompare = \"kong_metrics\"\nerror_rate_margin = 0.1\nfailures = -1\n}", "UP034"},
		{`analysis "a" {` + "\ncompare = \"kong_metrics\"\np99_latency_margin = \"fast\"\n}", "UP018"},
		{`analysis "a" {` + "\ncompare = \"kong_metric\"\np99_latency_margin = \"1s\"\n}", "UP031"},
		{`check "c" {` + "\nrequest { path = \"/\" }\n}", "UP035"},
		{`check "c" {` + "\nrequest { path = \"/\" }\nexpect {}\n}", "UP035"},
		{`check "c" {` + "\nrequest { path = \"/\" }\nexpect { status = 999 }\n}", "UP035"},
		{`check "c" {` + "\ntarget = \"x\"\nrequest { path = \"/\" }\nexpect { status = 200 }\n}", "UP031"},
		{`check "c" {` + "\ntarget = \"from\"\nrequest { path = \"/\" }\nexpect { status = 200 }\n}", ""},
		{`analysis "a" {` + "\nprometheus = env(\"P\")\nquery = \"up\"\nmax = 1\n}", ""},
	} {
		src := strings.Replace(string(base), anchor, c.block+"\n"+anchor, 1)
		diags := lintSource(t, src, schema.Options{})
		var ids []string
		for _, d := range diags {
			ids = append(ids, schema.RuleID(d)+":"+d.Summary)
		}
		if c.rule == "" {
			if len(diags) != 0 {
				t.Errorf("%s: want no finding, got %v", c.block, ids)
			}
			continue
		}
		if len(diags) != 1 || schema.RuleID(diags[0]) != c.rule {
			t.Errorf("%s: want only %s, got %v", c.block, c.rule, ids)
		}
	}
}

// A part that failed to decode is not reported missing as well.
func TestNoCascadeFromDecodeErrors(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("testdata", "valid", "dual_cluster.upshift.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(base), `traffic "command"`, `traffic`, 1)
	diags := lintSource(t, src, schema.Options{})
	if len(diags) != 1 || diags[0].Summary != "Missing kind for traffic" {
		for _, d := range diags {
			t.Errorf("%s [%s] %s", d.Subject, schema.RuleID(d), d.Summary)
		}
	}
}
