package schema_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/schema"
)

// acknowledge accepts preflight rule ids that allow it (never stale for
// lint, which cannot see whether they fire), refuses the others and
// unknown ones (UP030); the engine reads them (no UP040).
func TestAcknowledgePreflightRules(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "valid", "blue_green_acknowledged.upshift.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	with := func(ids string) string {
		return strings.Replace(string(src), `acknowledge = ["UP007"]`, `acknowledge = ["UP007", `+ids+`]`, 1)
	}
	diags := lintSource(t, with(`"PF30-1"`), schema.Options{})
	if d := findRule(diags, "UP030"); d != nil {
		t.Errorf("PF30-1 refused: %s", d.Detail)
	}
	if d := findRule(diags, "UP037"); d != nil {
		t.Errorf("PF30-1 called stale: %s", d.Detail)
	}
	if d := findRule(diags, "UP040"); d != nil {
		t.Errorf("UP040 for a preflight acknowledgement (the engine's preflight step reads it): %s", d.Detail)
	}
	for ids, want := range map[string]string{`"PF30-7"`: "cannot be acknowledged", `"PF30-99"`: "not a preflight rule ID"} {
		d := findRule(lintSource(t, with(ids), schema.Options{}), "UP030")
		if d == nil || !strings.Contains(d.Detail, want) {
			t.Errorf("acknowledge %s: UP030 %v, want %q", ids, d, want)
		}
	}
}
