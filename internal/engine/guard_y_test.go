package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/plan"
)

// TestGuardRefusesALiveY: the guard's look at Y, one fact at a time: Y
// carrying traffic, a split that cannot be read, Y answering with a
// configuration, Y's database holding one — each refused unless a step
// of this run (or of an earlier run of this journal) acted on Y; traffic
// on Y is refused whoever moved it.
func TestGuardRefusesALiveY(t *testing.T) {
	p := &plan.Plan{Name: "p", Strategy: plan.String{Value: "dual_cluster"}, From: &plan.Side{Version: plan.String{Value: "3.8.0"}}}
	x := &NodeFacts{Reachable: true, Version: "3.8.0"}
	fresh := func() *history { return readHistory(nil, "d") }
	cases := []struct {
		name string
		obs  Observed
		h    *history
		want string // "" for no problem
	}{
		{"quiet Y", Observed{From: x, To: &NodeFacts{}, Traffic: &TrafficFacts{From: 100}, ToConfig: &FingerprintFacts{}}, fresh(), ""},
		{"traffic on Y", Observed{From: x, Traffic: &TrafficFacts{From: 90, To: 10}}, fresh(), "Y already carries 10% of the traffic"},
		{"split unknown", Observed{From: x, Traffic: &TrafficFacts{Error: "connection refused"}}, fresh(), "the load balancer's split cannot be read"},
		{"Y with a declarative config", Observed{From: x, To: &NodeFacts{Reachable: true, ConfigurationHash: "0123abcd0123abcd0123abcd0123abcd"}}, fresh(), "Y answers with a configuration"},
		{"Y with an empty declarative config", Observed{From: x, To: &NodeFacts{Reachable: true, ConfigurationHash: kong.EmptyConfigHash}}, fresh(), ""},
		{"Y node with a config", Observed{From: x, ToNodes: []NodeFacts{{Name: "y1", Reachable: true, ConfigurationHash: "ff"}}}, fresh(), "Y node y1 answers with a configuration"},
		{"Y's database holds a config", Observed{From: x, To: &NodeFacts{Reachable: true}, ToConfig: &FingerprintFacts{Counts: map[string]int64{"services": 2}}}, fresh(), "its database holds a configuration (2 services)"},
		{"Y's database unreadable", Observed{From: x, To: &NodeFacts{Reachable: true}, ToConfig: &FingerprintFacts{Error: "timeout"}}, fresh(), "its database's content cannot be read"},
		{"Y's database holds a config, Y down", Observed{From: x, To: &NodeFacts{}, ToConfig: &FingerprintFacts{Counts: map[string]int64{"services": 2}}}, fresh(), ""},
		{"restored by this run", Observed{From: x, To: &NodeFacts{Reachable: true}, ToConfig: &FingerprintFacts{Counts: map[string]int64{"services": 2}}},
			&history{ok: map[string]Record{"restore": {}}}, ""},
		{"restored by an earlier run", Observed{From: x, To: &NodeFacts{Reachable: true}, ToConfig: &FingerprintFacts{Counts: map[string]int64{"services": 2}}},
			&history{ok: map[string]Record{}, earlierActed: true}, ""},
		{"traffic moved by an earlier run", Observed{From: x, Traffic: &TrafficFacts{From: 50, To: 50}},
			&history{ok: map[string]Record{}, earlierActed: true}, "Y already carries 50%"},
	}
	for _, c := range cases {
		got := strings.Join(guardProblems(&state{obs: c.obs, h: c.h, p: p}), "; ")
		switch {
		case c.want == "" && got != "":
			t.Errorf("%s: guard refused: %s", c.name, got)
		case c.want != "" && !strings.Contains(got, c.want):
			t.Errorf("%s: guard said %q, want %q", c.name, got, c.want)
		}
	}
}

// TestSecondRunnerOnAnotherJournalRefusedByY reproduces issue 10's
// finding 1 end to end: a runner (the agent, say) has Y serving 10% of
// the traffic; a second runner on another journal (upshift apply before
// the journal was shared) starts the same plan. Its guard refuses, naming
// Y's traffic and configuration, before any step: Y's database is not
// dropped and keeps serving.
func TestSecondRunnerOnAnotherJournalRefusedByY(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	p := lintedPlan(t, w.planSrc(""))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := engineFor(t, p, w.sim, w.store, func(c *Config) {
		inner := c.Progress
		c.Progress = func(pr Progress) {
			inner(pr)
			if pr.Step == "traffic_10" && pr.Phase == PhaseDone {
				cancel()
			}
		}
	})
	out, err := first.Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonInterrupted || out.Ran[len(out.Ran)-1] != "traffic_10" {
		t.Fatalf("first runner: %+v ran %v err %v", out.Condition, out.Ran, err)
	}
	fpY := func() string {
		c := first.drv.Observer.ReadToConfig(context.Background())
		if c == nil || c.Error != "" || len(c.Counts) == 0 {
			t.Fatalf("read Y's database: %+v", c)
		}
		return c.Hash
	}
	before := fpY()

	other, err := OpenDir(t.TempDir(), DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, err = engineFor(t, p, w.sim, other).Apply(context.Background())
	if err != nil || out.Condition.Type != ConditionStalled || strings.Join(out.Ran, " ") != "guard" ||
		!strings.Contains(out.Condition.Message, "Y already carries 10% of the traffic") ||
		!strings.Contains(out.Condition.Message, "its database holds a configuration") {
		t.Fatalf("second runner: %+v ran %v err %v", out.Condition, out.Ran, err)
	}
	if after := fpY(); after != before {
		t.Errorf("Y's database changed under the refused runner: %s → %s", before, after)
	}
	if w.sim.node("y") == nil {
		t.Error("Y stopped")
	}
}

// TestPlanPredictsTheGuard: `upshift plan` runs the guard's checks
// read-only when the guard is next. On a world as the plan says it
// predicts a pass; with from.version not what X runs it predicts the
// refusal, blocks the step, and its condition is the one apply then
// stalls with, word for word.
func TestPlanPredictsTheGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newRollingWorld(t)
	pv, err := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store).Preview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pv.Guard == nil || !pv.Guard.Pass || pv.Steps[0].Status != StatusNext {
		t.Fatalf("as the plan says: guard %+v, step %+v; want a predicted pass, guard next", pv.Guard, pv.Steps[0])
	}

	src := strings.Replace(w.planSrc(""), `version = "3.8.0"`, `version = "3.8.1"`, 1)
	e := engineFor(t, lintedPlan(t, src), w.sim, w.store)
	pv, err = e.Preview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const want = `X node x1 runs Kong 3.8.0, the plan says from.version = "3.8.1"`
	if pv.Guard == nil || pv.Guard.Pass || !strings.Contains(strings.Join(pv.Guard.Problems, "\n"), want) {
		t.Fatalf("guard %+v, want a predicted refusal naming %q", pv.Guard, want)
	}
	if pv.Steps[0].Status != StatusBlocked || pv.Condition.Reason != ReasonPreconditionFail {
		t.Errorf("step %+v, condition %+v: want the guard blocked, PreconditionFailed", pv.Steps[0], pv.Condition)
	}
	out, err := e.Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Condition != pv.Condition || strings.Join(out.Ran, " ") != "guard" {
		t.Errorf("apply: %+v ran %v; plan predicted %+v", out.Condition, out.Ran, pv.Condition)
	}
}
