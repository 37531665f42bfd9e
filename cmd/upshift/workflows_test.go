package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// repoRoot is the repository root, two levels above this package.
const repoRoot = "../.."

// workflowFiles lists every GitHub workflow in the repository: the ones CI
// runs and the example for plan repositories.
func workflowFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{".github/workflows/*.yml", ".github/workflows/*.yaml", "examples/github-workflow/*.yml"} {
		m, err := filepath.Glob(filepath.Join(repoRoot, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 2 {
		t.Fatalf("found only %v: expected CI's workflow and the example", files)
	}
	return files
}

// actionlintVersion is the actionlint release the workflows are checked
// with. It runs as its own binary, built by `go install module@version` in
// its own module context: actionlint v1.7.12 needs go.yaml.in/yaml/v4
// rc.3, and this module's graph (go-database-reconciler) selects rc.4, whose
// API differs, so it cannot be linked in as a library here.
const actionlintVersion = "v1.7.12"

// actionlintBinary builds actionlint into a temporary directory. Without
// the go tool or the module proxy the test is skipped, except in CI (CI
// set), where it fails.
func actionlintBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err == nil {
		dir := t.TempDir()
		cmd := exec.Command(goTool, "install", "github.com/rhysd/actionlint/cmd/actionlint@"+actionlintVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off")
		var out []byte
		if out, err = cmd.CombinedOutput(); err == nil {
			return filepath.Join(dir, "actionlint")
		}
		err = fmt.Errorf("%w\n%s", err, out)
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("cannot build actionlint %s: %v", actionlintVersion, err)
	}
	t.Skipf("cannot build actionlint %s: %v", actionlintVersion, err)
	return ""
}

// actionlintFinding is one entry of actionlint's JSON output.
type actionlintFinding struct {
	Message  string `json:"message"`
	Filepath string `json:"filepath"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Kind     string `json:"kind"`
}

// runActionlint lints files and returns the findings.
func runActionlint(t *testing.T, bin, shellcheck string, files ...string) []actionlintFinding {
	t.Helper()
	args := append([]string{"-format", "{{json .}}", "-shellcheck=" + shellcheck, "-pyflakes="}, files...)
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !(errors.As(err, &exitErr) && exitErr.ExitCode() == 1) {
		t.Fatalf("actionlint: %v\n%s", err, stderr.String())
	}
	var found []actionlintFinding
	if err := json.Unmarshal(stdout.Bytes(), &found); err != nil {
		t.Fatalf("actionlint output: %v\n%s", err, stdout.String())
	}
	return found
}

// TestWorkflowsActionlint runs actionlint over every workflow (ci.yml uses
// the local action, so actionlint also checks action.yml's inputs); any
// finding fails. Shell scripts in run: steps are checked with shellcheck
// when it is installed (CI installs it); without it that part is off, and
// the test says so, except under CI, where it fails.
func TestWorkflowsActionlint(t *testing.T) {
	bin := actionlintBinary(t)
	// Without it actionlint runs without its shell-script checks.
	shellcheck := testenv.OptionalBinary(t, "shellcheck", "shellcheck")
	for _, f := range runActionlint(t, bin, shellcheck, workflowFiles(t)...) {
		t.Errorf("%s:%d:%d: %s [%s]", f.Filepath, f.Line, f.Column, f.Message, f.Kind)
	}

	// The linter must be able to fail: a workflow with an undefined job
	// dependency and an unknown context property.
	bad := filepath.Join(t.TempDir(), "bad.yml")
	src := "on: push\njobs:\n  a:\n    needs: [nope]\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope.x }}\n"
	if err := os.WriteFile(bad, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if found := runActionlint(t, bin, "", bad); len(found) < 2 {
		t.Errorf("actionlint found %v in a broken workflow, want at least 2 problems", found)
	}
}

// actionMeta is the part of action.yml this test checks.
type actionMeta struct {
	Name   string
	Inputs map[string]struct {
		Description string
		Default     *string
	}
	Runs struct {
		Using string
		Steps []struct {
			Name  string
			Uses  string
			Run   string
			Shell string
		}
	}
}

// TestCompositeAction checks action.yml, which actionlint does not lint on
// its own (it reads it only when a workflow uses the local action, as
// ci.yml does): a composite action with the documented inputs, a shell on
// every run step, the install by go install of the module path, and lint
// in github format by default.
func TestCompositeAction(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a actionMeta
	if err := yaml.Unmarshal(raw, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	if a.Runs.Using != "composite" {
		t.Errorf("runs.using = %q, want composite", a.Runs.Using)
	}
	for _, in := range []string{"path", "format", "version", "strict"} {
		if _, ok := a.Inputs[in]; !ok {
			t.Errorf("action.yml has no input %q", in)
		} else if a.Inputs[in].Description == "" {
			t.Errorf("input %q has no description", in)
		}
	}
	if d := a.Inputs["format"].Default; d == nil || *d != "github" {
		t.Errorf("input format's default = %v, want github", d)
	}
	var install, lint bool
	for i, s := range a.Runs.Steps {
		if s.Run != "" && s.Shell == "" {
			t.Errorf("step %d (%s) runs a script without shell:", i, s.Name)
		}
		install = install || strings.Contains(s.Run, "go install \"github.com/upshift-dev/upshift/cmd/upshift@${VERSION}\"")
		lint = lint || strings.Contains(s.Run, "upshift \"${args[@]}\"")
	}
	if !install || !lint {
		t.Errorf("action.yml: install step found %v, lint step found %v", install, lint)
	}
	// The SARIF and shell parts are linted by actionlint through ci.yml's
	// `uses: ./`; check that ci.yml still uses the local action.
	ci, err := os.ReadFile(filepath.Join(repoRoot, ".github/workflows/ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(ci, []byte("uses: ./\n")) {
		t.Error("ci.yml no longer runs the local action (uses: ./)")
	}
}
