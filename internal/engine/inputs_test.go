package engine

import (
	"bytes"
	"context"
	"strings"
	"testing"

	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kongsim/fleet"
)

// readmeAnalysis is the README's analysis block.
const readmeAnalysis = `  analysis "y_not_worse_than_x" {
    compare           = "kong_metrics"
    error_rate_margin = 0.005
  }
`

// TestAnalysisInputsStopTheGuard: a DB-less rolling plan with the
// README's kong_metrics analysis, on X nodes without the prometheus
// plugin: `upshift plan` predicts the stop, and apply stalls at the guard
// (PreconditionFailed, with the fix) before anything moves: no Y node
// started, no traffic on Y. With the plugin enabled (status_code_metrics
// on, no request served yet) nothing is predicted.
func TestAnalysisInputsStopTheGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newRollingWorld(t)
	e := engineFor(t, lintedPlan(t, w.planSrc(readmeAnalysis)), w.sim, w.store)
	pv, err := e.Preview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const fix = "the prometheus plugin is not enabled globally; enable it with status_code_metrics = true"
	if len(pv.Preconditions) == 0 || !strings.Contains(strings.Join(pv.Preconditions, "\n"), fix) {
		t.Fatalf("plan's prediction: %q, want one naming %q", pv.Preconditions, fix)
	}
	out, err := e.Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("apply: %+v", out.Condition)
	if out.Condition.Reason != ReasonPreconditionFail || !strings.Contains(out.Condition.Message, fix) ||
		!strings.Contains(out.Condition.Message, "X exposes no kong_http_requests_total") {
		t.Fatalf("apply: %+v, want PreconditionFailed naming %q", out.Condition, fix)
	}
	if strings.Join(out.Ran, " ") != "guard" {
		t.Errorf("ran %v, want only the guard", out.Ran)
	}
	if w.sim.node("y1") != nil || w.sim.node("y2") != nil {
		t.Error("a Y node was started after the guard stalled")
	}

	// The same plan on X nodes with the plugin enabled: no prediction.
	w2 := newRollingWorldWith(t, prometheusDeclarative(t))
	pv, err = engineFor(t, lintedPlan(t, w2.planSrc(readmeAnalysis)), w2.sim, w2.store).Preview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pv.Preconditions) != 0 {
		t.Errorf("with the plugin enabled, plan predicts %q", pv.Preconditions)
	}
}

// prometheusDeclarative is the sample configuration with the prometheus
// plugin enabled globally with status_code_metrics.
func prometheusDeclarative(t testing.TB) []byte {
	return append(fleet.SampleDeclarative(upstream(t)), []byte("plugins:\n- name: prometheus\n  config:\n    status_code_metrics: true\n")...)
}

// newRollingWorldWith is newRollingWorld with X's nodes loaded with conf.
func newRollingWorldWith(t testing.TB, conf []byte) *rollingWorld {
	w := newRollingWorld(t)
	for _, n := range []string{"x1", "x2"} {
		loadDeclarative(t, w.sim.node(n).AdminURL(), conf)
	}
	return w
}

// TestAnalysisInputsStopTheFirstTrafficStep: X has the prometheus plugin,
// Y's nodes lose it before their staging checks (their configuration is
// replaced by one without it): the first traffic step stalls
// (PreconditionFailed, naming Y and the fix) and no traffic moves to Y.
func TestAnalysisInputsStopTheFirstTrafficStep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newRollingWorldWith(t, prometheusDeclarative(t))
	e := engineFor(t, lintedPlan(t, w.planSrc(readmeAnalysis)), w.sim, w.store, func(c *Config) {
		prev := c.Progress
		c.Progress = func(p Progress) {
			if p.Step == "checks" && p.Phase == PhaseStart {
				for _, n := range []string{"y1", "y2"} {
					loadDeclarative(t, w.sim.node(n).AdminURL(), fleet.SampleDeclarative(upstream(t)))
				}
			}
			prev(p)
		}
	})
	out, err := e.Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("apply: %+v ran %v", out.Condition, out.Ran)
	const fix = "Y exposes no kong_http_requests_total series"
	if out.Condition.Reason != ReasonPreconditionFail || !strings.Contains(out.Condition.Message, fix) ||
		!strings.Contains(out.Condition.Message, "enable it with status_code_metrics = true") || !strings.HasPrefix(out.Condition.Message, "traffic_50:") {
		t.Fatalf("apply: %+v, want traffic_50 PreconditionFailed naming %q", out.Condition, fix)
	}
	pv, err := e.Preview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tr := pv.Observed.Traffic; tr == nil || tr.To != 0 {
		t.Fatalf("traffic after the stall: %+v, want none on Y", tr)
	}
	if len(pv.Preconditions) == 0 || !strings.Contains(pv.Preconditions[0], fix) {
		t.Errorf("plan's prediction at traffic_50: %q", pv.Preconditions)
	}
}

func loadDeclarative(t testing.TB, adminURL string, conf []byte) {
	t.Helper()
	c, err := gokong.NewClient(&adminURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ReloadDeclarativeRawConfig(context.Background(), bytes.NewReader(conf), true, true); err != nil {
		t.Fatalf("load %s: %v", adminURL, err)
	}
}
