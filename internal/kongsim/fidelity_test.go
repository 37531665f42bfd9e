package kongsim

import (
	"bytes"
	"flag"
	"os"
	"strings"
	"testing"
)

var updateFidelity = flag.Bool("update", false, "rewrite FIDELITY.md from fidelity/*.md")

// fidelityAreas are the fragments of FIDELITY.md, each kept next to the
// code it describes, in the order the document shows them.
var fidelityAreas = []struct{ file, title string }{
	{"fidelity/core.md", "Node, Admin API, storage, Status API, DB-less, faults"},
	{"fidelity/migrations.md", "Migrations and the `kong` CLI"},
	{"fidelity/datapath.md", "Data path: plugins, proxy, Prometheus metrics, hybrid"},
}

const fidelityHeader = `# kongsim fidelity

What ` + "`kongsim`" + ` emulates of Kong Gateway, where the behaviour comes from in Kong's source or docs, and how
closely it is emulated: **yes** (as Kong does it, for the cases listed), **partly** (the notes say what is
missing or approximate) or **no**. Sources: ` + "`K:`" + ` Kong/kong (HEAD ` + "`22246ef`" + ` = 3.10.0, or the tag named),
` + "`../shared/design/kong-facts.md`" + ` (§ numbers), and the docs it cites.

This file is assembled from ` + "`fidelity/*.md`" + ` (one per area, kept next to the code that owns it):
` + "`go test ./internal/kongsim -run TestFidelityDoc -update`" + ` rebuilds it, and that test fails when it is stale.
`

// TestFidelityDoc keeps FIDELITY.md equal to its fragments, and checks that
// every table row says yes, partly or no.
func TestFidelityDoc(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(fidelityHeader)
	for _, a := range fidelityAreas {
		src, err := os.ReadFile(a.file)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("\n## " + a.title + "\n\n")
		var body []string
		for _, line := range strings.Split(strings.TrimSpace(string(src)), "\n") {
			if strings.HasPrefix(line, "# ") && len(body) == 0 {
				continue // the fragment's own title
			}
			if len(body) == 0 && strings.TrimSpace(line) == "" {
				continue
			}
			body = append(body, line)
			if cells := strings.Split(line, "|"); strings.HasPrefix(line, "| ") && len(cells) > 4 && !strings.HasPrefix(line, "| behaviour") {
				switch v := strings.TrimSpace(cells[3]); v {
				case "yes", "partly", "no", "emulated":
				default:
					t.Errorf("%s: row %q: emulated column is %q, want yes, partly or no", a.file, strings.TrimSpace(cells[1]), v)
				}
			}
		}
		b.WriteString(strings.Join(body, "\n") + "\n")
	}
	if *updateFidelity {
		if err := os.WriteFile("FIDELITY.md", b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile("FIDELITY.md")
	if err != nil || !bytes.Equal(have, b.Bytes()) {
		t.Errorf("FIDELITY.md is stale; run: go test ./internal/kongsim -run TestFidelityDoc -update")
	}
}
