package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestLogFlagsEverywhere: apply, agent, sandbox, backup and restore
// each take --log-format and --log-level and refuse a bad value (a usage
// error, exit 2); backup with --log-level debug --log-format json writes
// JSON log records on stderr.
func TestLogFlagsEverywhere(t *testing.T) {
	ctx := context.Background()
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(ctx, args, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		return code, out.String(), errOut.String()
	}
	for _, args := range [][]string{
		{"apply", "p.hcl"},
		{"agent", "--repo", "file:///nowhere", "--data-dir", t.TempDir()},
		{"sandbox"},
		{"backup", "p.hcl"},
		{"restore", "p.hcl", "--from", "m.json", "--target-env", "T"},
	} {
		if code, _, errOut := run(append(args, "--log-format", "xml")...); code != exitUsage || !strings.Contains(errOut, "--log-format must be text or json") {
			t.Errorf("%s --log-format xml: exit %d\n%s", args[0], code, errOut)
		}
		if code, _, errOut := run(append(args, "--log-level", "loud")...); code != exitUsage || !strings.Contains(errOut, "--log-level") {
			t.Errorf("%s --log-level loud: exit %d\n%s", args[0], code, errOut)
		}
	}

	sb := &sandbox{strategy: "dual_cluster", dir: t.TempDir()}
	sb.vars = map[string]any{"Strategy": "dual_cluster", "From": "3.8.0", "To": "3.9.1",
		"XAdmin": "127.0.0.1:1", "XStatus": "127.0.0.1:2", "XProxy": "127.0.0.1:3",
		"YAdmin": "127.0.0.1:4", "YStatus": "127.0.0.1:5", "YProxy": "127.0.0.1:6",
		"DSNX": "postgres://kong@127.0.0.1:7/x", "DSNY": "postgres://kong@127.0.0.1:7/y", "VerifyDSN": "postgres://kong@127.0.0.1:7/v",
		"XStart": `["true"]`, "XStop": `["true"]`, "YStart": `["true"]`, "YStop": `["true"]`,
		"Kong": `["kong"]`, "Backups": t.TempDir(), "Upstream": "/tmp/u.conf", "Test": `["true"]`, "Reload": `["true"]`, "Key": "k"}
	if err := sb.writePlan(""); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run("backup", sb.planPath(), "--log-level", "debug", "--log-format", "json")
	first, _, _ := strings.Cut(errOut, "\n")
	var rec map[string]any
	if code != exitFail || json.Unmarshal([]byte(first), &rec) != nil || rec["msg"] != "backing up" || rec["level"] != "DEBUG" {
		t.Errorf("backup --log-level debug --log-format json (X is not there: it fails): exit %d\n%s", code, errOut)
	}
	if _, _, errOut := run("backup", sb.planPath()); strings.Contains(errOut, "backing up") {
		t.Errorf("backup logs at debug by default:\n%s", errOut)
	}
}
