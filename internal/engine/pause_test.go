package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/analysis"
	"github.com/upshift-dev/upshift/plan"
)

// scripted is an Analysis whose measurements are a script; the last
// entry repeats. It records the baseline the engine gave it.
type scripted struct {
	name     string
	script   []analysis.Result
	policy   analysis.Policy
	mu       sync.Mutex
	n        int
	baseline analysis.Baseline
}

func (s *scripted) Name() string                    { return s.name }
func (s *scripted) Begin(context.Context) error     { return nil }
func (s *scripted) Interval() time.Duration         { return 10 * time.Millisecond }
func (s *scripted) Failures() int                   { return 0 }
func (s *scripted) Policy() analysis.Policy         { return s.policy }
func (s *scripted) SetBaseline(b analysis.Baseline) { s.baseline = b }

func (s *scripted) Measure(context.Context) (GateResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.script[min(s.n, len(s.script)-1)]
	s.n++
	r.Gate, r.At = s.name, time.Now()
	return r, nil
}

func noDataResult() analysis.Result {
	return analysis.Result{Outcome: analysis.Inconclusive, NoData: true, Reason: "no data: Y served 0 requests"}
}

func passedResult(v string) analysis.Result {
	return analysis.Result{Outcome: analysis.Passed, Value: v, Reason: "within the margin"}
}

// pauseRun is a run of a pause step of an engine whose only drivers are
// the analyses, with measurements journaled in history h.
func pauseRun(h *history, as ...Analysis) *run {
	e := &Engine{drv: &Drivers{Analyses: as}, log: slog.New(slog.NewTextHandler(io.Discard, nil)), plan: &plan.Plan{}}
	return &run{e: e, state: &state{h: h}, step: &step{name: "pause_100"}, start: time.Now()}
}

// The low-traffic policy: no-data measurements are not counted while the
// window may grow (max_window); data arriving passes; no data to the end
// fails the pause (a gate failure) or stalls it (on_no_data = "stall").
// The pause's first line is the verdict with the last measurement.
func TestPauseNoDataPolicy(t *testing.T) {
	ctx := context.Background()
	// No data for a few measurements past the pause's end, then data:
	// passes, the line showing the last measurement.
	a := &scripted{name: "errors", policy: analysis.Policy{MaxWindow: 5 * time.Second},
		script: []analysis.Result{noDataResult(), noDataResult(), noDataResult(), noDataResult(), noDataResult(), passedResult("data at last")}}
	out, err := pauseRun(readHistory(nil, ""), a).pause(ctx, 20*time.Millisecond)
	if err != nil || firstLine(out) != "analyses passed; last: errors: errors passed (data at last): within the margin" {
		t.Fatalf("no data, then data: %q %v", firstLine(out), err)
	}
	if a.n != 6 {
		t.Errorf("%d measurements, want 6 (5 without data, then data)", a.n)
	}

	// Several measurements: the line shows the last one, not the first.
	a = &scripted{name: "errors", script: []analysis.Result{passedResult("first"), passedResult("second"), passedResult("last")}}
	out, err = pauseRun(readHistory(nil, ""), a).pause(ctx, 60*time.Millisecond)
	want := a.script[min(a.n, len(a.script))-1].Value
	if err != nil || a.n < 2 || firstLine(out) != "analyses passed; last: errors: errors passed ("+want+"): within the margin" {
		t.Fatalf("line %q after %d measurements (%v), want the last (%s)", firstLine(out), a.n, err, want)
	}

	// No data up to max_window: the pause fails, as a gate failure.
	a = &scripted{name: "errors", policy: analysis.Policy{MaxWindow: 100 * time.Millisecond}, script: []analysis.Result{noDataResult()}}
	out, err = pauseRun(readHistory(nil, ""), a).pause(ctx, 20*time.Millisecond)
	var ge *gateError
	if !errors.As(err, &ge) || !strings.Contains(ge.msg, "had no data for") || !strings.HasPrefix(out, "failed; last: errors: errors inconclusive") {
		t.Fatalf("no data to the end: %q %v", firstLine(out), err)
	}

	// on_no_data = "stall": a halt for a person, not a rollback.
	a = &scripted{name: "errors", policy: analysis.Policy{OnNoData: analysis.OnNoDataStall}, script: []analysis.Result{noDataResult()}}
	_, err = pauseRun(readHistory(nil, ""), a).pause(ctx, 20*time.Millisecond)
	var he *haltError
	if !errors.As(err, &he) || he.reason != ReasonNoData {
		t.Fatalf("on_no_data = stall: %v", err)
	}

	// X unreadable to the end: a stall naming it, never a rollback onto
	// that X.
	a = &scripted{name: "errors", script: []analysis.Result{{Outcome: analysis.Inconclusive, FromUnreadable: true, Reason: "scrape failed: X: connection refused"}}}
	_, err = pauseRun(readHistory(nil, ""), a).pause(ctx, 20*time.Millisecond)
	if !errors.As(err, &he) || he.reason != ReasonObservationFailed || !strings.Contains(he.msg, "could not read X") {
		t.Fatalf("X unreadable: %v", err)
	}

	// A failure that is not "no data" counts at once.
	a = &scripted{name: "errors", policy: analysis.Policy{MaxWindow: time.Minute},
		script: []analysis.Result{{Outcome: analysis.Inconclusive, Reason: "scrape failed"}}}
	if _, err = pauseRun(readHistory(nil, ""), a).pause(ctx, 20*time.Millisecond); !errors.As(err, &ge) {
		t.Fatalf("a failed scrape: %v", err)
	}
}

