package main

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// guidePage is the operator's guide.
const guidePage = "guide.md"

// TestGuideCommands runs docs/guide.md as an operator would: every sh
// block, in order, in one bash (set -euo pipefail) from the repository
// root, with `go install` writing into a temporary GOBIN on PATH and the
// sandbox's workspace in a temporary TMPDIR. One sandbox only (rolling:
// no database), to keep the test's time small; the
// examples are planned against loopback ports where nothing listens.
// Every other fence is hcl, text or json (no command in it), or a
// command block for a production machine, which the paragraph before it
// must say is not run here. Then it checks the output the guide
// describes.
func TestGuideCommands(t *testing.T) {
	for _, b := range []string{"bash", "go", "nginx"} {
		testenv.NeedBinary(t, b, b)
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docs", guidePage))
	if err != nil {
		t.Fatal(err)
	}
	if checkGuideFences(t, string(raw)); t.Failed() {
		t.FailNow()
	}
	if readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md")); err != nil || !strings.Contains(string(readme), "(docs/guide.md)") {
		t.Errorf("README does not link docs/guide.md (%v)", err)
	}
	blocks := shBlocks(t, guidePage)
	if len(blocks) < 5 {
		t.Fatalf("docs/guide.md has %d sh blocks", len(blocks))
	}
	tmp := t.TempDir()
	// A server a sandbox starts may drop root (PostgreSQL runs as the user
	// postgres): it must reach its directory under TMPDIR.
	for _, d := range []string{filepath.Dir(tmp), tmp} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(tmp, "bin")
	env := append(os.Environ(), "TMPDIR="+tmp, "XDG_STATE_HOME="+tmp, "GOBIN="+bin, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+strings.Join(blocks, "\n"))
	cmd.Dir, cmd.Env = repoRoot, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	if err != nil {
		t.Fatalf("the guide's commands failed: %v\n%s", err, out)
	}
	t.Logf("the guide's output:\n%s", out)
	for _, want := range []string{
		"\ncommit ", // upshift version
		"0 errors, 0 warnings",
		"In-place upgrades mean downtime (acknowledged) [UP019]",
		// upshift plan of each example: its points of no return and their
		// consent items, the guard's verdict on what it could not read.
		`decommission       decommission X (from.stop): no rollback to X afterwards [point of no return; needs approve = ["decommission"]]`,
		`migrations_finish  kong migrations finish on the shared database (Kong 3.9.1) [point of no return; needs approve = ["finish"]]`,
		`stop_from          stop X (from.stop): downtime starts [point of no return; needs approve = ["stop_current"]]`,
		`start_to:edge-y1  start Y node edge-y1 and wait until it is ready [reversible]`,
		"Condition: Stalled/PreconditionFailed: guard: X is not reachable",
		// the rolling sandbox: up to the decommission gate, then back
		"Upshift sandbox: rolling, Kong 3.8.0 → 3.9.1",
		`Stalled/AwaitingApproval: decommission is a point of no return: add "decommission"`,
		"Ready/RolledBack: rolled back: rollback { requested = true }",
		"Kong 3.8.0 → 3.9.1 (rolling) and back",
		"Requests through nginx: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the guide's output lacks %q", want)
		}
	}
	if n := strings.Count(out, "Guard: would refuse"); n != 4 {
		t.Errorf("%d plans refused by the guard, want the 4 examples planned", n)
	}
	if f := regexp.MustCompile(`Requests through nginx: \d+ sent, (\d+) failed`).FindStringSubmatch(out); f == nil || f[1] != "0" {
		t.Errorf("the rolling sandbox's requests through nginx: %v, want 0 failed", f)
	}
}

