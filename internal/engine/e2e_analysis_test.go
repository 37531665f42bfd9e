package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// kongMetrics is the README's analysis (compare = "kong_metrics"), with
// a short interval for the tests' short pauses; extra goes inside.
func kongMetrics(extra string) string {
	return "  analysis \"errors\" {\n    compare           = \"kong_metrics\"\n    error_rate_margin = 0.01\n    interval          = \"100ms\"\n" + extra + "  }\n"
}

// withPrometheus enables the prometheus plugin on X with status codes and
// latency counted, as the README asks; Y gets it with X's configuration.
func (w *dualWorld) withPrometheus() {
	w.t.Helper()
	admin := w.sim.node("x").AdminURL()
	c, err := gokong.NewClient(&admin, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := c.Plugins.Create(context.Background(), &gokong.Plugin{Name: gokong.String("prometheus"),
		Config: gokong.Configuration{"status_code_metrics": true, "latency_metrics": true}}); err != nil {
		w.t.Fatalf("enable prometheus on X: %v", err)
	}
}

// loadAt sends rate requests per second through nginx until stop.
func (w *dualWorld) loadAt(rate int) (stop func() testenv.LoadResult) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan testenv.LoadResult, 1)
	go func() {
		done <- testenv.Load{URL: w.ng.URL() + "/health", Rate: rate, Workers: 2, Duration: 5 * time.Minute, Classify: viaVersion}.Run(ctx, nil)
	}()
	var res *testenv.LoadResult
	return func() testenv.LoadResult {
		if res == nil {
			cancel()
			r := <-done
			res = &r
		}
		return *res
	}
}

