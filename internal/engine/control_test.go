package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// routed is the traffic the load balancer routes now (From/To percent).
func routed(t *testing.T, e *Engine) string {
	t.Helper()
	pv, err := e.Preview(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tr := pv.Observed.Traffic; tr != nil && tr.Error == "" {
		return fmt.Sprintf("%d/%d", tr.From, tr.To)
	}
	return "unknown"
}

func control(t *testing.T, s Store, action, item string) error {
	t.Helper()
	_, err := Control(context.Background(), s, "dual-e2e", ControlRequest{Action: action, Item: item, Reason: "test " + action, By: "alice"}, Actor{Agent: "test"})
	return err
}

// TestControlPauseHoldsResumeAbort: upshift pause written while
// traffic_10 runs holds the next step (the apply stops Paused after
// traffic_10; the load balancer still routes 90/10, another apply runs
// nothing); resume continues; a pause written while pause_50 waits stops
// its countdown (its 300 ms pass, it does not end) until abort, which
// ends the wait and rolls back past the pause: all traffic to X.
func TestControlPauseHoldsResumeAbort(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	// A hold that never ends is this test's failure, not a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := lintedPlan(t, w.planSrc(""))
	var ce *ControlError
	if err := control(t, w.store, ActionPause, ""); !errors.Is(err, ErrNoPlan) {
		t.Fatalf("pause of a plan with no journal: %v", err)
	}
	var mu sync.Mutex
	held := 0
	onPause50 := func(pr Progress) {}
	mut := func(c *Config) {
		c.Progress = func(pr Progress) {
			if pr.Step == "traffic_10" && pr.Phase == PhaseStart {
				if err := control(t, w.store, ActionPause, ""); err != nil {
					t.Errorf("pause: %v", err)
				}
			}
			if pr.Step == "pause_50" {
				onPause50(pr)
			}
			if strings.Contains(pr.Message, "does not count down") {
				mu.Lock()
				held++
				mu.Unlock()
			}
			if pr.Phase != PhaseWait {
				t.Logf("progress: %s %s %s", pr.Step, pr.Phase, pr.Message)
			}
		}
	}
	e := engineFor(t, p, w.sim, w.store, mut)
	out, err := e.Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonPaused || out.Ran[len(out.Ran)-1] != "traffic_10" {
		t.Fatalf("apply with a pause during traffic_10: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if !strings.Contains(out.Condition.Message, "paused by alice: test pause") {
		t.Errorf("paused condition: %q", out.Condition.Message)
	}
	if got := routed(t, e); got != "90/10" {
		t.Errorf("split while paused: %s, want 90/10", got)
	}
	if out, err = e.Apply(ctx); err != nil || out.Condition.Reason != ReasonPaused || len(out.Ran) != 0 {
		t.Fatalf("apply again while paused: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if err := control(t, w.store, ActionPause, ""); !errors.As(err, &ce) {
		t.Errorf("pause while paused: %v, want a refusal", err)
	}
	if err := control(t, w.store, ActionApprove, "decommission"); !errors.As(err, &ce) || !strings.Contains(err.Error(), "not waiting for approval") {
		t.Errorf("approve before the gate: %v, want a refusal", err)
	}

	// Resume; pause again once pause_50's wait began: it does not count
	// down (seen held twice, a second apart, well past its 300 ms), then
	// abort ends it.
	if err := control(t, w.store, ActionResume, ""); err != nil {
		t.Fatal(err)
	}
	paused := false
	onPause50 = func(pr Progress) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case pr.Phase == PhaseWait && !paused:
			paused = true
			if err := control(t, w.store, ActionPause, ""); err != nil {
				t.Errorf("pause during pause_50: %v", err)
			}
		case held == 2:
			held++
			for _, r := range recordsOf(t, w.store) {
				if r.Kind == KindOutcome && r.Step == "pause_50" {
					t.Errorf("pause_50 ended while paused: %+v", r)
				}
			}
			if err := control(t, w.store, ActionAbort, ""); err != nil {
				t.Errorf("abort: %v", err)
			}
		}
	}
	out, err = e.Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonRolledBack || !strings.Contains(out.Condition.Message, "abort requested by alice: test abort") {
		t.Fatalf("apply after resume, pause in pause_50, abort: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if got := routed(t, e); got != "100/0" {
		t.Errorf("split after the abort: %s, want all to X", got)
	}
	var p50 Result
	for _, r := range recordsOf(t, w.store) {
		if r.Kind == KindOutcome && r.Step == "pause_50" {
			p50 = r.Result
		}
	}
	if p50 != ResultCancelled {
		t.Errorf("pause_50's outcome %q, want cancelled by the abort", p50)
	}
	if w.sim.node("y") != nil {
		t.Error("Y still runs after the abort's rollback")
	}
}

func recordsOf(t *testing.T, s Store) []Record {
	t.Helper()
	recs, err := s.Records(context.Background(), "dual-e2e", 0)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestControlApproveAtTheGateThenAbortPastNoReturn: blue-green stops at
// finish's gate; upshift approve of another item is refused; approve
// finish (the plan's approve list untouched) crosses it; abort after that
// point of no return stalls RestoreNeeded as a requested rollback does,
// and X's database keeps finish's migrations (nothing rolled back).
func TestControlApproveAtTheGateThenAbortPastNoReturn(t *testing.T) {
	t.Parallel()
	w := newBGWorld(t)
	ctx := context.Background()
	ctl := func(action, item string) error {
		_, err := Control(ctx, w.store, "bg", ControlRequest{Action: action, Item: item, Reason: "test", By: "bob"}, Actor{Agent: "test"})
		return err
	}
	e := engineFor(t, lintedPlan(t, w.planSrc(`["sim", "stop", "x"]`, "")), w.sim, w.store)
	out, err := e.Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval || !strings.Contains(out.Condition.Message, "migrations_finish") {
		t.Fatalf("apply: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	var ce *ControlError
	if err := ctl(ActionApprove, "decommission"); !errors.As(err, &ce) {
		t.Fatalf("approve of an item the run does not wait for: %v", err)
	}
	if err := ctl(ActionApprove, "finish"); err != nil {
		t.Fatal(err)
	}
	if err := ctl(ActionApprove, "finish"); !errors.As(err, &ce) || !strings.Contains(err.Error(), "already approved by bob") {
		t.Fatalf("approve twice: %v", err)
	}
	out, err = e.Apply(ctx)
	if err != nil || !contains(out.Ran, "migrations_finish") {
		t.Fatalf("apply after approve: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if w.pendingFinish(t) {
		t.Fatal("001_360_to_370 still pending after finish")
	}
	if err := ctl(ActionAbort, ""); err != nil {
		t.Fatal(err)
	}
	out, err = e.Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonRestoreNeeded || len(out.Ran) != 0 {
		t.Fatalf("apply after abort past finish: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if w.pendingFinish(t) {
		t.Error("finish's migration undone")
	}
}
