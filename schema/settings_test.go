package schema_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
)

// The settings file at the repository's root is linted with the plans
// under it: a relative journal dir (UP041), a DSN written in the file
// (UP042), a malformed env() call (UP026); a good one is clean.
func TestSettingsJournalRules(t *testing.T) {
	src, err := os.ReadFile("testdata/valid/dual_cluster.upshift.hcl")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ journal, want string }{
		{`dir = "state/journal"`, "UP041"},
		{`postgres = "postgres://upshift@db/journal"`, "UP042"},
		{`postgres = env("not a name")`, "UP026"},
		{`dir = "/var/lib/upshift/journal"`, ""},
		{`postgres = env("UPSHIFT_JOURNAL_DSN")`, ""},
	} {
		root := t.TempDir()
		if err := os.MkdirAll(filepath.Join(root, ".git"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(root, "plans"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "plans", "p.upshift.hcl"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, plan.SettingsFile), []byte("journal {\n  "+c.journal+"\n}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		set, diags := plan.NewParser().LoadPaths(filepath.Join(root, "plans"))
		if diags.HasErrors() {
			t.Fatalf("%s: %v", c.journal, diags)
		}
		if set.Settings == nil || set.Settings.Journal == nil {
			t.Fatalf("%s: settings not found", c.journal)
		}
		lint := schema.Lint(set, schema.Options{})
		if c.want == "" {
			for _, d := range lint {
				if id := schema.RuleID(d); id == "UP041" || id == "UP042" || id == "UP026" {
					t.Errorf("%s: unexpected %s: %s", c.journal, id, d.Detail)
				}
			}
			continue
		}
		if findRule(lint, c.want) == nil {
			t.Errorf("%s: no %s in %v", c.journal, c.want, lint)
		}
	}
}
