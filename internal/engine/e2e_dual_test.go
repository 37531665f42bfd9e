package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// dualWorld is a dual-cluster setup: X (3.8.0) serving through nginx on a
// bootstrapped, seeded database; Y (3.9.1) declared on an empty database
// of its own; a backup directory; and a plan template.
type dualWorld struct {
	t          testing.TB
	sim        *sim
	ng         *testenv.NginxProc
	dsnX, dsnY string
	backupDir  string
	journalDir string
	store      *DirStore
	kongBin    string
	kong       []string // to.kong override
}

func newDualWorld(t testing.TB) *dualWorld {
	t.Helper()
	ctx := context.Background()
	pg := testenv.Postgres(t)
	w := &dualWorld{t: t, sim: newSim(t), dsnX: pg.NewDatabase(t), dsnY: pg.NewDatabase(t),
		backupDir: t.TempDir(), journalDir: t.TempDir(), kongBin: kongsimKong(t)}
	if code, out, errOut, err := kongsim.Migrate(ctx, w.dsnX, "3.8.0", "bootstrap"); err != nil || code != 0 {
		t.Fatalf("bootstrap X: %d %v %s %s", code, err, out, errOut)
	}
	w.sim.add("x", kongsim.Config{Version: "3.8.0", DSN: w.dsnX})
	w.sim.add("y", kongsim.Config{Version: "3.9.1", DSN: w.dsnY})
	if err := w.sim.start(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	seed(t, w.sim.node("x").AdminURL(), upstream(t))
	w.ng = testenv.Nginx(t, testenv.NginxConfig{Servers: []testenv.NginxServer{
		{Addr: w.sim.cfg("x").ProxyListen, Weight: 1}, {Addr: w.sim.cfg("y").ProxyListen, Down: true}}})
	st, err := OpenDir(w.journalDir, DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	w.store = st
	return w
}

// kongArgv is the plan's to.kong: kongsim's kong for 3.9.1, or w.kong
// when a test replaces it.
func (w *dualWorld) kongArgv() string {
	if len(w.kong) > 0 {
		return hclList(w.kong)
	}
	return hclList([]string{"env", "KONG_VERSION=3.9.1", w.kongBin})
}

// planSrc renders the dual-cluster plan; extra goes inside the block.
func (w *dualWorld) planSrc(extra string) string {
	x, y := w.sim.cfg("x"), w.sim.cfg("y")
	return fmt.Sprintf(`upgrade "dual-e2e" {
  cluster  = "sim"
  strategy = "dual_cluster"
  mode     = "traditional"
  from {
    version    = "3.8.0"
    admin_url  = "http://%s"
    status_url = "http://%s"
    proxy_url  = "http://%s"
    database { dsn = %q }
    start = ["sim", "start", "x"]
    stop  = ["sim", "stop", "x"]
  }
  to {
    version    = "3.9.1"
    admin_url  = "http://%s"
    status_url = "http://%s"
    proxy_url  = "http://%s"
    database { dsn = %q }
    kong  = %s
    start = ["sim", "start", "y"]
    stop  = ["sim", "stop", "y"]
  }
  backup {
    dir        = %q
    verify     = true
    verify_dsn = %q
  }
  traffic "nginx" {
    upstream_file = %q
    upstream      = "kong"
    test          = %s
    reload        = %s
    pid_file      = %q
  }
  check "key_auth_rejects_anonymous" {
    request { path = "/orders" }
    expect {
      status        = 401
      body_contains = "No API key found in request"
    }
  }
  check "key_auth_accepts_a_key" {
    request {
      path    = "/orders"
      headers = { apikey = "alice-key" }
    }
    expect { status = 200 }
  }
  rollout {
    step {
      weight = 10
      pause  = "300ms"
    }
    step {
      weight = 50
      pause  = "300ms"
    }
    step {
      weight = 100
      pause  = "300ms"
    }
  }
%s
}
`, x.AdminListen, x.StatusListen, x.ProxyListen, w.dsnX,
		y.AdminListen, y.StatusListen, y.ProxyListen, w.dsnY, w.kongArgv(),
		w.backupDir, testenv.Postgres(w.t).AdminDSN(),
		w.ng.UpstreamFile(), hclList(w.ng.TestCommand()), hclList(w.ng.ReloadCommand()), w.ng.PidFile(), extra)
}

// load runs a load through nginx until stop is called, returning its result.
func (w *dualWorld) load() (stop func() testenv.LoadResult) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan testenv.LoadResult, 1)
	go func() {
		done <- testenv.Load{URL: w.ng.URL() + "/health", Rate: 100, Workers: 4, Duration: 5 * time.Minute, Classify: viaVersion}.Run(ctx, nil)
	}()
	var once bool
	var res testenv.LoadResult
	return func() testenv.LoadResult {
		if !once {
			once = true
			cancel()
			res = <-done
		}
		return res
	}
}

