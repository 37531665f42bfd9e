package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// bgWorld: blue-green on the acknowledged 3.6.1 → 3.7.1 hop: X (3.6.1)
// and Y (3.7.1) share one database; Y's `up` leaves ai-proxy's
// 001_360_to_370 pending for `finish` (its teardown rewrites ai-proxy
// configs). 3.6.x's own migrations have no teardown (its redis moves run
// whole at `up`), so a hop to 3.6 has nothing pending; 3.7 is the first
// series after it whose `up` leaves a teardown. A rate-limiting plugin
// (redis policy, 3.6's nested redis record) is part of the configuration.
type bgWorld struct {
	sim   *sim
	ng    *testenv.NginxProc
	dsn   string
	store *DirStore
	bin   string
	dir   string
	admin string // verify_dsn
}

func newBGWorld(t testing.TB) *bgWorld {
	ctx := context.Background()
	w := &bgWorld{sim: newSim(t), dsn: testenv.Postgres(t).NewDatabase(t), bin: kongsimKong(t), dir: t.TempDir(), admin: testenv.Postgres(t).AdminDSN()}
	if code, o, e, err := kongsim.Migrate(ctx, w.dsn, "3.6.1", "bootstrap"); err != nil || code != 0 {
		t.Fatalf("bootstrap: %d %v %s %s", code, err, o, e)
	}
	w.sim.add("x", kongsim.Config{Version: "3.6.1", DSN: w.dsn})
	w.sim.add("y", kongsim.Config{Version: "3.7.1", DSN: w.dsn})
	if err := w.sim.start(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	admin := w.sim.node("x").AdminURL()
	seed(t, admin, upstream(t))
	c, _ := gokong.NewClient(&admin, nil)
	if _, err := c.Plugins.Create(ctx, &gokong.Plugin{Name: gokong.String("rate-limiting"),
		Config: gokong.Configuration{"minute": 100000, "policy": "redis", "redis": map[string]any{"host": "redis.internal", "port": 6379}}}); err != nil {
		t.Fatalf("rate-limiting: %v", err)
	}
	w.ng = testenv.Nginx(t, testenv.NginxConfig{Servers: []testenv.NginxServer{
		{Addr: w.sim.cfg("x").ProxyListen, Weight: 1}, {Addr: w.sim.cfg("y").ProxyListen, Down: true}}})
	st, err := OpenDir(t.TempDir(), DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	w.store = st
	return w
}

func (w *bgWorld) planSrc(xStop, extra string) string {
	x, y := w.sim.cfg("x"), w.sim.cfg("y")
	return fmt.Sprintf(`upgrade "bg" {
  cluster     = "bg"
  strategy    = "blue_green"
  mode        = "traditional"
  acknowledge = ["UP007"]
  from {
    version    = "3.6.1"
    admin_url  = "http://%s"
    status_url = "http://%s"
    proxy_url  = "http://%s"
    database { dsn = %q }
    start = ["sim", "start", "x"]
    stop  = %s
  }
  to {
    version    = "3.7.1"
    admin_url  = "http://%s"
    status_url = "http://%s"
    proxy_url  = "http://%s"
    kong  = ["env", "KONG_VERSION=3.7.1", %q]
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
    expect { status = 401 }
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
`, x.AdminListen, x.StatusListen, x.ProxyListen, w.dsn, xStop, y.AdminListen, y.StatusListen, y.ProxyListen, w.bin,
		w.dir, w.admin, w.ng.UpstreamFile(), hclList(w.ng.TestCommand()), hclList(w.ng.ReloadCommand()), w.ng.PidFile(), extra)
}

// pendingFinish reports whether ai-proxy's 001_360_to_370 (Y's teardown)
// is pending.
func (w *bgWorld) pendingFinish(t *testing.T) bool {
	st, err := kong.ReadSchema(context.Background(), w.dsn)
	if err != nil {
		t.Fatal(err)
	}
	return contains(st.Classify(kongrelease.MustParse("3.7.1")).Names(kongrelease.StatePending)["ai-proxy"], "001_360_to_370")
}

// TestBlueGreenThroughFinish: up leaves ai-proxy's 001 pending and both versions
// serve; the rollout moves all traffic to Y; X is stopped before finish;
// finish waits for its approval, then runs; zero failed requests.
func TestBlueGreenThroughFinish(t *testing.T) {
	t.Parallel()
	w := newBGWorld(t)
	d := &dualWorld{ng: w.ng}
	stopLoad := d.load()
	defer stopLoad()
	ctx := context.Background()
	out, err := engineFor(t, lintedPlan(t, w.planSrc(`["sim", "stop", "x"]`, "")), w.sim, w.store).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval || !strings.Contains(out.Condition.Message, "migrations_finish") {
		t.Fatalf("apply: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if !w.pendingFinish(t) || w.sim.node("x") != nil {
		t.Fatalf("before finish: 001_360_to_370 pending %v, X running %v", w.pendingFinish(t), w.sim.node("x") != nil)
	}
	out, err = engineFor(t, lintedPlan(t, w.planSrc(`["sim", "stop", "x"]`, `  approve = ["finish"]`+"\n")), w.sim, w.store).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval || !strings.Contains(strings.Join(out.Ran, " "), "migrations_finish") {
		t.Fatalf("apply with finish approved: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if w.pendingFinish(t) {
		t.Fatal("001_360_to_370 still pending after finish")
	}
	res := stopLoad()
	t.Logf("blue-green 3.6.1 → 3.7.1: %d requests through nginx, %d failed, by version %v", res.Requests, res.Failed, res.By)
	if res.Failed != 0 {
		t.Errorf("load: %d failed: %v", res.Failed, res.Errors)
	}
}

// TestBlueGreenFinishNeverWithXRunning: X's stop hook does nothing, so X
// keeps answering: the engine never runs finish (Kong's blue-green runs it
// only once X is gone), although finish is approved; 001_360_to_370 stays
// pending.
func TestBlueGreenFinishNeverWithXRunning(t *testing.T) {
	t.Parallel()
	w := newBGWorld(t)
	out, err := engineFor(t, lintedPlan(t, w.planSrc(`["true"]`, `  approve_in_advance = ["finish"]`+"\n")), w.sim, w.store, fast).Apply(context.Background())
	if err != nil || out.Condition.Type != ConditionStalled || !strings.Contains(out.Condition.Message, "stop_from") {
		t.Fatalf("apply: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if contains(intents(t, w.store, "bg"), "migrations_finish") || !w.pendingFinish(t) {
		t.Fatal("finish ran while X was still up")
	}
}