// checkGuideFences: a fenced block of the guide is sh (run by
// TestGuideCommands), hcl, text or json (none holds a command line), or
// unlabelled: a command for a production machine (root, systemd,
// Kubernetes, your agent), which the paragraph before says is not run
// here.
func checkGuideFences(t *testing.T, page string) {
	t.Helper()
	lines := strings.Split(page, "\n")
	in, info, start := false, "", 0
	for i, l := range lines {
		if !strings.HasPrefix(l, "```") {
			continue
		}
		if in {
			if info == "hcl" || info == "text" || info == "json" {
				for _, c := range lines[start+1 : i] {
					if strings.HasPrefix(c, "upshift ") || strings.HasPrefix(c, "$ ") {
						t.Errorf("docs/guide.md:%d: a command in a %s block is run by no test: %s", start+2, info, c)
					}
				}
			}
			in = false
			continue
		}
		in, info, start = true, strings.TrimPrefix(l, "```"), i
		switch info {
		case "sh", "hcl", "text", "json":
		case "":
			para := ""
			for j := i - 1; j >= 0 && (lines[j] != "" || para == ""); j-- {
				para = lines[j] + " " + para
			}
			if !strings.Contains(strings.ToLower(para), "not run here") {
				t.Errorf("docs/guide.md:%d: an unlabelled block whose paragraph does not say it is not run here (and why)", i+1)
			}
		default:
			t.Errorf("docs/guide.md:%d: fence %q: use sh (run by the test), hcl, text, json, or none for production commands", i+1, info)
		}
	}
	if in {
		t.Error("docs/guide.md: a fence is not closed")
	}
}

// conditionReasons is every condition reason the engine and the agent
// can report: the engine's Reason* constants (internal/engine), and the
// agent's own (agent/): the Reason of an engine.Condition literal, and a
// string assigned to a variable named reason.
func conditionReasons(t *testing.T) map[string]string {
	t.Helper()
	reasons := map[string]string{}
	fset := token.NewFileSet()
	for _, dir := range []string{"internal/engine", "agent"} {
		files, err := filepath.Glob(filepath.Join(repoRoot, dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			str := func(e ast.Expr) (string, bool) {
				if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, err := strconv.Unquote(lit.Value)
					return s, err == nil
				}
				return "", false
			}
			ast.Inspect(file, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.ValueSpec:
					for i, name := range n.Names {
						if dir == "internal/engine" && strings.HasPrefix(name.Name, "Reason") && i < len(n.Values) {
							if s, ok := str(n.Values[i]); ok {
								reasons[s] = fset.Position(name.Pos()).String()
							}
						}
					}
				case *ast.CompositeLit:
					if sel, ok := n.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "Condition" {
						for _, el := range n.Elts {
							if kv, ok := el.(*ast.KeyValueExpr); ok {
								if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Reason" {
									if s, ok := str(kv.Value); ok {
										reasons[s] = fset.Position(kv.Pos()).String()
									}
								}
							}
						}
					}
				case *ast.AssignStmt:
					for i, l := range n.Lhs {
						if id, ok := l.(*ast.Ident); ok && dir == "agent" && id.Name == "reason" && i < len(n.Rhs) {
							if s, ok := str(n.Rhs[i]); ok {
								reasons[s] = fset.Position(id.Pos()).String()
							}
						}
					}
				}
				return true
			})
		}
	}
	return reasons
}

// TestGuideCoversEveryReason: docs/guide.md's troubleshooting table has
// one row per condition reason the engine and the agent report (found in
// their source), and no row for a reason that no longer exists.
func TestGuideCoversEveryReason(t *testing.T) {
	reasons := conditionReasons(t)
	if len(reasons) < 20 {
		t.Fatalf("found %d reasons: %v", len(reasons), reasons)
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docs", guidePage))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Troubleshooting by condition reason\n")
	if !ok {
		t.Fatal(`docs/guide.md has no "## Troubleshooting by condition reason" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `([A-Za-z]+)` \\|")
	listed := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		if listed[m[1]] {
			t.Errorf("docs/guide.md: %s has two rows", m[1])
		}
		listed[m[1]] = true
	}
	var missing []string
	for r, where := range reasons {
		if !listed[r] {
			missing = append(missing, r+" ("+where+")")
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("docs/guide.md's troubleshooting has no row for %s", m)
	}
	for r := range listed {
		if _, ok := reasons[r]; !ok {
			t.Errorf("docs/guide.md's troubleshooting has a row for %s, which nothing reports", r)
		}
	}
}
