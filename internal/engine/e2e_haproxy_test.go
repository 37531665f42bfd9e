package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestBlueGreenHAProxyUnderWrk: blue-green 3.9.0 → 3.9.1 through HAProxy
// (weights changed over its runtime API, no reload) with wrk, which never
// retries, as the load: the whole upgrade, X stopped, decommissioned, and
// not one failed request or socket error.
func TestBlueGreenHAProxyUnderWrk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newSim(t)
	dsn := testenv.Postgres(t).NewDatabase(t)
	if code, o, e, err := kongsim.Migrate(ctx, dsn, "3.9.0", "bootstrap"); err != nil || code != 0 {
		t.Fatalf("bootstrap: %d %v %s %s", code, err, o, e)
	}
	s.add("x", kongsim.Config{Version: "3.9.0", DSN: dsn})
	s.add("y", kongsim.Config{Version: "3.9.1", DSN: dsn})
	if err := s.start(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	seed(t, s.node("x").AdminURL(), upstream(t))
	h := testenv.HAProxy(t, testenv.HAProxyConfig{Servers: []testenv.HAProxyServer{
		{Name: "x", Addr: s.cfg("x").ProxyListen, Weight: 100}, {Name: "y", Addr: s.cfg("y").ProxyListen, Weight: 0}}})
	st, err := OpenDir(t.TempDir(), DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	x, y := s.cfg("x"), s.cfg("y")
	src := fmt.Sprintf(`upgrade "bg-haproxy" {
  cluster  = "bg"
  strategy = "blue_green"
  mode     = "traditional"
  approve_in_advance = ["finish", "decommission"]
  from {
    version    = "3.9.0"
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
    kong  = ["env", "KONG_VERSION=3.9.1", %q]
    start = ["sim", "start", "y"]
    stop  = ["sim", "stop", "y"]
  }
  backup {
    dir    = %q
    verify = false
  }
  traffic "haproxy" {
    socket       = %q
    backend      = %q
    from_servers = ["x"]
    to_servers   = ["y"]
  }
  check "key_auth_rejects_anonymous" {
    request { path = "/orders" }
    expect { status = 401 }
  }
  rollout {
    step {
      weight = 10
      pause  = "500ms"
    }
    step {
      weight = 50
      pause  = "500ms"
    }
    step {
      weight = 100
      pause  = "500ms"
    }
  }
}
`, x.AdminListen, x.StatusListen, x.ProxyListen, dsn, y.AdminListen, y.StatusListen, y.ProxyListen, kongsimKong(t),
		t.TempDir(), h.Socket(), h.Backend())
	e := engineFor(t, lintedPlan(t, src), s, st, func(c *Config) { c.Drain = time.Second })

	n, res := underWrk(t, h.URL()+"/health", 12*time.Second, func() (Outcome, error) { return e.Apply(ctx) })
	if res.Condition.Reason != ReasonConverged {
		t.Fatalf("apply: %+v ran %v", res.Condition, res.Ran)
	}
	t.Logf("wrk through HAProxy during the blue-green upgrade: %d requests; steps %v", n, res.Ran)
	if s.node("x") != nil || s.node("y") == nil {
		t.Error("after the upgrade X should be stopped and Y running")
	}
}

// TestBlueGreenRollbackAfterFinish: after the approved finish (a point of
// no return), a rollback request stalls with RestoreNeeded and changes
// nothing; with rollback.restore = true the run's backup is restored into
// the shared database, X (3.6.1) runs again and takes all traffic, Y stops.
func TestBlueGreenRollbackAfterFinish(t *testing.T) {
	t.Parallel()
	w := newBGWorld(t)
	ctx := context.Background()
	stopX := `["sim", "stop", "x"]`
	out, err := engineFor(t, lintedPlan(t, w.planSrc(stopX, `  approve_in_advance = ["finish"]`+"\n")), w.sim, w.store).Apply(ctx)
	if err != nil || !contains(out.Ran, "migrations_finish") {
		t.Fatalf("upgrade through finish: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	rb := `  approve_in_advance = ["finish"]` + "\n  rollback {\n    requested = true\n  }\n"
	out, err = engineFor(t, lintedPlan(t, w.planSrc(stopX, rb)), w.sim, w.store).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonRestoreNeeded || len(out.Ran) != 0 {
		t.Fatalf("rollback without restore: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if w.sim.node("y") == nil {
		t.Fatal("Y was stopped although the rollback could not proceed")
	}
	rb = `  approve_in_advance = ["finish"]` + "\n  rollback {\n    requested = true\n    restore   = true\n  }\n"
	out, err = engineFor(t, lintedPlan(t, w.planSrc(stopX, rb)), w.sim, w.store).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonRolledBack {
		t.Fatalf("rollback with restore: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if got := strings.Join(out.Ran, " "); got != "rollback_stop_to rollback_restore rollback_start_from rollback_traffic" {
		t.Errorf("rollback steps %q", got)
	}
	st, err := kong.ReadSchema(ctx, w.dsn)
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Classify(kongrelease.MustParse("3.6.1")); len(c.Names(kongrelease.StateNew)) != 0 || len(c.Names(kongrelease.StatePending)) != 0 {
		t.Errorf("the shared database is not back at 3.6.1: new %v pending %v", c.Names(kongrelease.StateNew), c.Names(kongrelease.StatePending))
	}
	if !w.pendingFinish(t) && len(st.Classify(kongrelease.MustParse("3.7.1")).Names(kongrelease.StateNew)) == 0 {
		t.Error("the restored database still holds 3.7.1's migrations")
	}
	if w.sim.node("x") == nil || w.sim.node("y") != nil {
		t.Fatal("after the rollback X should run and Y be stopped")
	}
	waitStatus(t, w.sim.node("x").ProxyURL()+"/health", 200)
}
