package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// runsSandbox writes the dual-cluster sandbox plan (clusters that do not
// answer) into root/plans, for strategy, with root a repository (.git).
func runsSandbox(t *testing.T, root, strategy string) *sandbox {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	sb := &sandbox{strategy: strategy, dir: root}
	sb.vars = map[string]any{"Strategy": strategy, "From": "3.8.0", "To": "3.9.1",
		"XAdmin": "127.0.0.1:1", "XStatus": "127.0.0.1:2", "XProxy": "127.0.0.1:3",
		"YAdmin": "127.0.0.1:4", "YStatus": "127.0.0.1:5", "YProxy": "127.0.0.1:6",
		"DSNX": "postgres://kong@127.0.0.1:7/x", "DSNY": "postgres://kong@127.0.0.1:7/y", "VerifyDSN": "postgres://kong@127.0.0.1:7/v",
		"XStart": `["true"]`, "XStop": `["true"]`, "YStart": `["true"]`, "YStop": `["true"]`,
		"Kong": `["kong"]`, "Backups": t.TempDir(), "Upstream": "/tmp/u.conf", "Test": `["true"]`, "Reload": `["true"]`, "Key": "k"}
	if strategy == "blue_green" {
		sb.vars["From"] = "3.9.0" // blue-green between patches (UP007)
	}
	if err := sb.writePlan(""); err != nil {
		t.Fatal(err)
	}
	return sb
}

func runCmd(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	return code, out.String(), errOut.String()
}

// TestApplyMeetsTheAgentInTheDeclaredJournal (issue 10, finding 1): the
// agent is converging a plan in the journal the repository's upshift.hcl
// declares (its run started, its lease live); upshift apply of the same
// plan from a checkout, with default flags, opens that journal and is
// refused before any step, naming the holder. With --journal-dir elsewhere
// it says loudly that it is not the declared journal.
func TestApplyMeetsTheAgentInTheDeclaredJournal(t *testing.T) {
	ctx := context.Background()
	root, journal := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "upshift.hcl"), []byte("journal {\n  dir = \""+journal+"\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sb := runsSandbox(t, root, "dual_cluster")
	store, err := engine.OpenDir(journal, engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lease, err := store.Acquire(ctx, "sandbox-dual_cluster", "agent prod-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)
	if _, err := store.Append(ctx, engine.Record{Plan: "sandbox-dual_cluster", Kind: engine.KindEvent, Event: engine.EventRunStarted, Token: lease.Token,
		Commit: "0123456789abcdef0123", Actor: engine.Actor{Agent: "prod-1"}, Details: map[string]string{"digest": "d", "cluster": "sandbox"}}); err != nil {
		t.Fatal(err)
	}
	before, _ := store.Records(ctx, "sandbox-dual_cluster", 0)

	code, out, errOut := runCmd("apply", sb.planPath())
	if code != exitFail || !strings.Contains(errOut, "lease held by agent prod-1") {
		t.Fatalf("apply with default flags: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if after, _ := store.Records(ctx, "sandbox-dual_cluster", 0); len(after) != len(before) {
		t.Errorf("the refused apply wrote %d journal records", len(after)-len(before))
	}
	// plan reads the same journal: it shows the agent's run.
	if code, out, errOut := runCmd("plan", sb.planPath()); code != exitOK || !strings.Contains(out, `started by agent "prod-1" from commit 0123456789ab`) {
		t.Errorf("plan with default flags: exit %d\n%s\n%s", code, out, errOut)
	}
	// Another journal by flag: allowed, but not silently.
	other := t.TempDir()
	_, _, errOut = runCmd("plan", sb.planPath(), "--journal-dir", other)
	if !strings.Contains(errOut, "upshift plan: warning: journal dir "+other+" differs from the one "+filepath.Join(root, "upshift.hcl")+" declares (dir "+journal+")") {
		t.Errorf("no warning for a journal other than the declared one:\n%s", errOut)
	}
}

// TestApplyRefusesASecondPlanOfTheCluster (issue 10, finding 1): two plans
// of one cluster in two files, applied one file at a time with default
// flags (no upshift.hcl: the per-user default journal), where lint of
// either file alone cannot see the other (UP023): the second is refused
// while the first's run is unfinished, naming its run, plan and commit.
func TestApplyRefusesASecondPlanOfTheCluster(t *testing.T) {
	ctx := context.Background()
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	root := t.TempDir()
	first := runsSandbox(t, root, "dual_cluster")
	second := runsSandbox(t, root, "blue_green")
	// The first plan's run: started, stopped (its guard found X down).
	code, out, errOut := runCmd("apply", first.planPath())
	if code != exitFail || !strings.Contains(out, "guard") {
		t.Fatalf("first apply: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCmd("apply", second.planPath())
	for _, want := range []string{`cluster "sandbox" has an unfinished run: plan "sandbox-dual_cluster", run started at seq 1`, "one run per cluster"} {
		if code != exitFail || !strings.Contains(errOut, want) {
			t.Errorf("second apply: exit %d, want %q in\nstdout %s\nstderr %s", code, want, out, errOut)
		}
	}
	if strings.Contains(out, "guard") {
		t.Errorf("the second plan ran a step:\n%s", out)
	}
	st, err := defaultStateJournal()
	if err != nil {
		t.Fatal(err)
	}
	store, err := engine.OpenDir(st, engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if recs, _ := store.Records(ctx, "sandbox-blue_green", 0); len(recs) != 0 {
		t.Errorf("the refused plan has %d journal records", len(recs))
	}
}

// TestAgentUsesTheDeclaredJournal: with default flags the agent journals
// where the repository's upshift.hcl says (the journal apply opens from a
// checkout), not in DATA-DIR/journal.
func TestAgentUsesTheDeclaredJournal(t *testing.T) {
	g := testenv.GitServer(t)
	journal, data := filepath.Join(t.TempDir(), "declared"), t.TempDir()
	g.NewRepo(t, "plans", map[string]string{
		"upshift.hcl":         "journal {\n  dir = \"" + journal + "\"\n}\n",
		"plans/a.upshift.hcl": "upgrade \"a\" {\n  cluster = \"c\"\n}\n",
	})
	port := testenv.FreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out, errOut bytes.Buffer
	go func() {
		done <- Main(ctx, []string{"agent", "--repo", g.RepoURL("plans"), "--path", "plans", "--data-dir", data,
			"--interval", "1h", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--id", "test-agent"},
			&streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port))
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("the agent did not start: %s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond) // polling an HTTP endpoint with a deadline
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("agent exit %d", code)
	}
	if _, err := os.Stat(journal); err != nil {
		t.Errorf("the declared journal: %v\n%s", err, errOut.String())
	}
	if _, err := os.Stat(filepath.Join(data, "journal")); err == nil {
		t.Errorf("the agent made DATA-DIR/journal although the repository declares one")
	}
}

// TestApplyRefusesToForgetALegacyJournal: a plan with a journal where
// earlier versions kept it (.upshift/journal next to the plan) is not
// silently started afresh in the new default journal; the error names the
// flag that continues it.
func TestApplyRefusesToForgetALegacyJournal(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	sb := runsSandbox(t, t.TempDir(), "dual_cluster")
	legacy := filepath.Join(filepath.Dir(sb.planPath()), ".upshift", "journal")
	if err := os.MkdirAll(filepath.Join(legacy, "sandbox-dual_cluster"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd("apply", sb.planPath())
	if code != exitFail || !strings.Contains(errOut, "--journal-dir "+legacy) || strings.Contains(out, "guard") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}
