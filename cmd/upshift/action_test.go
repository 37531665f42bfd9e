package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// actionSteps is what TestActionStepsInShell reads of action.yml.
type actionSteps struct {
	Inputs map[string]struct{ Default string }
	Runs   struct {
		Steps []struct {
			Name, If, Uses, Run, Shell string
			Env                        map[string]string
		}
	}
}

var exprRE = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

// evalExpr evaluates the few GitHub expressions action.yml uses: a context
// value (inputs.x, github.x), "a || b", "x != ”", always(), "a && b".
// Anything else fails the test, so that a new expression gets support here
// rather than a silent wrong value.
func evalExpr(t *testing.T, expr string, ctx map[string]string) string {
	t.Helper()
	if parts := strings.Split(expr, "&&"); len(parts) > 1 {
		for _, p := range parts {
			if evalExpr(t, strings.TrimSpace(p), ctx) == "" {
				return ""
			}
		}
		return "true"
	}
	if a, b, ok := strings.Cut(expr, "||"); ok {
		if v := evalExpr(t, strings.TrimSpace(a), ctx); v != "" {
			return v
		}
		return evalExpr(t, strings.TrimSpace(b), ctx)
	}
	if a, ok := strings.CutSuffix(expr, " != ''"); ok {
		if evalExpr(t, a, ctx) != "" {
			return "true"
		}
		return ""
	}
	if expr == "always()" {
		return "true"
	}
	v, ok := ctx[expr]
	if !ok {
		t.Fatalf("action.yml: expression %q is not supported by this test", expr)
	}
	return v
}

