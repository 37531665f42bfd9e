package engine

import (
	"context"
	"os"
	"strings"
	"testing"

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
