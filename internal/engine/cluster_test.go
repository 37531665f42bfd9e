package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/plan"
)

// clusterPlan parses a small in-place plan named name on cluster; the
// tests below never get as far as observing it.
func clusterPlan(t *testing.T, name, cluster, extra string) *plan.Plan {
	t.Helper()
	src := `upgrade "` + name + `" {
  cluster  = "` + cluster + `"
  strategy = "in_place"
  ` + extra + `
  from {
    version   = "3.8.0"
    admin_url = "http://127.0.0.1:9"
    database { dsn = "postgres://kong@127.0.0.1:9/kong" }
  }
  to {
    version   = "3.9.1"
    admin_url = "http://127.0.0.1:9"
    kong      = ["kong"]
  }
}
`
	ps, diags := plan.NewParser().LoadSource(name+".upshift.hcl", []byte(src))
	if diags.HasErrors() || len(ps) != 1 {
		t.Fatalf("plan: %v", diags)
	}
	return ps[0]
}

// startRun journals the start of a run of p as the engine writes it, by an
// agent from a commit, with the lease held for an hour when held is set.
func startRun(t *testing.T, s Store, p *plan.Plan, held bool) {
	t.Helper()
	ctx := context.Background()
	var token int64
	if held {
		l, err := s.Acquire(ctx, p.Name, "agent a-1", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		token = l.Token
		t.Cleanup(func() { _ = l.Release(context.Background()) })
	}
	_, err := s.Append(ctx, Record{Plan: p.Name, Kind: KindEvent, Event: EventRunStarted, Token: token,
		Actor: Actor{Host: "h", PID: 7, Agent: "a-1"}, Commit: "0123456789abcdef",
		Details: map[string]string{"digest": Digest(p), "cluster": p.Cluster.Value}})
	if err != nil {
		t.Fatal(err)
	}
}

// TestApplyRefusesAnotherRunOfTheCluster: plan b, applied on its own, is
// refused before any step while plan a of the same cluster has an
// unfinished run in the same journal; the refusal names the run, its
// plan, commit and holder. Once a completed, b (which depends on a) may
// start; a plan of another cluster is never held up.
func TestApplyRefusesAnotherRunOfTheCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := OpenDir(t.TempDir(), DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a := clusterPlan(t, "a", "prod", "")
	b := clusterPlan(t, "b", "prod", `depends_on = ["a"]`)
	startRun(t, s, a, true)

	e, err := New(Config{Plan: b, Store: s, Holder: "me"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Apply(ctx)
	var ce *ClusterRunError
	if !errors.Is(err, ErrClusterBusy) || !errors.As(err, &ce) {
		t.Fatalf("apply of b: %+v %v, want ErrClusterBusy", out, err)
	}
	for _, want := range []string{`plan "a"`, "seq 1", "0123456789ab", "lease held by agent a-1", `cluster "prod"`, "agent a-1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not name %s", err, want)
		}
	}
	if len(out.Ran) != 0 || len(mustRecords(t, s, "b", 0)) != 0 {
		t.Errorf("b ran %v or wrote records", out.Ran)
	}

	// Another cluster: not held up by a's run.
	other, err := New(Config{Plan: clusterPlan(t, "c", "staging", ""), Store: s})
	if err != nil {
		t.Fatal(err)
	}
	if ce, err := other.clusterRun(ctx); err != nil || ce != nil {
		t.Errorf("plan of another cluster: %v %v", ce, err)
	}
	// a completed: b runs in turn.
	if _, err := s.Append(ctx, Record{Plan: "a", Kind: KindEvent, Event: EventCompleted}); err != nil {
		t.Fatal(err)
	}
	if ce, err := e.clusterRun(ctx); err != nil || ce != nil {
		t.Errorf("after a completed: %v %v", ce, err)
	}
}
