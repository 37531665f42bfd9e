package engine

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/plan"
)

// TestInPlaceRollbackBeforeMigrations: in place, X is stopped (approved
// stop_current) and the apply is interrupted before the migrations start;
// a rollback then only starts X again: no restore is needed, X serves.
func TestInPlaceRollbackBeforeMigrations(t *testing.T) {
	t.Parallel()
	w := newCrashWorld(t, "in_place")
	load := func(src string) *plan.Plan {
		t.Helper()
		if err := os.WriteFile(w.planPath, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		set, diags := plan.NewParser().LoadPaths(w.planPath)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		return set.Plans[0]
	}
	b, err := os.ReadFile(w.planPath)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := New(Config{Plan: load(src), Store: w.store, Holder: "test", Drain: -1, WaitTimeout: 20 * w.waitUnit(),
		Progress: func(p Progress) {
			if p.Step == "stop_from" && p.Phase == PhaseDone {
				cancel() // Ctrl-C right after X stopped
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonInterrupted {
		t.Fatalf("apply: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if w.fleet.Running("x") || contains(intents(t, w.store, "crash"), "migrations_up") {
		t.Fatalf("want X stopped and no migration started; x running %v, intents %v", w.fleet.Running("x"), intents(t, w.store, "crash"))
	}
	i := strings.LastIndex(src, "}")
	rb := src[:i] + "  rollback {\n    requested = true\n  }\n}\n"
	e, err = New(Config{Plan: load(rb), Store: w.store, Holder: "test", Drain: -1, WaitTimeout: 20 * w.waitUnit()})
	if err != nil {
		t.Fatal(err)
	}
	out, err = e.Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonRolledBack || strings.Join(out.Ran, " ") != "rollback_start_from" {
		t.Fatalf("rollback: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if !w.fleet.Running("x") || w.fleet.Running("y") {
		t.Fatal("after the rollback X should run and Y not")
	}
	_, proxy, _ := w.fleet.URLs("x")
	waitStatus(t, proxy+"/health", 200)
}

// TestInPlaceEndToEndDowntime: an in-place upgrade 3.8.0 → 3.9.1 runs to
// the end while a probe requests X's proxy address (which Y takes over)
// every 20 ms without retrying. The engine reports the downtime it
// measured in start_to's outcome; the probe's own figure (first to last
// failed request) is logged beside it. No timing is asserted: only that
// there was downtime and that the engine measured and reported it.
func TestInPlaceEndToEndDowntime(t *testing.T) {
	t.Parallel()
	w := newCrashWorld(t, "in_place")
	set, diags := plan.NewParser().LoadPaths(w.planPath)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	_, proxy, _ := w.fleet.URLs("x")
	ctx, cancel := context.WithCancel(context.Background())
	probe := make(chan [3]any, 1)
	go func() {
		var first, last time.Time
		failed := 0
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		client := &http.Client{Timeout: time.Second}
		for {
			select {
			case <-ctx.Done():
				probe <- [3]any{first, last, failed}
				return
			case <-tick.C:
			}
			resp, err := client.Get(proxy + "/health")
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				now := time.Now()
				if first.IsZero() {
					first = now
				}
				last, failed = now, failed+1
			}
		}
	}()
	e, err := New(Config{Plan: set.Plans[0], Store: w.store, Holder: "test", Drain: -1, WaitTimeout: 20 * time.Second,
		RetryBase: 50 * time.Millisecond, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Apply(context.Background())
	cancel()
	p := <-probe
	if err != nil || out.Condition.Reason != ReasonConverged {
		t.Fatalf("apply: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	recs, err := w.store.Records(context.Background(), "crash", 0)
	if err != nil {
		t.Fatal(err)
	}
	measured, msg := "", ""
	for _, r := range recs {
		if r.Kind == KindOutcome && r.Step == "start_to" && r.Result == ResultOK {
			measured, msg = r.Details["downtime_ms"], r.Output
		}
	}
	first, last, failed := p[0].(time.Time), p[1].(time.Time), p[2].(int)
	t.Logf("in-place: engine measured downtime %s ms (%q); probe: %d failed requests over %s", measured, strings.SplitN(msg, "\n", 2)[0], failed, last.Sub(first).Round(time.Millisecond))
	if measured == "" || !strings.HasPrefix(msg, "downtime ") {
		t.Errorf("start_to's outcome carries no measured downtime: details %q output %q", measured, msg)
	}
	if failed == 0 {
		t.Error("the probe saw no failed request: an in-place upgrade has downtime")
	}
}
