package schema_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
)

// BenchmarkParseLint1000 loads and lints a directory of 1,000 plan files
// (copies of the dual-cluster example, each on its own cluster).
func BenchmarkParseLint1000(b *testing.B) {
	src, err := os.ReadFile(filepath.Join("..", "examples", "dual_cluster", "prod-eu.upshift.hcl"))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	for i := range 1000 {
		s := strings.ReplaceAll(string(src), `"prod-eu`, fmt.Sprintf(`"prod-%d`, i))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("p%04d.upshift.hcl", i)), []byte(s), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		p := plan.NewParser()
		set, diags := p.LoadPaths(dir)
		diags = append(diags, schema.Lint(set, schema.Options{})...)
		if len(set.Plans) != 1000 || diags.HasErrors() {
			b.Fatalf("%d plans, %v", len(set.Plans), diags)
		}
	}
}
