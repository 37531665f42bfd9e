package agent_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/agent"
	"github.com/upshift-dev/upshift/internal/engine"
)

// TestGitOpsRollbackInterruptsALongPause: rollback { requested = true }
// committed while the run sits in a 10-minute pause with an analysis
// measured every 5 minutes does not wait for the pause or the analysis:
// the agent cancels the running apply (pause_10's outcome: cancelled) and
// the rollback starts within seconds; traffic returns to X, Y stops.
// Then run = 2 committed starts a new run.
func TestGitOpsRollbackInterruptsALongPause(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	gw := newGitOpsWorld(t, ctx)
	xAdmin, _, _ := gw.f.URLs("x")
	resp, err := http.PostForm(xAdmin+"/plugins", url.Values{"name": {"prometheus"}, "config.status_code_metrics": {"true"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("enable prometheus on X: %s", resp.Status)
	}
	a, store := gw.startAgent(t, ctx, "agent-rollback")
	long := func(extra string) string {
		return strings.Replace(gw.planFile(`  analysis "y_not_worse_than_x" {
    compare           = "kong_metrics"
    error_rate_margin = 0.005
    interval          = "5m"
  }
`+extra), `pause  = "6s"`, `pause  = "10m"`, 1)
	}
	status := func() agent.PlanStatus {
		for _, p := range a.Status(ctx).Plans {
			if p.Name == "prod-3-9" {
				return p
			}
		}
		return agent.PlanStatus{}
	}
	poll := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: plan %+v", what, status().Condition)
			}
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: %v", what, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}

	gw.push(map[string]string{"plans/prod.upshift.hcl": long("")}, "upgrade prod to 3.9.1, a long first pause")
	poll("the 10-minute pause at 10%", func() bool { p := status(); return p.Running && p.Step == "pause_10" })
	rb := gw.push(map[string]string{"plans/prod.upshift.hcl": long("  rollback {\n    requested = true\n  }\n")}, "roll back now")
	pushed := time.Now()
	poll("the agent to see the commit", func() bool { return a.Status(ctx).Head == rb })
	seen := time.Since(pushed)
	var started time.Duration
	poll("rollback_traffic to begin", func() bool {
		recs, err := store.Records(ctx, "prod-3-9", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Kind == engine.KindIntent && r.Step == "rollback_traffic" {
				started = r.Time.Sub(pushed)
				return true
			}
		}
		return false
	})
	// Within the 90 s of poll's deadline, far less than the pause: the
	// figure itself is logged, not asserted.
	t.Logf("the agent saw the commit %s after the push, rollback_traffic began %s after it",
		seen.Round(time.Millisecond), started.Round(time.Millisecond))
	poll("the rollback to finish", func() bool { p := status(); return !p.Running && p.Condition.Reason == engine.ReasonRolledBack })
	// The status says how to upgrade again, as upshift plan does.
	const note = "run 1 rolled back; to upgrade again, remove rollback { requested = true } and set run = 2"
	poll("the status's run note", func() bool { return status().RunNote == note })
	if gw.f.Running("y") || !gw.f.Running("x") {
		t.Fatalf("after the rollback: x running %v, y running %v", gw.f.Running("x"), gw.f.Running("y"))
	}
	if w := weights(t, gw.ng.UpstreamFile()); !strings.Contains(w, "Split: from 100% / to 0%") {
		t.Fatalf("upstream after the rollback:\n%s", w)
	}
	recs, _ := store.Records(ctx, "prod-3-9", 0)
	var pauseResult engine.Result
	for _, r := range recs {
		if r.Kind == engine.KindOutcome && r.Step == "pause_10" {
			pauseResult = r.Result
		}
	}
	if pauseResult != engine.ResultCancelled {
		t.Errorf("pause_10's outcome: %q, want cancelled (interrupted by the plan change)", pauseResult)
	}

	// Upgrading again is explicit, as with upshift apply: run = 2 in a
	// commit starts a new run, from the guard to traffic on Y again.
	gw.push(map[string]string{"plans/prod.upshift.hcl": long("  run = 2\n")}, "upgrade prod to 3.9.1 again: run 2")
	poll("run 2 at the 10-minute pause", func() bool { p := status(); return p.Running && p.Step == "pause_10" })
	if w := weights(t, gw.ng.UpstreamFile()); !strings.Contains(w, "Split: from 90% / to 10%") {
		t.Errorf("upstream in run 2's pause:\n%s", w)
	}
	recs, _ = store.Records(ctx, "prod-3-9", 0)
	var runs []string
	for _, r := range recs {
		if r.Kind == engine.KindEvent && r.Event == engine.EventRunStarted {
			runs = append(runs, r.Details["run"])
		}
	}
	if strings.Join(runs, ",") != "1,2" {
		t.Errorf("run_started records' run: %q, want 1 then 2", runs)
	}
	if res := gw.load(); res.Failed != 0 {
		t.Errorf("%d of %d requests failed: %v", res.Failed, res.Requests, res.Errors)
	}
}
