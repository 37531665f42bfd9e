package main

import (
	"bytes"
	"os"
	"testing"
)

// TestSandboxPlansAreCanonical: every plan the sandbox writes (each
// strategy, with and without the rollback block) is already in
// `upshift fmt` form, since users read and copy them.
func TestSandboxPlansAreCanonical(t *testing.T) {
	for _, strategy := range []string{"dual_cluster", "blue_green", "in_place", "rolling"} {
		for _, extra := range []string{"", "  rollback {\n    requested = true\n  }\n"} {
			sb := &sandbox{strategy: strategy, dir: t.TempDir()}
			sb.vars = map[string]any{"Strategy": strategy, "From": "3.8.0", "To": "3.9.1",
				"XAdmin": "127.0.0.1:1", "XStatus": "127.0.0.1:2", "XProxy": "127.0.0.1:3",
				"YAdmin": "127.0.0.1:4", "YStatus": "127.0.0.1:5", "YProxy": "127.0.0.1:6",
				"DSNX": "postgres://x", "DSNY": "postgres://y", "VerifyDSN": "postgres://v",
				"XStart": `["true"]`, "XStop": `["true"]`, "YStart": `["true"]`, "YStop": `["true"]`,
				"Kong": `["kong"]`, "Backups": "/tmp/b", "Upstream": "/tmp/u.conf", "Test": `["true"]`, "Reload": `["true"]`, "Key": "k",
				"XNodes": []map[string]string{{"Name": "x1", "Admin": "a", "Status": "s", "Proxy": "p", "Start": `["true"]`, "Stop": `["true"]`}},
				"YNodes": []map[string]string{{"Name": "y1", "Admin": "a", "Status": "s", "Proxy": "p", "Start": `["true"]`, "Stop": `["true"]`}}}
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
