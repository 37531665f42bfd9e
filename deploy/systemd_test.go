package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/testenv"
)

const unitFile = "systemd/upshift-agent.service"

// unitSettings reads a unit file's Key=Value lines (every value of a key).
func unitSettings(t *testing.T, text string) map[string][]string {
	t.Helper()
	kv := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not Key=Value: %q", unitFile, line)
		}
		kv[k] = append(kv[k], v)
	}
	return kv
}

// TestSystemdUnit runs systemd-analyze verify on the unit (its ExecStart
// pointed at the binary the Dockerfile's build line makes, which verify
// requires to exist): any message, a warning about an unknown key
// included, fails. The hardening options the docs promise are checked by
// name, systemd-analyze security's offline exposure score must stay
// "OK" (below 3.0), and the ExecStart's flags are ones upshift agent
// accepts.
func TestSystemdUnit(t *testing.T) {
	sa := testenv.NeedBinary(t, "systemd-analyze", "systemd")
	raw, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	kv := unitSettings(t, string(raw))
	for k, want := range map[string]string{
		"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "StateDirectory": "upshift", "CapabilityBoundingSet": "",
	} {
		if v := kv[k]; len(v) != 1 || v[0] != want {
			t.Errorf("%s=%v, want %q", k, v, want)
		}
	}

	bin := dockerfileBinary(t)
	dir := t.TempDir()
	unit := filepath.Join(dir, "upshift-agent.service")
	text := strings.ReplaceAll(string(raw), "/usr/local/bin/upshift", bin)
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sa, "verify", unit)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	out, err = exec.Command(sa, "security", "--offline=yes", "--no-pager", unit).CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for upshift-agent.service: (\d+\.\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f", score)
	if score >= 3.0 {
		t.Errorf("exposure %.1f, want below 3.0 (OK)\n%s", score, out)
	}

	// The ExecStart's flags, with the variables as agent.env sets them:
	// upshift agent parses them all (-h: it prints its usage and starts
	// nothing).
	env := map[string]string{"UPSHIFT_REPO": "https://git.example.com/plans.git", "UPSHIFT_ARGS": "--webhook-github-secret-env UPSHIFT_WEBHOOK_SECRET"}
	for _, e := range kv["Environment"] {
		for _, f := range strings.Fields(e) {
			k, v, _ := strings.Cut(f, "=")
			if _, set := env[k]; !set {
				env[k] = v
			}
		}
	}
	exec0 := kv["ExecStart"]
	if len(exec0) != 1 {
		t.Fatalf("ExecStart=%v", exec0)
	}
	var args []string
	for _, w := range strings.Fields(exec0[0])[1:] {
		if name, ok := strings.CutPrefix(w, "$"); ok && !strings.HasPrefix(name, "{") {
			args = append(args, strings.Fields(env[name])...) // $VAR: split into words
			continue
		}
		args = append(args, os.Expand(w, func(k string) string { return env[k] }))
	}
	checkAgentFlags(t, bin, args)
}

// checkAgentFlags runs upshift ARGS -h: every flag before -h must be one
// the command defines, with a value of its type.
func checkAgentFlags(t *testing.T, bin string, args []string) {
	t.Helper()
	if len(args) == 0 || args[0] != "agent" {
		t.Fatalf("args %q: want upshift agent ...", args)
	}
	out, err := exec.Command(bin, append(args, "-h")...).CombinedOutput()
	if err != nil {
		t.Errorf("upshift %s -h: %v\n%s", strings.Join(args, " "), err, out)
	}
}
