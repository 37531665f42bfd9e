package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDefaultJournalIsOutsideTheCheckout (issue 14: `?? plans/.upshift/`):
// with nothing declared and no flags, the journal apply, plan and unlock
// resolve is an absolute per-user directory, never one under the working
// directory (the plans checkout when run from there), also when $HOME or
// $XDG_STATE_HOME is relative; resolving creates nothing.
func TestDefaultJournalIsOutsideTheCheckout(t *testing.T) {
	checkout := t.TempDir()
	if err := os.MkdirAll(filepath.Join(checkout, "plans"), 0o755); err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join("plans", "a.upshift.hcl")
	if err := os.WriteFile(filepath.Join(checkout, planFile), []byte("upgrade \"a\" {\n  cluster = \"c\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(checkout)
	home := t.TempDir()
	for _, c := range []struct {
		name, home, xdg string
		want            string // the journal, or "" for an error
	}{
		{"home", home, "", filepath.Join(home, ".local", "state", "upshift", "journal")},
		{"xdg", home, "/var/lib/ops", "/var/lib/ops/upshift/journal"},
		{"relative xdg", home, "state", filepath.Join(home, ".local", "state", "upshift", "journal")},
		{"relative home", "home", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("HOME", c.home)
			t.Setenv("XDG_STATE_HOME", c.xdg)
			spec, err := resolveJournal(planFile, "a", "", "", io.Discard, "apply")
			switch {
			case c.want == "" && (err == nil || !strings.Contains(err.Error(), "--journal-dir")):
				t.Errorf("journal %v, %v; want an error naming --journal-dir", spec, err)
			case c.want != "" && (err != nil || spec.Dir != c.want):
				t.Errorf("journal %v, %v; want dir %s", spec, err, c.want)
			}
		})
	}
	ents, _ := os.ReadDir(checkout)
	if len(ents) != 1 {
		t.Errorf("the checkout holds %d entries after resolving, want only plans/", len(ents))
	}
}
