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