// measurements are the journal's measurement events of step.
func measurements(t *testing.T, store Store, plan, step string) []Record {
	t.Helper()
	recs, err := store.Records(context.Background(), plan, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []Record
	for _, r := range recs {
		if r.Kind == KindEvent && r.Event == EventMeasurement && r.Details["step"] == step {
			out = append(out, r)
		}
	}
	return out
}

// lastOutcome is the output of step's last ok outcome.
func lastOutcome(t *testing.T, store Store, plan, step string) string {
	t.Helper()
	recs, _ := store.Records(context.Background(), plan, 0)
	out := ""
	for _, r := range recs {
		if r.Kind == KindOutcome && r.Step == step && r.Result == ResultOK {
			out = r.Output
		}
	}
	return out
}

// TestKongMetricsAnalysisPassesAt100: the README's kong_metrics analysis
// judges every pause of a healthy Y under load, including 100% where X
// serves nothing: there Y is compared with X's baseline from the earlier
// pauses (before, "X served 0 requests" failed it every time). Each
// measurement is one journal event with both sides' figures; the pause's
// line is the verdict with the last measurement.
func TestKongMetricsAnalysisPassesAt100(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	w.withPrometheus()
	stopLoad := w.load()
	defer stopLoad()
	ctx := context.Background()

	p := lintedPlan(t, w.planSrc(kongMetrics("")))
	out, err := engineFor(t, p, w.sim, w.store).Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Condition.Reason != ReasonAwaitingApproval || !strings.Contains(strings.Join(out.Ran, " "), "pause_100") {
		t.Fatalf("apply: %+v ran %v", out.Condition, out.Ran)
	}
	for _, step := range []string{"pause_10", "pause_50", "pause_100"} {
		ms := measurements(t, w.store, p.Name, step)
		if len(ms) == 0 {
			t.Fatalf("%s: no measurement event", step)
		}
		last := ms[len(ms)-1].Details
		t.Logf("%s: %d measurements, last %v", step, len(ms), last)
		want := "window"
		if step == "pause_100" {
			want = "baseline"
		}
		if last["result"] != "passed" || last["against"] != want || last["analysis"] != "errors" || last["y_requests"] == "" || last["y_requests"] == "0" || last["x_error_rate"] == "" {
			t.Errorf("%s: last measurement %v, want passed against %s with both sides' figures", step, last, want)
		}
		line := firstLine(lastOutcome(t, w.store, p.Name, step))
		if !strings.HasPrefix(line, "analyses passed; last: errors: errors passed") || !strings.Contains(line, last["value"]) {
			t.Errorf("%s: line %q does not show the last measurement %q", step, line, last["value"])
		}
	}
	res := stopLoad()
	t.Logf("load through nginx: %d requests, %d failed, by version %v", res.Requests, res.Failed, res.By)
	if res.Failed != 0 || res.By["3.9.1"] == 0 {
		t.Errorf("load: %d failed of %d (%v); errors %v", res.Failed, res.Requests, res.By, res.Errors)
	}
}

// TestKongMetricsBaselineSurvivesRestart: the agent stops in the middle
// of the 100% pause; a new engine (new analysis objects, nothing in
// memory) reads X's baseline back from the journal's measurements and
// the pause passes against it.
func TestKongMetricsBaselineSurvivesRestart(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	w.withPrometheus()
	stopLoad := w.load()
	defer stopLoad()

	p := lintedPlan(t, w.planSrc(kongMetrics("")))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := engineFor(t, p, w.sim, w.store, func(c *Config) {
		log := c.Progress
		c.Progress = func(pr Progress) {
			log(pr)
			if pr.Step == "pause_100" && pr.Phase == PhaseInfo {
				cancel() // the agent stops after the first measurement at 100%
			}
		}
	})
	out, err := e.Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonInterrupted {
		t.Fatalf("first apply: %+v ran %v err %v", out.Condition, out.Ran, err)
	}
	before := len(measurements(t, w.store, p.Name, "pause_100"))
	if before == 0 {
		t.Fatal("no measurement at 100% before the stop")
	}
	out, err = engineFor(t, p, w.sim, w.store).Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval || !strings.HasPrefix(strings.Join(out.Ran, " "), "pause_100") {
		t.Fatalf("apply after the restart: %+v ran %v err %v", out.Condition, out.Ran, err)
	}
	after := measurements(t, w.store, p.Name, "pause_100")[before:]
	if len(after) == 0 {
		t.Fatal("no measurement after the restart")
	}
	for _, m := range after {
		if m.Details["against"] != "baseline" || m.Details["result"] != "passed" {
			t.Errorf("after the restart: %v, want passed against X's baseline", m.Details)
		}
	}
	if res := stopLoad(); res.Failed != 0 {
		t.Errorf("load: %d failed of %d; errors %v", res.Failed, res.Requests, res.Errors)
	}
}

// TestKongMetricsLowTraffic: at 1 request/s a pause's window often holds
// no request of Y: those measurements are no data, not counted; the
// window grows up to max_window and the verdicts are right: a healthy Y
// passes every step (100% against X's baseline), a sick one is rolled
// back, and with no traffic at all on_no_data = "stall" stalls for a
// person without passing.
func TestKongMetricsLowTraffic(t *testing.T) {
	t.Parallel()
	rollout := func(src string) string {
		return strings.Replace(strings.Replace(src, "weight = 10\n", "weight = 50\n", 1), "weight = 50\n      pause  = \"300ms\"\n    }\n    step {\n      weight = 50\n", "weight = 50\n      pause  = \"300ms\"\n    }\n    step {\n      weight = 60\n", 1)
	}
	t.Run("healthy", func(t *testing.T) {
		t.Parallel()
		w := newDualWorld(t)
		w.withPrometheus()
		stopLoad := w.loadAt(1)
		defer stopLoad()
		p := lintedPlan(t, rollout(w.planSrc(kongMetrics("    min_requests = 2\n    max_window   = \"30s\"\n"))))
		out, err := engineFor(t, p, w.sim, w.store).Apply(context.Background())
		if err != nil || out.Condition.Reason != ReasonAwaitingApproval {
			t.Fatalf("apply: %+v ran %v err %v", out.Condition, out.Ran, err)
		}
		noData := 0
		for _, step := range []string{"pause_50", "pause_60", "pause_100"} {
			ms := measurements(t, w.store, p.Name, step)
			for _, m := range ms {
				if m.Details["result"] == "inconclusive" {
					noData++
				}
			}
			if last := ms[len(ms)-1].Details; last["result"] != "passed" {
				t.Errorf("%s: last %v", step, last)
			}
		}
		t.Logf("no-data measurements not counted: %d", noData)
		if noData == 0 {
			t.Error("1 request/s never left a window without data: the test does not exercise the policy")
		}
	})
	t.Run("sick", func(t *testing.T) {
		t.Parallel()
		w := newDualWorld(t)
		w.withPrometheus()
		stopLoad := w.loadAt(1)
		defer stopLoad()
		p := lintedPlan(t, rollout(w.planSrc(kongMetrics("    min_requests = 2\n    max_window   = \"30s\"\n"))))
		e := engineFor(t, p, w.sim, w.store, func(c *Config) {
			log := c.Progress
			c.Progress = func(pr Progress) {
				log(pr)
				// At the pause: the traffic step's staging checks (run
				// again before more traffic) would catch it earlier.
				if pr.Step == "pause_50" && pr.Phase == PhaseStart {
					if n := w.sim.node("y"); n != nil {
						n.Faults().FailRouted(500, 1000)
					}
				}
			}
		})
		out, err := e.Apply(context.Background())
		if err != nil || out.Condition.Reason != ReasonGateFailed || !strings.Contains(out.Condition.Message, "rolled back") {
			t.Fatalf("apply: %+v ran %v err %v", out.Condition, out.Ran, err)
		}
		ms := measurements(t, w.store, p.Name, "pause_50")
		if len(ms) == 0 {
			t.Fatalf("pause_50 took no measurement; ran %v", out.Ran)
		}
		if last := ms[len(ms)-1].Details; last["result"] != "failed" || last["against"] != "window" {
			t.Errorf("pause_50: last %v, want failed against X in the window", last)
		}
	})
	t.Run("no traffic stalls", func(t *testing.T) {
		t.Parallel()
		w := newDualWorld(t)
		w.withPrometheus()
		p := lintedPlan(t, w.planSrc(kongMetrics("    max_window   = \"1s\"\n    on_no_data   = \"stall\"\n")))
		out, err := engineFor(t, p, w.sim, w.store).Apply(context.Background())
		if err != nil || out.Condition.Type != ConditionStalled || out.Condition.Reason != ReasonNoData ||
			!strings.Contains(out.Condition.Message, "no data") || out.Ran[len(out.Ran)-1] != "pause_10" {
			t.Fatalf("apply: %+v ran %v err %v", out.Condition, out.Ran, err)
		}
		pv, err := engineFor(t, p, w.sim, w.store).Preview(context.Background())
		if err != nil || pv.Observed.Traffic == nil || pv.Observed.Traffic.To != 10 {
			t.Errorf("traffic after the stall: %+v %v, want it left at 10%%", pv.Observed.Traffic, err)
		}
	})
}
