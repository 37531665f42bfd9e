package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
)

func runPathCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), append([]string{"path"}, args...), &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

// TestPathWriteChainLintsClean: the chain `path --write` makes from each
// example plan lints without errors as a set, and is ordered: each plan
// depends on the one before and starts where it ended, from FROM to TO.
func TestPathWriteChainLintsClean(t *testing.T) {
	for _, c := range []struct {
		template, mode, from, to string
		hops                     int
	}{
		{"dual_cluster/prod-eu", "db", "3.5.0", "3.9.1", 4},
		{"in_place/staging", "db", "2.8.4", "3.6.1", 3}, // 2.8 → 3.4 (LTS), 3.5, 3.6
		{"rolling/edge", "dbless", "3.6.0", "3.9.1", 3},
		{"hybrid_dp/edge-dp", "hybrid", "3.6.0", "3.9.1", 3},
		{"lts-enterprise/prod-lts", "db", "3.3.0.0", "3.10.0.2", 2},
	} {
		t.Run(c.template, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "chain")
			code, out, errOut := runPathCmd(t, c.from, c.to, "--mode", c.mode, "--write", dir,
				"--template", filepath.Join(repoRoot, "examples", c.template+".upshift.hcl"))
			if code != exitOK {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			set, diags := plan.NewParser().LoadPaths(dir)
			diags = append(diags, schema.Lint(set, schema.Options{})...)
			for _, d := range diags {
				if schema.SeverityOf(d) == schema.SeverityError {
					t.Errorf("lint: %s", d.Error())
				}
			}
			if len(set.Plans) != c.hops {
				t.Fatalf("%d plans written, want %d:\n%s", len(set.Plans), c.hops, out)
			}
			byPrev := map[string]*plan.Plan{}
			var first *plan.Plan
			for _, p := range set.Plans {
				switch len(p.DependsOn) {
				case 0:
					first = p
				case 1:
					byPrev[p.DependsOn[0].Value] = p
				default:
					t.Errorf("%s depends on %d plans", p.Name, len(p.DependsOn))
				}
			}
			if first == nil || first.From.Version.Value != c.from {
				t.Fatalf("no first plan from %s", c.from)
			}
			p, n := first, 1
			for next := byPrev[p.Name]; next != nil; next = byPrev[p.Name] {
				if next.From.Version.Value != p.To.Version.Value {
					t.Errorf("%s starts at %s, %s ended at %s", next.Name, next.From.Version.Value, p.Name, p.To.Version.Value)
				}
				if next.ControlPlane != nil && next.ControlPlane.Version.Value != next.To.Version.Value {
					t.Errorf("%s: control_plane.version %s, want the hop's %s", next.Name, next.ControlPlane.Version.Value, next.To.Version.Value)
				}
				p, n = next, n+1
			}
			if n != c.hops || p.To.Version.Value != c.to {
				t.Errorf("the depends_on chain has %d plans ending at %s, want %d ending at %s", n, p.To.Version.Value, c.hops, c.to)
			}
		})
	}
}

// TestPathWriteRefusesUnlintableChain: a blue-green template across
// series (UP007 on every hop) writes nothing and exits 1 naming the rule;
// an existing file is never overwritten.
func TestPathWriteRefusesUnlintableChain(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "chain")
	code, _, errOut := runPathCmd(t, "3.7.0", "3.9.1", "--write", dir,
		"--template", filepath.Join(repoRoot, "examples", "blue_green", "prod-us.upshift.hcl"))
	if code != exitFail || !strings.Contains(errOut, "[UP007]") || !strings.Contains(errOut, "nothing written") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s exists after a refused chain: %v", dir, err)
	}
	tmpl := filepath.Join(repoRoot, "examples", "dual_cluster", "prod-eu.upshift.hcl")
	if code, out, errOut := runPathCmd(t, "3.8.0", "3.9.1", "--write", dir, "--template", tmpl); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	written := filepath.Join(dir, "prod-eu-3.9-1-3.9.1.upshift.hcl")
	if err := os.WriteFile(written, []byte("# mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runPathCmd(t, "3.8.0", "3.9.1", "--write", dir, "--template", tmpl); code != exitFail || !strings.Contains(errOut, "exists") {
		t.Fatalf("second write: exit %d, stderr:\n%s", code, errOut)
	}
	if b, _ := os.ReadFile(written); string(b) != "# mine\n" {
		t.Errorf("%s was overwritten", written)
	}
}
