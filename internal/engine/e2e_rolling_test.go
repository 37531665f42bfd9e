package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/kongsim/fleet"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// rollingWorld: two DB-less X nodes (3.8.0) serving a declarative
// configuration through nginx, two DB-less Y nodes (3.9.1) declared.
type rollingWorld struct {
	sim       *sim
	ng        *testenv.NginxProc
	backupDir string
	store     *DirStore
}

func newRollingWorld(t testing.TB) *rollingWorld {
	w := &rollingWorld{sim: newSim(t), backupDir: t.TempDir()}
	conf := fleet.SampleDeclarative(upstream(t))
	for _, n := range []string{"x1", "x2"} {
		w.sim.add(n, kongsim.Config{Version: "3.8.0", Database: "off", DeclarativeConfig: conf})
		if err := w.sim.start(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"y1", "y2"} {
		w.sim.add(n, kongsim.Config{Version: "3.9.1", Database: "off"})
	}
	w.ng = testenv.Nginx(t, testenv.NginxConfig{Servers: []testenv.NginxServer{
		{Addr: w.sim.cfg("x1").ProxyListen, Weight: 1}, {Addr: w.sim.cfg("x2").ProxyListen, Weight: 1},
		{Addr: w.sim.cfg("y1").ProxyListen, Down: true}, {Addr: w.sim.cfg("y2").ProxyListen, Down: true}}})
	st, err := OpenDir(t.TempDir(), DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	w.store = st
	return w
}

// node renders a rolling node block with sim start/stop hooks.
func (w *rollingWorld) node(name string) string { return simNodeBlock(w.sim, name) }

// simNodeBlock renders a plan's node block for the sim node name, with
// sim start/stop hooks.
func simNodeBlock(s *sim, name string) string {
	c := s.cfg(name)
	return fmt.Sprintf("    node %q {\n      admin_url  = \"http://%s\"\n      status_url = \"http://%s\"\n      proxy_url  = \"http://%s\"\n"+
		"      start = [\"sim\", \"start\", %q]\n      stop  = [\"sim\", \"stop\", %q]\n    }\n", name, c.AdminListen, c.StatusListen, c.ProxyListen, name, name)
}

func (w *rollingWorld) planSrc(extra string) string {
	return fmt.Sprintf(`upgrade "edge-rolling" {
  cluster  = "edge"
  strategy = "rolling"
  mode     = "dbless"
  from {
    version = "3.8.0"
%s%s  }
  to {
    version = "3.9.1"
%s%s  }
  backup {
    dir = %q
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
      weight = 50
      pause  = "300ms"
    }
    step {
      weight = 100
      pause  = "300ms"
    }
  }
%s}
`, w.node("x1"), w.node("x2"), w.node("y1"), w.node("y2"), w.backupDir,
		w.ng.UpstreamFile(), hclList(w.ng.TestCommand()), hclList(w.ng.ReloadCommand()), w.ng.PidFile(), extra)
}

func (w *rollingWorld) load() func() testenv.LoadResult {
	d := &dualWorld{ng: w.ng}
	return d.load()
}

// TestRollingEndToEnd: DB-less nodes: the backup is X's configuration
// (GET /config); each Y node is started and loaded with it, checked,
// traffic moves, and the X nodes stop only when decommission is approved.
// Then a rollback test on a second world: Y nodes stop, traffic to X.
func TestRollingEndToEnd(t *testing.T) {
	t.Parallel()
	w := newRollingWorld(t)
	stopLoad := w.load()
	defer stopLoad()
	ctx := context.Background()
	out, err := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store).Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := "guard preflight backup start_to:y1 start_to:y2 preflight_y checks traffic_50 pause_50 traffic_100 pause_100"
	if out.Condition.Reason != ReasonAwaitingApproval || strings.Join(out.Ran, " ") != want {
		t.Fatalf("apply: %+v\nran  %q\nwant %q", out.Condition, strings.Join(out.Ran, " "), want)
	}
	out, err = engineFor(t, lintedPlan(t, w.planSrc("  approve = [\"decommission\"]\n")), w.sim, w.store).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonConverged {
		t.Fatalf("decommission: %+v %v", out.Condition, err)
	}
	if w.sim.node("x1") != nil || w.sim.node("x2") != nil || w.sim.node("y1") == nil || w.sim.node("y2") == nil {
		t.Fatal("after the decommission X nodes should be stopped and Y nodes running")
	}
	// After the point of no return a rollback is refused and nothing runs.
	out, err = engineFor(t, lintedPlan(t, w.planSrc("  approve = [\"decommission\"]\n  rollback {\n    requested = true\n  }\n")), w.sim, w.store).Apply(ctx)
	if err != nil || len(out.Ran) != 0 || out.Condition.Reason != ReasonRestoreNeeded || w.sim.node("x1") != nil || w.sim.node("y1") == nil {
		t.Errorf("rollback after the decommission: %+v ran %v err %v", out.Condition, out.Ran, err)
	}
	res := stopLoad()
	t.Logf("rolling: %d requests through nginx, %d failed, by version %v", res.Requests, res.Failed, res.By)
	if res.Failed != 0 || res.By["3.9.1"] == 0 {
		t.Errorf("load: %d failed of %d (%v) %v", res.Failed, res.Requests, res.By, res.Errors)
	}
}

// TestRollingRollbackAndEmptyConfig: a Y node that refuses its
// configuration (413) never becomes ready: the plan stalls before any
// traffic moves; asking for a rollback then stops the Y nodes.
func TestRollingRollbackAndEmptyConfig(t *testing.T) {
	t.Parallel()
	w := newRollingWorld(t)
	ctx := context.Background()
	// y2 will answer 413 to POST /config once it runs.
	e := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store, func(c *Config) {
		c.Retries = 1
		orig := c.Drivers.Hooks
		c.Drivers.Hooks = hookFunc(func(ctx context.Context, argv []string) (string, error) {
			out, err := orig.Run(ctx, argv)
			if err == nil && strings.Join(argv, " ") == "sim start y2" {
				w.sim.node("y2").Faults().RejectConfig(413, 0, 100)
			}
			return out, err
		})
	})
	out, err := e.Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Condition.Reason != ReasonStepFailed || !strings.Contains(out.Condition.Message, "start_to:y2") {
		t.Fatalf("apply: %+v ran %v", out.Condition, out.Ran)
	}
	pv, _ := e.Preview(ctx)
	if tr := pv.Observed.Traffic; tr == nil || tr.From != 100 {
		t.Fatalf("traffic moved although a Y node is not ready: %+v", tr)
	}
	rb := engineFor(t, lintedPlan(t, w.planSrc("  rollback {\n    requested = true\n  }\n")), w.sim, w.store)
	out, err = rb.Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonRolledBack {
		t.Fatalf("rollback: %+v %v", out.Condition, err)
	}
	if w.sim.node("y1") != nil || w.sim.node("y2") != nil || w.sim.node("x1") == nil {
		t.Fatal("after the rollback Y nodes should be stopped, X running")
	}
}

type hookFunc func(ctx context.Context, argv []string) (string, error)

func (f hookFunc) Run(ctx context.Context, argv []string) (string, error) { return f(ctx, argv) }

// TestRollingConfigBusy: a Y node answers 429 ("Currently loading previous
// configuration") to the first two POST /config: the engine waits and
// tries again instead of failing the step, and the rollout goes on.
func TestRollingConfigBusy(t *testing.T) {
	t.Parallel()
	w := newRollingWorld(t)
	e := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store, func(c *Config) {
		c.Retries = 1 // a failed step would show: no step retry hides it
		orig := c.Drivers.Hooks
		c.Drivers.Hooks = hookFunc(func(ctx context.Context, argv []string) (string, error) {
			out, err := orig.Run(ctx, argv)
			if err == nil && strings.Join(argv, " ") == "sim start y2" {
				w.sim.node("y2").Faults().RejectConfig(429, 1, 2)
			}
			return out, err
		})
	})
	out, err := e.Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval {
		t.Fatalf("apply: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if n := strings.Count(strings.Join(out.Ran, " "), "start_to:y2"); n != 1 {
		t.Errorf("start_to:y2 ran %d times, want once (the 429s are waited out inside it): %v", n, out.Ran)
	}
}
