package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
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
// every 20 ms without retrying. start_to's outcome reports the downtime
// the engine measured, and that window holds every failed request (a
// timeout, a slow answer on a loaded machine, is counted apart): it
// starts no later than the first failure was seen (X stops serving while
// from.stop runs, before the engine sees it down) and ends no earlier than
// the last failed request was sent. Only the order of events is asserted,
// no duration.
func TestInPlaceEndToEndDowntime(t *testing.T) {
	t.Parallel()
	w := newCrashWorld(t, "in_place")
	set, diags := plan.NewParser().LoadPaths(w.planPath)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	_, proxy, _ := w.fleet.URLs("x")
	ctx, cancel := context.WithCancel(context.Background())
	type probeResult struct {
		firstSeen, lastSent    time.Time
		failed, sent, timeouts int
		first                  string // the first failure
	}
	probe := make(chan probeResult, 1)
	go func() {
		var r probeResult
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		client := &http.Client{Timeout: time.Second}
		for {
			select {
			case <-ctx.Done():
				probe <- r
				return
			case <-tick.C:
			}
			sent := time.Now()
			resp, err := client.Get(proxy + "/health")
			if err == nil {
				resp.Body.Close()
			}
			r.sent++
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// A slow answer on a loaded machine, not the downtime
				// (nothing listens then: refused at once).
				r.timeouts++
				continue
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				if r.firstSeen.IsZero() {
					r.firstSeen, r.first = time.Now(), fmt.Sprint(err)
					if err == nil {
						r.first = resp.Status
					}
				}
				r.lastSent, r.failed = sent, r.failed+1
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
	d := downtimeOf(t, w.store)
	t.Logf("in-place: engine measured downtime %s ms (%q); probe: %d of %d requests failed (and %d timed out), first seen %s, last sent %s (%d × 20 ms = %s)",
		d.ms, d.msg, p.failed, p.sent, p.timeouts, p.firstSeen.Format(time.RFC3339Nano), p.lastSent.Format(time.RFC3339Nano), p.failed, time.Duration(p.failed)*20*time.Millisecond)
	if p.failed == 0 {
		t.Fatal("the probe saw no failed request: an in-place upgrade has downtime")
	}
	if d.from.After(p.firstSeen) {
		t.Errorf("the measured downtime starts at %s, after the probe's first failure at %s (%s): it misses the start", d.from.Format(time.RFC3339Nano), p.firstSeen.Format(time.RFC3339Nano), p.first)
	}
	if d.to.Before(p.lastSent) {
		t.Errorf("the measured downtime ends at %s, before the probe's last failed request was sent at %s", d.to.Format(time.RFC3339Nano), p.lastSent.Format(time.RFC3339Nano))
	}
}

type measuredDowntime struct {
	ms, msg  string
	from, to time.Time
}

// downtimeOf reads the downtime start_to's ok outcome reports.
func downtimeOf(t *testing.T, store Store) measuredDowntime {
	t.Helper()
	recs, err := store.Records(context.Background(), "crash", 0)
	if err != nil {
		t.Fatal(err)
	}
	var d measuredDowntime
	for _, r := range recs {
		if r.Kind == KindOutcome && r.Step == "start_to" && r.Result == ResultOK {
			d.ms, d.msg = r.Details["downtime_ms"], strings.SplitN(r.Output, "\n", 2)[0]
			d.from, _ = time.Parse(time.RFC3339Nano, r.Details["downtime_from"])
			d.to, _ = time.Parse(time.RFC3339Nano, r.Details["downtime_to"])
		}
	}
	if d.ms == "" || !strings.HasPrefix(d.msg, "downtime ") || d.from.IsZero() || d.to.IsZero() {
		t.Fatalf("start_to's outcome carries no measured downtime: %+v", d)
	}
	return d
}

// TestInPlaceDowntimeSurvivesACrash: the process dies during stop_from,
// after from.stop stopped X and before the step's outcome (the hook
// cancels the apply: the outcome is "cancelled", not ok). A new engine on
// the same journal finishes the upgrade, and start_to's outcome reports
// the downtime from stop_from's intent, the crash included.
func TestInPlaceDowntimeSurvivesACrash(t *testing.T) {
	t.Parallel()
	w := newCrashWorld(t, "in_place")
	set, diags := plan.NewParser().LoadPaths(w.planPath)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p := set.Plans[0]
	drv, err := BuildDrivers(p, os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, crash := context.WithCancel(context.Background())
	defer crash()
	drv.Hooks = crashAfter{HookRunner: ExecHooks{}, argv: p.From.Stop.Args, crash: crash}
	e, err := New(Config{Plan: p, Store: w.store, Holder: "test", Drain: -1, WaitTimeout: 20 * time.Second, Drivers: drv,
		RetryBase: 50 * time.Millisecond, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonInterrupted || w.fleet.Running("x") {
		t.Fatalf("apply: %+v %v ran %v (X running %v)", out.Condition, err, out.Ran, w.fleet.Running("x"))
	}
	h, err := e.history(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	intent, ok := h.lastIntent["stop_from"]
	if !ok || h.done("stop_from") {
		t.Fatalf("want stop_from begun and not recorded done; intent %v, done %v", ok, h.done("stop_from"))
	}
	e, err = New(Config{Plan: p, Store: w.store, Holder: "test", Drain: -1, WaitTimeout: 20 * time.Second,
		RetryBase: 50 * time.Millisecond, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if out, err = e.Apply(context.Background()); err != nil || out.Condition.Reason != ReasonConverged {
		t.Fatalf("resumed apply: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	d := downtimeOf(t, w.store)
	t.Logf("downtime after a crash in stop_from: %s ms (%q)", d.ms, d.msg)
	if !d.from.Equal(intent.Time) {
		t.Errorf("downtime measured from %s, want stop_from's intent at %s", d.from.Format(time.RFC3339Nano), intent.Time.Format(time.RFC3339Nano))
	}
}

// crashAfter runs hooks; after the one with argv it cancels crash, as a
// process killed right after that hook would stop there.
type crashAfter struct {
	HookRunner
	argv  []string
	crash context.CancelFunc
}

func (c crashAfter) Run(ctx context.Context, argv []string) (string, error) {
	out, err := c.HookRunner.Run(ctx, argv)
	if slices.Equal(argv, c.argv) {
		c.crash()
	}
	return out, err
}
