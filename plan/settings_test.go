package plan

import (
	"os"
	"path/filepath"
	"testing"
)

// FindSettings walks up from a plan to the repository root: the nearest
// upshift.hcl wins, and none above the directory holding .git counts.
func TestFindSettings(t *testing.T) {
	top := t.TempDir()
	repo := filepath.Join(top, "repo")
	plans := filepath.Join(repo, "plans", "prod")
	for _, d := range []string{plans, filepath.Join(repo, ".git")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path, src string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	planFile := filepath.Join(plans, "a.upshift.hcl")
	write(planFile, "")
	write(filepath.Join(top, SettingsFile), "journal {\n  dir = \"/outside\"\n}\n") // above the repository: ignored
	if f, err := FindSettings(planFile); err != nil || f != "" {
		t.Fatalf("above the repository root: %q %v", f, err)
	}
	write(filepath.Join(repo, SettingsFile), "journal {\n  dir = \"/var/lib/upshift/journal\"\n}\n")
	s, diags := LoadSettings(planFile)
	if diags.HasErrors() || s == nil || s.Journal == nil || s.Journal.Dir.Value != "/var/lib/upshift/journal" {
		t.Fatalf("repository root: %+v %v", s, diags)
	}
	write(filepath.Join(plans, SettingsFile), "journal {\n  postgres = env(\"J\")\n}\n")
	if s, _ := LoadSettings(plans); s == nil || s.Journal == nil || s.Journal.Postgres.EnvName != "J" {
		t.Fatalf("nearest: %+v", s)
	}
	write(filepath.Join(plans, SettingsFile), "journal {\n  dir = \"/a\"\n  postgres = env(\"J\")\n}\n")
	if _, diags := LoadSettings(plans); !diags.HasErrors() {
		t.Error("a journal with both dir and postgres parsed")
	}
}
