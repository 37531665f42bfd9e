package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
	"github.com/upshift-dev/upshift/schema/render"
)

// TestGeneratedPlansAreValid: the benchmark's plans parse and lint without
// errors or warnings (so lint's time is spent on real plans, not on error
// paths), cover the four strategies, and exactly the unformatted tenth
// differ from hclwrite's formatting.
func TestGeneratedPlansAreValid(t *testing.T) {
	dir, tfDir := t.TempDir(), t.TempDir()
	const n = 40
	paths, unformatted, err := generate(dir, tfDir, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != n || unformatted != n/10 {
		t.Fatalf("generated %d plans, %d unformatted", len(paths), unformatted)
	}
	p := plan.NewParser()
	set, diags := p.LoadPaths(dir)
	diags = append(diags, schema.Lint(set, schema.Options{})...)
	if c := render.Count(diags); c.Errors > 0 || c.Warnings > 0 {
		var b bytes.Buffer
		render.Write(&b, render.Text, diags, render.Options{Files: p.Files()})
		t.Fatalf("generated plans have findings:\n%s", b.String())
	}
	if len(set.Plans) != n {
		t.Errorf("%d plans decoded, want %d", len(set.Plans), n)
	}
	strategies := map[string]bool{}
	for _, pl := range set.Plans {
		strategies[pl.Strategy.Value] = true
	}
	if len(strategies) != 4 {
		t.Errorf("strategies covered: %v", strategies)
	}
	changed := 0
	for _, path := range paths {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(hclwrite.Format(src), src) {
			changed++
		}
	}
	if changed != unformatted {
		t.Errorf("%d files change under hclwrite.Format, want %d", changed, unformatted)
	}
	if tf, _ := filepath.Glob(filepath.Join(tfDir, "*.tf")); len(tf) != n {
		t.Errorf("%d .tf files, want %d", len(tf), n)
	}
}