// A pause with no analysis says so: its line and its title.
func TestPauseWithoutAnalysis(t *testing.T) {
	out, err := pauseRun(readHistory(nil, "")).pause(context.Background(), 10*time.Millisecond)
	if err != nil || !strings.HasPrefix(out, "no analysis") {
		t.Fatalf("pause without analysis: %q %v", out, err)
	}
	p := lintedPlanNoWorld(t)
	e := &Engine{plan: p, drv: &Drivers{Router: nopRouter{}}}
	for _, st := range e.rolloutSteps() {
		if strings.HasPrefix(st.name, "pause_") && (!strings.Contains(st.title, "no analysis") || strings.Contains(st.title, "analyses")) {
			t.Errorf("%s: title %q", st.name, st.title)
		}
	}
}

// The engine hands a comparison X's baseline from this run's measurement
// events of that analysis.
func TestPauseBaselineFromJournal(t *testing.T) {
	ev := func(step, analysisName, against, xReq, xRate string) Record {
		return Record{Kind: KindEvent, Event: EventMeasurement, Details: map[string]string{"step": step, "analysis": analysisName,
			"against": against, "x_requests": xReq, "x_error_rate": xRate}}
	}
	recs := []Record{{Kind: KindEvent, Event: EventRunStarted, Seq: 1},
		ev("pause_10", "errors", "window", "100", "0.01"),
		ev("pause_10", "other", "window", "900", "0.5"),
		ev("pause_50", "errors", "window", "300", "0.03")}
	a := &scripted{name: "errors", script: []analysis.Result{passedResult("ok")}}
	if _, err := pauseRun(readHistory(recs, ""), a).pause(context.Background(), 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if b := a.baseline; b.Requests != 400 || b.Steps != 2 || b.ErrorRate < 0.0249 || b.ErrorRate > 0.0251 {
		t.Errorf("baseline %+v, want 400 requests at 2.5%% from 2 pauses", b)
	}
}

type nopRouter struct{ Router }

func lintedPlanNoWorld(t *testing.T) *plan.Plan {
	t.Helper()
	return lintedPlan(t, `upgrade "p" {
  cluster  = "c"
  strategy = "dual_cluster"
  from {
    version   = "3.8.0"
    admin_url = "http://x:8001"
    proxy_url = "http://x:8000"
    database { dsn = "postgres://kong@x-db/kong" }
  }
  to {
    version   = "3.9.1"
    admin_url = "http://y:8001"
    proxy_url = "http://y:8000"
    database { dsn = "postgres://kong@y-db/kong" }
    kong      = ["kong"]
  }
  backup { dir = "/var/lib/upshift" }
  traffic "command" { set = ["./lb.sh", "{to_weight}"] }
  rollout {
    step {
      weight = 50
      pause  = "1m"
    }
    step { weight = 100 }
  }
}
`)
}
