package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/agent"
	"github.com/upshift-dev/upshift/internal/engine"
)

// TestApplyRefusesAnAgentsRun: the journal says an agent started the
// plan's current run and has not finished it; upshift apply refuses with
// the agent and commit named and how to go on, and changes nothing;
// upshift plan shows whose run it is.
func TestApplyRefusesAnAgentsRun(t *testing.T) {
	ctx := context.Background()
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
	journal := t.TempDir()
	store, err := engine.OpenDir(journal, engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, engine.Record{Plan: "sandbox-dual_cluster", Kind: engine.KindEvent, Event: engine.EventRunStarted,
		Commit: "0123456789abcdef0123", Actor: engine.Actor{Agent: "agent prod-1"}, Details: map[string]string{"digest": "d"}}); err != nil {
		t.Fatal(err)
	}
	before, _ := store.Records(ctx, "sandbox-dual_cluster", 0)
	_ = store.Close()
	var out, errOut bytes.Buffer
	code := Main(ctx, []string{"apply", sb.planPath(), "--journal-dir", journal}, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	if code != exitFail || !strings.Contains(errOut.String(), `agent "agent prod-1" is running this plan (from commit 0123456789ab)`) ||
		!strings.Contains(errOut.String(), "--take-over") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out.String(), errOut.String())
	}
	// upshift plan says whose run it is.
	out.Reset()
	errOut.Reset()
	Main(ctx, []string{"plan", sb.planPath(), "--journal-dir", journal}, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	if !strings.Contains(out.String(), `Run: in progress, started by agent "agent prod-1" from commit 0123456789ab`) {
		t.Errorf("plan does not name the run's agent:\n%s\n%s", out.String(), errOut.String())
	}
	store, err = engine.OpenDir(journal, engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if after, _ := store.Records(ctx, "sandbox-dual_cluster", 0); len(after) != len(before) {
		t.Errorf("the refused apply wrote %d journal records", len(after)-len(before))
	}
}

// TestApplyHeaderSaysRollingBack: apply's first line says what it does:
// "Applying" an upgrade; "Rolling back" when the plan requests it, and
// when the run's rollback began (a failed gate) with the plan unchanged.
func TestApplyHeaderSaysRollingBack(t *testing.T) {
	ctx := context.Background()
	sb := &sandbox{strategy: "dual_cluster", dir: t.TempDir()}
	sb.vars = map[string]any{"Strategy": "dual_cluster", "From": "3.8.0", "To": "3.9.1",
		"XAdmin": "127.0.0.1:1", "XStatus": "127.0.0.1:2", "XProxy": "127.0.0.1:3",
		"YAdmin": "127.0.0.1:4", "YStatus": "127.0.0.1:5", "YProxy": "127.0.0.1:6",
		"DSNX": "postgres://kong@127.0.0.1:7/x", "DSNY": "postgres://kong@127.0.0.1:7/y", "VerifyDSN": "postgres://kong@127.0.0.1:7/v",
		"XStart": `["true"]`, "XStop": `["true"]`, "YStart": `["true"]`, "YStop": `["true"]`,
		"Kong": `["kong"]`, "Backups": t.TempDir(), "Upstream": "/tmp/u.conf", "Test": `["true"]`, "Reload": `["true"]`, "Key": "k"}
	store, err := engine.OpenDir(t.TempDir(), engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	header := func(extra string) string {
		t.Helper()
		if err := sb.writePlan(extra); err != nil {
			t.Fatal(err)
		}
		p, err := loadOnePlan(sb.planPath(), "")
		if err != nil {
			t.Fatal(err)
		}
		return applyHeader(ctx, store, p)
	}
	if got := header(""); got != `Applying "sandbox-dual_cluster": dual_cluster 3.8.0 → 3.9.1` {
		t.Errorf("upgrade: %q", got)
	}
	if got := header("  rollback {\n    requested = true\n  }\n"); !strings.HasPrefix(got, `Rolling back "sandbox-dual_cluster": dual_cluster`) ||
		!strings.HasSuffix(got, ": rollback { requested = true }") {
		t.Errorf("requested rollback: %q", got)
	}
	for _, r := range []engine.Record{
		{Plan: "sandbox-dual_cluster", Kind: engine.KindEvent, Event: engine.EventRunStarted, Details: map[string]string{"digest": "d"}},
		{Plan: "sandbox-dual_cluster", Kind: engine.KindEvent, Event: engine.EventRollbackRequested, Details: map[string]string{"reason": "analysis errors failed 2 times", "gate": "pause_50"}},
	} {
		if _, err := store.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if got := header(""); !strings.HasPrefix(got, "Rolling back ") || !strings.HasSuffix(got, ": analysis errors failed 2 times") {
		t.Errorf("after a failed gate: %q", got)
	}
}

// TestStatusHeaderNamesAgentOnce: an agent's ID is "agent HOST-PID";
// status's header says "Agent HOST-PID", not "Agent agent HOST-PID".
func TestStatusHeaderNamesAgentOnce(t *testing.T) {
	var b bytes.Buffer
	writeStatusTable(&b, agent.Status{Agent: "agent prod-1-4242", Role: "leader"}, false)
	if got := b.String(); !strings.HasPrefix(got, "Agent prod-1-4242 (leader)") {
		t.Errorf("header: %q", got)
	}
}