// TestDualClusterEndToEnd: a dual-cluster upgrade 3.8.0 → 3.9.1 under
// load through nginx stops at the decommission approval with all traffic
// on Y, then, once approve lists decommission, stops X. No request fails.
func TestDualClusterEndToEnd(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	stopLoad := w.load()
	defer stopLoad()
	ctx := context.Background()

	p := lintedPlan(t, w.planSrc(""))
	e := engineFor(t, p, w.sim, w.store)
	pv, err := e.Preview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pv.Direction != "upgrade" || pv.Steps[0].Status != StatusNext || pv.Condition.Reason != ReasonStepsPending {
		t.Fatalf("preview before: %s %+v\n%s", pv.Direction, pv.Condition, stepNames(pv))
	}
	if recs, _ := w.store.Records(ctx, p.Name, 0); len(recs) != 0 {
		t.Fatalf("preview wrote %d journal records", len(recs))
	}

	out, err := e.Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Condition.Reason != ReasonAwaitingApproval {
		t.Fatalf("apply: %+v (ran %v)", out.Condition, out.Ran)
	}
	// 3.8.0 → 3.9.1 leaves nothing pending after up: finish is observed done.
	want := "guard preflight backup restore migrations_up start_to preflight_y checks traffic_10 pause_10 traffic_50 pause_50 traffic_100 pause_100"
	if got := strings.Join(out.Ran, " "); got != want {
		t.Errorf("ran %q\nwant %q", got, want)
	}
	pv, err = e.Preview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pv.Observed.Traffic == nil || pv.Observed.Traffic.To != 100 || pv.Observed.To == nil || pv.Observed.To.Version != "3.9.1" || !pv.Observed.To.Ready {
		t.Fatalf("after apply: traffic %+v, Y %+v", pv.Observed.Traffic, pv.Observed.To)
	}
	if db := pv.Observed.ToDatabase; db == nil || len(db.ForTo.New) > 0 || len(db.ForTo.Pending) > 0 {
		t.Fatalf("Y's database: %+v", db)
	}
	// Y serves X's configuration: key-auth rejects a request without a key.
	if last := pv.Steps[len(pv.Steps)-1]; last.Name != "decommission" || last.Status != StatusBlocked {
		t.Fatalf("last step: %+v", last)
	}
	// Applying again changes nothing and stops at the same gate.
	out, err = e.Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval || len(out.Ran) != 0 {
		t.Fatalf("second apply: %+v ran %v err %v", out.Condition, out.Ran, err)
	}

	// A later commit approves the decommission.
	p2 := lintedPlan(t, w.planSrc(`  approve = ["decommission"]`))
	e2 := engineFor(t, p2, w.sim, w.store)
	out, err = e2.Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Condition.Reason != ReasonConverged || strings.Join(out.Ran, " ") != "decommission" {
		t.Fatalf("apply with approval: %+v ran %v", out.Condition, out.Ran)
	}
	if w.sim.node("x") != nil {
		t.Error("X still runs after the decommission")
	}
	// After the point of no return a rollback is refused: the plan now
	// asks for one, nothing runs, X stays decommissioned, Y serves.
	rbAfter := lintedPlan(t, w.planSrc(`  approve = ["decommission"]`+"\n  rollback {\n    requested = true\n  }"))
	out, err = engineFor(t, rbAfter, w.sim, w.store).Apply(ctx)
	t.Logf("rollback after the decommission: %+v ran %v err %v", out.Condition, out.Ran, err)
	if err != nil || len(out.Ran) != 0 || out.Condition.Type != ConditionStalled || w.sim.node("x") != nil || w.sim.node("y") == nil {
		t.Errorf("rollback after the decommission: %+v ran %v err %v (x running %v)", out.Condition, out.Ran, err, w.sim.node("x") != nil)
	}
	res := stopLoad()
	t.Logf("load through nginx: %d requests, %d failed, by version %v", res.Requests, res.Failed, res.By)
	if res.Failed != 0 || res.By["3.9.1"] == 0 || res.By["3.8.0"] == 0 {
		t.Errorf("load: %d failed of %d (%v); errors %v", res.Failed, res.Requests, res.By, res.Errors)
	}
	// The journal has an outcome for every intent.
	recs, _ := w.store.Records(ctx, p.Name, 0)
	if r, ok := pendingIn(recs); ok {
		t.Errorf("an intent without outcome: %+v", r)
	}
}

