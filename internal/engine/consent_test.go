package engine

import (
	"context"
	"strings"
	"testing"
)

// TestConsentAfterTheGate: through upshift apply, an approve item counts
// only when it was added after the run stopped at its gate. A plan that
// lists decommission from the start stops at the gate, stays there when
// applied again, and crosses it only after the item was removed (the run
// records the removal) and added back.
func TestConsentAfterTheGate(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	ctx := context.Background()
	approved := w.planSrc(`  approve = ["decommission"]`)

	apply := func(src string) Outcome {
		t.Helper()
		out, err := engineFor(t, lintedPlan(t, src), w.sim, w.store).Apply(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := apply(approved)
	if out.Condition.Reason != ReasonAwaitingApproval || !strings.Contains(out.Condition.Message, "already in approve") {
		t.Fatalf("first apply with approve written in advance: %+v ran %v", out.Condition, out.Ran)
	}
	if w.sim.node("x") == nil {
		t.Fatal("X was decommissioned on a consent written before the gate")
	}
	// The same plan again (a later commit that keeps the item): no consent.
	if out = apply(approved); out.Condition.Reason != ReasonAwaitingApproval || len(out.Ran) != 0 {
		t.Fatalf("second apply: %+v ran %v", out.Condition, out.Ran)
	}
	// The operator removes the item; the run records the gate again.
	if out = apply(w.planSrc("")); out.Condition.Reason != ReasonAwaitingApproval || len(out.Ran) != 0 ||
		!strings.Contains(out.Condition.Message, "add \"decommission\" to approve") {
		t.Fatalf("apply without the item: %+v ran %v", out.Condition, out.Ran)
	}
	// Added back after the gate: consent.
	if out = apply(approved); out.Condition.Reason != ReasonConverged || strings.Join(out.Ran, " ") != "decommission" {
		t.Fatalf("apply with the item added after the gate: %+v ran %v", out.Condition, out.Ran)
	}
	if w.sim.node("x") != nil {
		t.Error("X still runs after the decommission")
	}
	recs, err := w.store.Records(ctx, "dual-e2e", 0)
	if err != nil {
		t.Fatal(err)
	}
	var gates []string
	for _, r := range recs {
		if r.Event == EventAwaitingApproval {
			gates = append(gates, r.Details["approve"]+":"+r.Details["listed"])
		}
	}
	if got := strings.Join(gates, " "); got != "decommission:1 decommission:" {
		t.Errorf("awaiting_approval events %q, want the gate with the item listed, then without", got)
	}
}

// TestApproveInAdvance: approve_in_advance crosses the gate in one apply,
// with no awaiting_approval record.
func TestApproveInAdvance(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	ctx := context.Background()
	out, err := engineFor(t, lintedPlan(t, w.planSrc(`  approve_in_advance = ["decommission"]`)), w.sim, w.store).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonConverged || w.sim.node("x") != nil {
		t.Fatalf("apply: %+v ran %v err %v", out.Condition, out.Ran, err)
	}
}
