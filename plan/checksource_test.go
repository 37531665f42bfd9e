package plan

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// Parser.CheckSource sees each file that parsed without errors, once, and
// its diagnostics join LoadPaths'; a file with a syntax error is not
// passed to it.
func TestParserCheckSource(t *testing.T) {
	dir := t.TempDir()
	for name, src := range map[string]string{
		"a.upshift.hcl": "# nothing\n",
		"b.upshift.hcl": "# nothing either\n",
		"c.upshift.hcl": "x = \n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	p := NewParser()
	p.CheckSource = func(path string, src []byte) hcl.Diagnostics {
		mu.Lock()
		defer mu.Unlock()
		seen[filepath.Base(path)]++
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "checked " + filepath.Base(path)}}
	}
	_, diags := p.LoadPaths(dir)
	if seen["a.upshift.hcl"] != 1 || seen["b.upshift.hcl"] != 1 || seen["c.upshift.hcl"] != 0 {
		t.Errorf("CheckSource calls = %v, want a and b once, not c", seen)
	}
	n := 0
	for _, d := range diags {
		if d.Summary == "checked a.upshift.hcl" || d.Summary == "checked b.upshift.hcl" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("CheckSource's diagnostics in LoadPaths' = %d, want 2: %v", n, diags)
	}
}