// TestActionStepsInShell runs action.yml's run: steps with bash, in order,
// as the runner would (bash -e, env: evaluated, GITHUB_PATH honoured between
// steps, uses: steps skipped: setup-go is the Go running this test), with
// upshift built from this checkout: a clean plan directory passes; one with
// an error, a warning and an unformatted file fails the lint step with
// annotations relative to GITHUB_WORKSPACE; the SARIF step writes a log
// either way; `upshift version` shows the pinned commit.
func TestActionStepsInShell(t *testing.T) {
	if testing.Short() {
		t.Skip("builds upshift")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a actionSteps
	if err := yaml.Unmarshal(raw, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile("testdata/script/lint-check-format.txtar")
	if err != nil {
		t.Fatal(err)
	}
	// The canonical plan of lint-check-format.txtar.
	m := regexp.MustCompile(`(?s)-- plans/good.upshift.hcl --\n(.*?)\n-- `).FindSubmatch(good)
	if m == nil {
		t.Fatal("no plans/good.upshift.hcl in lint-check-format.txtar")
	}
	goodPlan := string(m[1]) + "\n"
	const sha = "0123456789abcdef0123456789abcdef01234567"
	// One runner temporary directory for both runs: the second build of
	// upshift into it finds the binary up to date.
	runner := t.TempDir()

	for _, c := range []struct {
		name     string
		files    map[string]string
		inputs   map[string]string // beside the defaults
		wantFail string            // the step that fails, "" for none
		want     []string
	}{
		{name: "clean", files: map[string]string{"plans/team/g.upshift.hcl": goodPlan}},
		{name: "findings", wantFail: "upshift lint",
			files: map[string]string{
				"plans/team/g.upshift.hcl": goodPlan,
				// An error (UP012: X's database for Y) and not formatted.
				"plans/team/bad.upshift.hcl": strings.Replace(strings.Replace(goodPlan, `"Y_DSN"`, `"X_DSN"`, 1), `upgrade "g"`, `upgrade   "b"`, 1),
			},
			want: []string{
				"::error file=plans/team/bad.upshift.hcl,line=1,col=1,",
				"title=FMT File not in the canonical layout",
				"::error file=plans/team/bad.upshift.hcl,line=14,",
				"title=UP012 ",
			}},
		// deck-files: lint --deck on every file the globs match; an
		// error finding (PF30-6) fails the step, a clean file does not.
		{name: "deck", wantFail: "upshift lint --deck",
			inputs: map[string]string{"inputs.deck-files": "kong/**/*.yaml", "inputs.deck-from": "2.8.5", "inputs.deck-to": "3.4.2"},
			files: map[string]string{
				"plans/team/g.upshift.hcl": goodPlan,
				"kong/eu/kong.yaml":        "_format_version: \"3.0\"\nservices:\n- name: billing\n  url: http://billing:80\n  plugins:\n  - name: acl\n    config: {whitelist: [admins]}\n",
				"kong/us/kong.yaml":        "_format_version: \"3.0\"\nservices:\n- name: orders\n  url: http://orders:80\n",
			},
			want: []string{
				"::error file=kong/eu/kong.yaml,title=PF30-6::",
			}},
		{name: "deck-no-match", wantFail: "upshift lint --deck",
			inputs: map[string]string{"inputs.deck-files": "kong/*.yml", "inputs.deck-from": "2.8.5", "inputs.deck-to": "3.4.2"},
			files:  map[string]string{"plans/team/g.upshift.hcl": goodPlan},
			want:   []string{"::error title=deck-files::kong/*.yml matches no file"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ws := t.TempDir()
			for name, src := range c.files {
				p := filepath.Join(ws, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ghPath := filepath.Join(t.TempDir(), "github_path")
			if err := os.WriteFile(ghPath, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			ctx := map[string]string{"github.action_path": root, "github.action_ref": sha}
			for k, in := range a.Inputs {
				ctx["inputs."+k] = in.Default
			}
			ctx["inputs.path"] = "plans"
			ctx["inputs.sarif-file"] = "upshift.sarif"
			for k, v := range c.inputs {
				ctx[k] = v
			}
			path := os.Getenv("PATH")
			failed := ""
			var out bytes.Buffer
			for _, s := range a.Runs.Steps {
				if s.Run == "" {
					continue
				}
				if s.If != "" && evalExpr(t, strings.TrimSpace(exprRE.ReplaceAllString(s.If, "$1")), ctx) == "" {
					continue
				}
				if exprRE.MatchString(s.Run) {
					t.Fatalf("step %q: ${{ }} inside run: (pass it through env:)", s.Name)
				}
				if s.Shell != "bash" {
					t.Fatalf("step %q: shell %q, want bash", s.Name, s.Shell)
				}
				// GitHub runs shell: bash as bash --noprofile --norc -eo pipefail {0}.
				script := filepath.Join(runner, "step.sh")
				if err := os.WriteFile(script, []byte(s.Run), 0o644); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(bash, "--noprofile", "--norc", "-eo", "pipefail", script)
				cmd.Dir = ws
				cmd.Env = append(os.Environ(), "PATH="+path, "GITHUB_WORKSPACE="+ws, "GITHUB_PATH="+ghPath,
					"RUNNER_TEMP="+runner, "GITHUB_ACTIONS=true", "CI=true")
				for k, v := range s.Env {
					cmd.Env = append(cmd.Env, k+"="+exprRE.ReplaceAllStringFunc(v, func(e string) string {
						return evalExpr(t, exprRE.FindStringSubmatch(e)[1], ctx)
					}))
				}
				var stepOut bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stepOut, &stepOut
				err := cmd.Run()
				fmt.Fprintf(&out, "== %s (%v)\n%s", s.Name, err, stepOut.String())
				if err != nil && failed == "" {
					failed = s.Name
				}
				// The runner prepends GITHUB_PATH's lines to PATH for later steps.
				added, _ := os.ReadFile(ghPath)
				for _, dir := range strings.Fields(string(added)) {
					if !strings.Contains(path, dir+string(os.PathListSeparator)) {
						path = dir + string(os.PathListSeparator) + path
					}
				}
			}
			log := out.String()
			if failed != c.wantFail {
				t.Fatalf("failed step %q, want %q:\n%s", failed, c.wantFail, log)
			}
			for _, w := range c.want {
				if !strings.Contains(log, w) {
					t.Errorf("output lacks %q:\n%s", w, log)
				}
			}
			// The version is (devel) or a pseudo-version, depending on
			// whether Go could stamp this checkout's VCS state; the commit
			// is the one the action stamps with -ldflags.
			if stamped := regexp.MustCompile(`(?m)^upshift \S+\ncommit ` + sha + `\n`); !stamped.MatchString(log) {
				t.Errorf("output lacks the stamped version (upshift VERSION / commit %s):\n%s", sha, log)
			}
			var sarif struct {
				Runs []struct {
					Results []struct {
						RuleID              string
						PartialFingerprints map[string]string
					}
				}
			}
			raw, err := os.ReadFile(filepath.Join(ws, "upshift.sarif"))
			if err != nil {
				t.Fatalf("the SARIF step wrote no log: %v\n%s", err, log)
			}
			if err := json.Unmarshal(raw, &sarif); err != nil || len(sarif.Runs) != 1 {
				t.Fatalf("upshift.sarif: %v\n%s", err, raw)
			}
			if c.name == "deck" && strings.Contains(log, "kong/us/kong.yaml: ") {
				t.Errorf("a clean decK file was annotated:\n%s", log)
			}
			if c.wantFail == "upshift lint" && !bytes.Contains(raw, []byte(`"ruleId": "FMT"`)) {
				t.Errorf("upshift.sarif has no FMT result (check-format):\n%s", raw)
			}
			for _, r := range sarif.Runs[0].Results {
				if r.PartialFingerprints["primaryLocationLineHash"] == "" {
					t.Errorf("result %s has no partialFingerprints", r.RuleID)
				}
			}
		})
	}
}