// TestDualClusterRollbackRequested: at 100% on Y, rollback { requested =
// true } sends all traffic back to X and stops Y; Y's database is kept.
func TestDualClusterRollbackRequested(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	stopLoad := w.load()
	defer stopLoad()
	ctx := context.Background()

	out, err := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval {
		t.Fatalf("apply: %+v %v", out.Condition, err)
	}
	rb := lintedPlan(t, w.planSrc("  rollback {\n    requested = true\n  }"))
	e := engineFor(t, rb, w.sim, w.store)
	pv, err := e.Preview(ctx)
	if err != nil || pv.Direction != "rollback" {
		t.Fatalf("preview: %v %+v", err, pv)
	}
	out, err = e.Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Condition.Reason != ReasonRolledBack || strings.Join(out.Ran, " ") != "rollback_traffic rollback_stop_to" {
		t.Fatalf("rollback: %+v ran %v", out.Condition, out.Ran)
	}
	if w.sim.node("y") != nil || w.sim.node("x") == nil {
		t.Fatal("after the rollback Y should be stopped and X running")
	}
	st, err := kong.ReadSchema(ctx, w.dsnY)
	if err != nil || st.NeedsBootstrap {
		t.Fatalf("Y's database after the rollback: %v bootstrap=%v (it must be kept)", err, st.NeedsBootstrap)
	}
	// The plan stays rolled back: applying it again does nothing.
	out, err = e.Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonRolledBack || len(out.Ran) != 0 {
		t.Fatalf("second apply: %+v ran %v err %v", out.Condition, out.Ran, err)
	}
	res := stopLoad()
	t.Logf("load through nginx: %d requests, %d failed, by version %v", res.Requests, res.Failed, res.By)
	if res.Failed != 0 {
		t.Errorf("load: %d failed of %d; errors %v", res.Failed, res.Requests, res.Errors)
	}
}

// TestApplyRefusesAnAgentsRun: a run an agent started and has not finished
// (stopped at the decommission approval) is refused to a caller that is
// not an agent (upshift apply), with the agent named; another agent (a
// new leader) may go on; TakeOver lets a person take the plan over.
func TestApplyRefusesAnAgentsRun(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	ctx := context.Background()
	p := lintedPlan(t, w.planSrc(""))
	agent := func(id string) func(*Config) { return func(c *Config) { c.AgentID, c.Commit = id, "0123456789abcdef" } }
	out, err := engineFor(t, p, w.sim, w.store, agent("agent-a")).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval {
		t.Fatalf("agent's apply: %+v %v", out.Condition, err)
	}
	_, err = engineFor(t, p, w.sim, w.store).Apply(ctx)
	var are *AgentRunError
	if !errors.Is(err, ErrAgentRun) || !errors.As(err, &are) || are.Agent != "agent-a" || !strings.Contains(err.Error(), "0123456789ab") {
		t.Fatalf("apply by a person: %v, want the agent's run refused", err)
	}
	if out, err = engineFor(t, p, w.sim, w.store, agent("agent-b")).Apply(ctx); err != nil || out.Condition.Reason != ReasonAwaitingApproval {
		t.Fatalf("apply by another agent: %+v %v", out.Condition, err)
	}
	out, err = engineFor(t, p, w.sim, w.store, func(c *Config) { c.TakeOver = true }).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval || len(out.Ran) != 0 {
		t.Fatalf("apply --take-over: %+v %v ran %v", out.Condition, err, out.Ran)
	}
}
