package engine

import (
	"context"
	"strings"
	"testing"
)

// runEngine is the evidence plan (with extra attributes) over a directory
// journal (store).
func runEngine(t *testing.T, extra string, store Store) *Engine {
	t.Helper()
	e, err := New(Config{Plan: lintedPlan(t, evidencePlan("dual_cluster", extra)), Store: store})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// journalRun writes one run of the plan with digest: started, stalled
// once, then end ("completed", "rolled_back", or "" for one in progress).
func journalRun(t *testing.T, store Store, digest, end string) {
	t.Helper()
	ctx := context.Background()
	add := func(r Record) {
		r.Plan = "ev"
		if _, err := store.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// A journal written before the run attribute: run_started has no "run".
	add(Record{Kind: KindEvent, Event: EventRunStarted, Details: map[string]string{"digest": digest, "cluster": "ev"}})
	add(Record{Kind: KindEvent, Event: EventStalled, Details: map[string]string{"reason": "test"}})
	if end != "" {
		add(Record{Kind: KindEvent, Event: end})
	}
}

// TestRunAttribute: after a run ended (completed or rolled back), the
// same plan stays in that run and plan says how to upgrade again; run = 2
// starts a new run (apply and the agent read the journal the same way);
// while a run is in progress, run changes nothing and plan says so. A
// plan without run, or with run = 1, keeps the digest it always had.
func TestRunAttribute(t *testing.T) {
	ctx := context.Background()
	for _, end := range []string{EventCompleted, EventRolledBack} {
		store, err := OpenDir(t.TempDir(), DirOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		one := runEngine(t, "", store)
		journalRun(t, store, one.digest, end)
		h, info, err := one.journal(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h.newRun || info.Run != 1 {
			t.Fatalf("%s, same plan: new run %v, run %d; want the ended run 1", end, h.newRun, info.Run)
		}
		ended := strings.ReplaceAll(end, "_", " ")
		if got, want := one.runNote(info, h.newRun), "run 1 "+ended+"; set run = 2 to upgrade again"; got != want {
			t.Errorf("%s: note %q, want %q", end, got, want)
		}
		if end == EventRolledBack {
			// Another content after a rollback is a new run already (as
			// before run existed); the note says so, not "set run = 2".
			changed := runEngine(t, "  approve = [\"decommission\"]\n", store)
			h, info, err := changed.journal(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := changed.runNote(info, h.newRun), "run 1 rolled back; the plan changed since, so apply (or the agent) starts a new run"; !h.newRun || !strings.HasPrefix(got, want) {
				t.Errorf("changed after rollback: new run %v, note %q, want %q", h.newRun, got, want)
			}
		}
		explicit := runEngine(t, "  run = 1\n", store)
		if explicit.digest != one.digest {
			t.Errorf("run = 1 changed the digest: %s, want %s", explicit.digest, one.digest)
		}
		two := runEngine(t, "  run = 2\n", store)
		if two.digest == one.digest {
			t.Error("run = 2 kept the digest: the agent would not apply the plan again")
		}
		h, info, err = two.journal(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !h.newRun || h.rolledBack || h.completed {
			t.Fatalf("%s, run = 2: new run %v; want a new run", end, h.newRun)
		}
		if got, want := two.runNote(info, h.newRun), "run 1 "+ended+"; run = 2 starts a new run"; !strings.HasPrefix(got, want) {
			t.Errorf("%s, run = 2: note %q, want %q", end, got, want)
		}
	}

	store, err := OpenDir(t.TempDir(), DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	one := runEngine(t, "", store)
	journalRun(t, store, one.digest, "")
	two := runEngine(t, "  run = 2\n", store)
	h, info, err := two.journal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.newRun || h.start == 0 {
		t.Fatalf("in progress, run = 2: new run %v; want run 1 to go on", h.newRun)
	}
	if got := two.runNote(info, h.newRun); !strings.HasPrefix(got, "run = 2 changes nothing while run 1 is in progress") {
		t.Errorf("in progress: note %q", got)
	}
}

// TestRunTwoAfterARollback is the apply path end to end (DB-less rolling
// world, nginx): a run reaches the decommission gate and is rolled back
// (rollback { requested = true }); plan says to remove the request and set
// run = 2; removing the request alone keeps the ended run (nothing runs)
// and plan says how to upgrade again; run = 2 starts a
// new run from the guard (run_started records run 2) that moves traffic
// again up to the gate.
func TestRunTwoAfterARollback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newRollingWorld(t)
	apply := func(extra string) Outcome {
		t.Helper()
		out, err := engineFor(t, lintedPlan(t, w.planSrc(extra)), w.sim, w.store).Apply(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("apply %q: %+v ran %v", extra, out.Condition, out.Ran)
		return out
	}
	if out := apply(""); out.Condition.Reason != ReasonAwaitingApproval {
		t.Fatalf("run 1: %+v, want the decommission gate", out.Condition)
	}
	requested := "  rollback {\n    requested = true\n  }\n"
	if out := apply(requested); out.Condition.Reason != ReasonRolledBack {
		t.Fatalf("rollback: %+v", out.Condition)
	}
	// Right after the rollback the plan still holds the request (which
	// changed its content): plan says both things to do, not "the plan
	// changed since, so apply starts a new run".
	if note := previewOf(t, w, requested).RunNote; note != "run 1 rolled back; to upgrade again, remove rollback { requested = true } and set run = 2" {
		t.Errorf("request still in the plan: note %q", note)
	}
	pv, err := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store).Preview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pv.Condition.Reason != ReasonRolledBack || pv.RunNote != "run 1 rolled back; set run = 2 to upgrade again" {
		t.Errorf("request removed: %+v, note %q; want RolledBack and how to run again", pv.Condition, pv.RunNote)
	}
	if out := apply(""); len(out.Ran) != 0 || out.Condition.Reason != ReasonRolledBack {
		t.Errorf("request removed: ran %v (%+v), want nothing: the ended run stays", out.Ran, out.Condition)
	}

	two := "  run = 2\n"
	pv, err = engineFor(t, lintedPlan(t, w.planSrc(two)), w.sim, w.store).Preview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(pv.RunNote, "run 1 rolled back; run = 2 starts a new run") || pv.Steps[0].Status != StatusNext {
		t.Errorf("run = 2 before apply: note %q, guard %s", pv.RunNote, pv.Steps[0].Status)
	}
	out := apply(two)
	if len(out.Ran) == 0 || out.Ran[0] != "guard" || out.Condition.Reason != ReasonAwaitingApproval {
		t.Fatalf("run 2: ran %v, %+v; want a new run from the guard to the gate", out.Ran, out.Condition)
	}
	recs, err := w.store.Records(ctx, "edge-rolling", 0)
	if err != nil {
		t.Fatal(err)
	}
	var runs []string
	for _, r := range recs {
		if r.Kind == KindEvent && r.Event == EventRunStarted {
			runs = append(runs, r.Details["run"])
		}
	}
	if strings.Join(runs, ",") != "1,2" {
		t.Errorf("run_started records' run: %q, want 1 then 2", runs)
	}
	// The effect, not the record: Y carries traffic again.
	if tr := previewOf(t, w, two).Observed.Traffic; tr == nil || tr.To != 100 {
		t.Errorf("traffic after run 2: %+v, want all on Y", tr)
	}
}

func previewOf(t *testing.T, w *rollingWorld, extra string) *Preview {
	t.Helper()
	pv, err := engineFor(t, lintedPlan(t, w.planSrc(extra)), w.sim, w.store).Preview(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pv
}
