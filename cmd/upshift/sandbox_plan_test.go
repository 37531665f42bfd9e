package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestSandboxPlansAreCanonical: every plan the sandbox writes (each
// strategy, with and without the rollback block) is already in
// `upshift fmt` form, since users read and copy them.
func TestSandboxPlansAreCanonical(t *testing.T) {
	for _, strategy := range []string{"dual_cluster", "blue_green", "in_place", "rolling"} {
		for _, extra := range []string{"", "  rollback {\n    requested = true\n  }\n"} {
			sb := fakeSandbox(t, strategy)
			if err := sb.writePlan(extra); err != nil {
				t.Fatal(err)
			}
			src, err := os.ReadFile(sb.planPath())
			if err != nil {
				t.Fatal(err)
			}
			if got := canonical(src); !bytes.Equal(got, src) {
				t.Errorf("%s plan (extra %q) is not canonical:\n%s\nwant:\n%s", strategy, extra, src, got)
			}
		}
	}
}

// TestSandboxPlansPassLintStrict: the zero-downtime plans the sandbox
// writes judge Y with a kong_metrics analysis and pass `upshift lint
// --strict` (UP021 not acknowledged away); in place, whose downtime lint
// warns about on purpose, has no traffic steps to judge and no UP021.
func TestSandboxPlansPassLintStrict(t *testing.T) {
	for _, strategy := range []string{"dual_cluster", "blue_green", "in_place", "rolling"} {
		sb := fakeSandbox(t, strategy)
		sb.vars["From"], sb.vars["To"] = sandboxVersions[strategy][0], sandboxVersions[strategy][1]
		if err := sb.writePlan(""); err != nil {
			t.Fatal(err)
		}
		var out, errOut strings.Builder
		code := Main(t.Context(), []string{"lint", "--strict", sb.planPath()}, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		if strategy != "in_place" && code != exitOK {
			t.Errorf("%s: lint --strict exit %d\n%s%s", strategy, code, out.String(), errOut.String())
		}
		if strings.Contains(out.String()+errOut.String(), "UP021") {
			t.Errorf("%s: lint names UP021:\n%s%s", strategy, out.String(), errOut.String())
		}
		src, _ := os.ReadFile(sb.planPath())
		if strings.Contains(string(src), "UP021") {
			t.Errorf("%s: the plan acknowledges UP021", strategy)
		}
		if hasAnalysis := strings.Contains(string(src), `compare           = "kong_metrics"`); hasAnalysis != (strategy != "in_place") {
			t.Errorf("%s: kong_metrics analysis %v", strategy, hasAnalysis)
		}
	}
}

// fakeSandbox is a sandbox whose plan names addresses nothing listens on.
func fakeSandbox(t *testing.T, strategy string) *sandbox {
	sb := &sandbox{strategy: strategy, dir: t.TempDir()}
	sb.vars = map[string]any{"Strategy": strategy, "From": "3.8.0", "To": "3.9.1",
		"XAdmin": "127.0.0.1:1", "XStatus": "127.0.0.1:2", "XProxy": "127.0.0.1:3",
		"YAdmin": "127.0.0.1:4", "YStatus": "127.0.0.1:5", "YProxy": "127.0.0.1:6",
		"DSNX": "postgres://x", "DSNY": "postgres://y", "VerifyDSN": "postgres://v",
		"XStart": `["true"]`, "XStop": `["true"]`, "YStart": `["true"]`, "YStop": `["true"]`,
		"Kong": `["kong"]`, "Backups": "/tmp/b", "Upstream": "/tmp/u.conf", "Test": `["true"]`, "Reload": `["true"]`, "Key": "k",
		"XNodes": []map[string]string{{"Name": "x1", "Admin": "a", "Status": "s", "Proxy": "p", "Start": `["true"]`, "Stop": `["true"]`}},
		"YNodes": []map[string]string{{"Name": "y1", "Admin": "a", "Status": "s", "Proxy": "p", "Start": `["true"]`, "Stop": `["true"]`}}}
	return sb
}
