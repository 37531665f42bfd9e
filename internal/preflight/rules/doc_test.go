package rules

import (
	"os"
	"strings"
	"testing"
)

// TestDocListsEveryRule: docs/preflight.md has a row for every rule.
func TestDocListsEveryRule(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/preflight.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Table {
		if !strings.Contains(string(doc), "| "+r.ID+" | ") {
			t.Errorf("docs/preflight.md has no row for %s", r.ID)
		}
	}
}
