package schema_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/upshift-dev/upshift/schema"
)

// exampleFiles lists the plan files under ../examples.
func exampleFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "examples", "*", "*.upshift.hcl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	return files
}

// Every example lints clean (no error, no warning; infos only where the
// file expects them) and is formatted canonically.
func TestExamples(t *testing.T) {
	dirs := map[string]bool{}
	for _, f := range exampleFiles(t) {
		dirs[filepath.Dir(f)] = true
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := hclwrite.Format(src); !bytes.Equal(got, src) {
			t.Errorf("%s is not formatted canonically (hclwrite.Format changes it)", f)
		}
	}
	for _, want := range []string{"dual_cluster", "blue_green", "in_place", "rolling", "hybrid_dp", "lts-enterprise"} {
		if !dirs[filepath.Join("..", "examples", want)] {
			t.Errorf("examples/%s is missing", want)
		}
	}
	for dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			_, diags := lintPath(dir, schema.Options{})
			for _, d := range diags {
				if schema.SeverityOf(d) != schema.SeverityInfo {
					t.Errorf("%s: [%s] %s: %s", d.Subject, schema.RuleID(d), d.Summary, d.Detail)
				}
			}
		})
	}
}
