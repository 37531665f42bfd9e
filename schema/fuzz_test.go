package schema_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
)

// FuzzParseLint feeds arbitrary bytes through parsing and every lint rule:
// neither may panic, hang or return an error diagnostic without a range.
// The seed corpus is every example and testdata case; crashers found by
// `go test ./schema -run '^$' -fuzz FuzzParseLint` are kept as regression
// cases under testdata/fuzz/FuzzParseLint.
func FuzzParseLint(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "examples", "*", "*.upshift.hcl"))
	more, _ := filepath.Glob(filepath.Join("testdata", "*", "*.upshift.hcl"))
	dirs, _ := filepath.Glob(filepath.Join("testdata", "*", "*", "*.upshift.hcl"))
	for _, path := range append(append(seeds, more...), dirs...) {
		src, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	dir := f.TempDir() // file() paths resolve here: nothing to read
	f.Fuzz(func(t *testing.T, src []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			parseLintSource(t, dir, src)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("parse+lint did not finish in 10s on %q", src)
		}
	})
}

func parseLintSource(t *testing.T, dir string, src []byte) {
	p := plan.NewParser()
	plans, diags := p.LoadSource(filepath.Join(dir, "fuzz.upshift.hcl"), src)
	set := &plan.Set{Plans: plans, Files: []string{"fuzz.upshift.hcl"}}
	diags = append(diags, schema.Lint(set, schema.Options{})...)
	for _, d := range diags {
		if d.Subject == nil {
			t.Fatalf("diagnostic without a range: %s: %s", d.Summary, d.Detail)
		}
	}
	_ = schema.Lint(set, schema.Options{StrictEnv: true, LookupEnv: func(string) (string, bool) { return "", false }})
}
