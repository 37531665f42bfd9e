package render

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
)

// sarifFingerprints lints src as plans/p.upshift.hcl and returns each SARIF
// result's rule and primaryLocationLineHash.
func sarifFingerprints(t *testing.T, src string) (rules, hashes []string) {
	t.Helper()
	p := plan.NewParser()
	plans, diags := p.LoadSource("plans/p.upshift.hcl", []byte(src))
	diags = append(diags, schema.Lint(&plan.Set{Plans: plans, Files: []string{"plans/p.upshift.hcl"}}, schema.Options{})...)
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID              string
				PartialFingerprints map[string]string
			}
		}
	}
	out := render(t, SARIF, diags, Options{Files: p.Files()})
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	for _, r := range log.Runs[0].Results {
		rules = append(rules, r.RuleID)
		hashes = append(hashes, r.PartialFingerprints["primaryLocationLineHash"])
	}
	return rules, hashes
}

const fingerprintPlan = `upgrade "p" {
  cluster  = "c"
  strategy = "in_place"
  from {
    version   = "3.8.0"
    admin_url = "http://x:8001"
    database { dsn = "postgres://kong:PASSWORD@db/kong" }
  }
  to {
    version   = "3.9.1"
    admin_url = "http://x:8001"
    proxy_url = "http://x:8000"
    kong      = ["kong"]
  }
  backup { dir = "/var/lib/upshift" }
}
`

// SARIF results carry a partialFingerprints hash of rule + file + masked
// line content: stable when lines move or a password changes, different
// for another rule, unique within a log.
func TestSARIFPartialFingerprints(t *testing.T) {
	rules, base := sarifFingerprints(t, strings.Replace(fingerprintPlan, "PASSWORD", "one", 1))
	if len(base) < 3 {
		t.Fatalf("only %d results: %v", len(base), rules)
	}
	seen := map[string]bool{}
	for i, h := range base {
		if len(h) != 18 || h[16:] != ":1" && h[16:] != ":2" {
			t.Errorf("result %d (%s): fingerprint %q, want 16 hex digits and :N", i, rules[i], h)
		}
		if seen[h] {
			t.Errorf("result %d (%s): fingerprint %q repeats", i, rules[i], h)
		}
		seen[h] = true
	}
	// Three comment lines above, and another password: the same hashes.
	moved := "# a\n# b\n# c\n" + strings.Replace(fingerprintPlan, "PASSWORD", "two", 1)
	rules2, hashes := sarifFingerprints(t, moved)
	if strings.Join(rules2, ",") != strings.Join(rules, ",") || strings.Join(hashes, ",") != strings.Join(base, ",") {
		t.Errorf("fingerprints changed when lines moved and the password changed:\n%v %v\n%v %v", rules, base, rules2, hashes)
	}
	// Another line content changes the hash of the finding on it.
	_, other := sarifFingerprints(t, strings.Replace(strings.Replace(fingerprintPlan, "PASSWORD", "one", 1), "kong:", "admin:", 1))
	changed := 0
	for i := range base {
		if i < len(other) && other[i] != base[i] {
			changed++
		}
	}
	if changed == 0 {
		t.Errorf("no fingerprint changed with the DSN line: %v", other)
	}
}

// Paths are relative to BaseDir (the repository root) even when lint ran
// in a subdirectory with relative paths.
func TestRelativeToRepositoryRoot(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "team")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "S", Subject: &hcl.Range{
		Filename: "plans/a.upshift.hcl", Start: hcl.Pos{Line: 1, Column: 1}, End: hcl.Pos{Line: 1, Column: 1}}}
	got := render(t, GitHub, hcl.Diagnostics{d}, Options{BaseDir: root})
	if want := "::error file=team/plans/a.upshift.hcl,line=1,col=1,title=S::S\n"; got != want {
		t.Errorf("github output = %q, want %q", got, want)
	}
	if got := artifactURI("plans/a.upshift.hcl", root); got != "team/plans/a.upshift.hcl" {
		t.Errorf("sarif uri = %q", got)
	}
	if got := relPath("<stdin>", root); got != "<stdin>" {
		t.Errorf("relPath(<stdin>) = %q", got)
	}
	if got := relPath("../elsewhere/x.upshift.hcl", sub); got != "../elsewhere/x.upshift.hcl" {
		t.Errorf("a path outside the root = %q, want it as given", got)
	}
}
