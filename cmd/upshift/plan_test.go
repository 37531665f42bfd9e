package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// TestPlanDetailedExitcode: with steps pending, --detailed-exitcode exits
// exactly 3 (the script checks output; this checks the code).
func TestPlanDetailedExitcode(t *testing.T) {
	ar, err := txtar.ParseFile("testdata/script/plan-preview.txtar")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range ar.Files {
		p := filepath.Join(dir, f.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"plan", "plans/bg.upshift.hcl", "--detailed-exitcode"}, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	if code != exitPending {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitPending, out.String(), errOut.String())
	}
}
