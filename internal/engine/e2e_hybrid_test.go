package engine

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/analysis"
	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/kongsim/fleet"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// hybridWorld: a control plane (cpVersion, on PostgreSQL, seeded with a
// key-auth route) with two X data planes (3.8.0) serving through nginx,
// and two Y data planes (yVersion) declared, joining the same control
// plane when started.
type hybridWorld struct {
	sim       *sim
	ng        *testenv.NginxProc
	backupDir string
	store     *DirStore
	cpVersion string
	yVersion  string
}

func newHybridWorld(t testing.TB, cpVersion, yVersion string) *hybridWorld {
	t.Helper()
	ctx := context.Background()
	w := &hybridWorld{sim: newSim(t), backupDir: t.TempDir(), cpVersion: cpVersion, yVersion: yVersion}
	dsn := testenv.Postgres(t).NewDatabase(t)
	if code, out, errOut, err := kongsim.Migrate(ctx, dsn, cpVersion, "bootstrap"); err != nil || code != 0 {
		t.Fatalf("bootstrap: %d %v %s %s", code, err, out, errOut)
	}
	w.sim.add("cp", kongsim.Config{Version: cpVersion, Role: "control_plane", DSN: dsn, ClusterListen: addr(t)})
	if err := w.sim.start(ctx, "cp"); err != nil {
		t.Fatal(err)
	}
	if err := fleet.Seed(ctx, "http://"+w.sim.cfg("cp").AdminListen, upstream(t)); err != nil {
		t.Fatal(err)
	}
	cluster := w.sim.node("cp").ClusterURL()
	for _, n := range []string{"x1", "x2", "y1", "y2"} {
		v := "3.8.0"
		if n[0] == 'y' {
			v = yVersion
		}
		w.sim.add(n, kongsim.Config{Version: v, Role: "data_plane", Database: "off", ControlPlane: cluster})
	}
	for _, n := range []string{"x1", "x2"} {
		if err := w.sim.start(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	w.ng = testenv.Nginx(t, testenv.NginxConfig{Servers: []testenv.NginxServer{
		{Addr: w.sim.cfg("x1").ProxyListen, Weight: 1}, {Addr: w.sim.cfg("x2").ProxyListen, Weight: 1},
		{Addr: w.sim.cfg("y1").ProxyListen, Down: true}, {Addr: w.sim.cfg("y2").ProxyListen, Down: true}}})
	// Each X data plane serves the control plane's configuration before
	// the test begins (a data plane without one answers 404 to all).
	for _, n := range []string{"x1", "x2"} {
		waitStatus(t, "http://"+w.sim.cfg(n).ProxyListen+"/orders", 401)
	}
	st, err := OpenDir(t.TempDir(), DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	w.store = st
	return w
}

func (w *hybridWorld) node(name string) string { return simNodeBlock(w.sim, name) }

// planSrc: control_plane.version is what the plan believes the control
// plane runs (the field failure is a plan that believes wrongly).
func (w *hybridWorld) planSrc(planCP, extra string) string {
	return fmt.Sprintf(`upgrade "edge-hybrid" {
  cluster  = "edge"
  strategy = "rolling"
  mode     = "hybrid_dp"
  from {
    version = "3.8.0"
%s%s  }
  to {
    version = %q
%s%s  }
  control_plane {
    version   = %q
    admin_url = "http://%s"
  }
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
  check "data_planes_synced" {
    data_planes_synced = true
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
`, w.node("x1"), w.node("x2"), w.yVersion, w.node("y1"), w.node("y2"), planCP, w.sim.cfg("cp").AdminListen, w.backupDir,
		w.ng.UpstreamFile(), hclList(w.ng.TestCommand()), hclList(w.ng.ReloadCommand()), w.ng.PidFile(), extra)
}

// engine is engineFor with the data_planes_synced check's stability
// window shortened (shortDataPlaneSync).
func (w *hybridWorld) engine(t testing.TB, src string, mut ...func(*Config)) *Engine {
	t.Helper()
	shorten := shortDataPlaneSync(t, "http://"+w.sim.cfg("cp").AdminListen, w.yVersion)
	return engineFor(t, lintedPlan(t, src), w.sim, w.store, append([]func(*Config){shorten}, mut...)...)
}

// shortDataPlaneSync replaces the plan's data_planes_synced check (two
// observations 30 s apart in the product) with one whose window is 200ms,
// on the control plane at cpAdmin, for data planes of version.
func shortDataPlaneSync(t testing.TB, cpAdmin, version string) func(*Config) {
	return func(c *Config) {
		cp, err := kong.New(kong.Options{AdminURL: cpAdmin})
		if err != nil {
			t.Fatal(err)
		}
		for i, g := range c.Drivers.Checks {
			if g.Name() != "data_planes_synced" {
				continue
			}
			dps, err := analysis.NewDataPlaneSync(analysis.DataPlaneSyncConfig{Name: g.Name(), ControlPlane: cp, Target: cp.AdminURL(),
				Version: version, MinDataPlanes: 1, Stable: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			c.Drivers.Checks[i] = dps
		}
	}
}

func (w *hybridWorld) load() func() testenv.LoadResult {
	d := &dualWorld{ng: w.ng}
	return d.load()
}

// TestHybridDataPlanesEndToEnd: hybrid data planes, rolling, 3.8.0 →
// 3.9.1 under a 3.9.1 control plane: the Y data planes join the control
// plane and get its configuration, the data_planes_synced check sees them
// connected with one configuration hash, traffic moves through nginx and
// the X data planes stop on approval. No request fails.
func TestHybridDataPlanesEndToEnd(t *testing.T) {
	t.Parallel()
	w := newHybridWorld(t, "3.9.1", "3.9.1")
	stopLoad := w.load()
	defer stopLoad()
	ctx := context.Background()
	out, err := w.engine(t, w.planSrc("3.9.1", "")).Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := "guard preflight backup start_to:y1 start_to:y2 preflight_y checks traffic_50 pause_50 traffic_100 pause_100"
	if out.Condition.Reason != ReasonAwaitingApproval || strings.Join(out.Ran, " ") != want {
		t.Fatalf("apply: %+v\nran  %q\nwant %q", out.Condition, strings.Join(out.Ran, " "), want)
	}
	out, err = w.engine(t, w.planSrc("3.9.1", "  approve = [\"decommission\"]\n")).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonConverged {
		t.Fatalf("decommission: %+v %v", out.Condition, err)
	}
	if w.sim.node("x1") != nil || w.sim.node("x2") != nil || w.sim.node("y1") == nil || w.sim.node("y2") == nil {
		t.Fatal("after the decommission X data planes should be stopped and Y data planes running")
	}
	res := stopLoad()
	t.Logf("hybrid data planes: %d requests through nginx, %d failed, by version %v", res.Requests, res.Failed, res.By)
	if res.Failed != 0 || res.By["3.9.1"] == 0 {
		t.Errorf("load: %d failed of %d (%v) %v", res.Failed, res.Requests, res.By, res.Errors)
	}
}

// TestHybridIncompatibleDataPlanes is the field failure of a plan that
// believes the control plane was upgraded first when it was not: Y's
// 3.9.1 data planes are refused by the 3.8.0 control plane (a data plane
// of a newer minor: kong_version_incompatible). The upgrade must stop before any traffic
// moves and say why; a rollback then stops the Y data planes.
func TestHybridIncompatibleDataPlanes(t *testing.T) {
	t.Parallel()
	w := newHybridWorld(t, "3.8.0", "3.9.1")
	ctx := context.Background()
	e := w.engine(t, w.planSrc("3.9.1", ""), func(c *Config) {
		c.WaitTimeout, c.Retries = 5*time.Second, 1
	})
	out, err := e.Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("apply: %+v ran %v", out.Condition, out.Ran)
	if out.Condition.Type != ConditionStalled || !strings.Contains(out.Condition.Message, "3.8.0") {
		t.Errorf("apply: %+v, want a stall that names the control plane's real version", out.Condition)
	}
	for _, s := range out.Ran {
		if strings.HasPrefix(s, "traffic_") {
			t.Fatalf("traffic moved to refused data planes: ran %v", out.Ran)
		}
	}
	pv, _ := e.Preview(ctx)
	if tr := pv.Observed.Traffic; tr == nil || tr.From != 100 {
		t.Fatalf("traffic = %+v, want all on X", tr)
	}
	rb := w.engine(t, w.planSrc("3.9.1", "  rollback {\n    requested = true\n  }\n"))
	out, err = rb.Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonRolledBack {
		t.Fatalf("rollback: %+v %v", out.Condition, err)
	}
	if w.sim.node("y1") != nil || w.sim.node("y2") != nil || w.sim.node("x1") == nil || w.sim.node("x2") == nil {
		t.Fatal("after the rollback Y data planes should be stopped, X running")
	}
}

// TestHybridStaleConfigHash: the field failure of a data plane stuck on
// an old configuration. Both Y data planes start and sync; then an admin
// write reaches the control plane while y2 cannot load anything new: y1
// moves to the new hash, y2 keeps reporting the old one. The
// data_planes_synced check fails on the two hashes, so the engine rolls
// back before any traffic moves to Y.
func TestHybridStaleConfigHash(t *testing.T) {
	t.Parallel()
	w := newHybridWorld(t, "3.9.1", "3.9.1")
	ctx := context.Background()
	waitHash := func(name string, ok func(string) bool) string {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			if n := w.sim.node(name); n != nil && ok(n.ConfigHash()) {
				return n.ConfigHash()
			}
			if time.Now().After(deadline) {
				t.Fatalf("data plane %s: config hash did not change as expected", name)
			}
			time.Sleep(50 * time.Millisecond) // polling with a deadline
		}
	}
	synced := func(h string) bool { return h != "" && h != kong.EmptyConfigHash }
	e := w.engine(t, w.planSrc("3.9.1", ""), func(c *Config) {
		orig := c.Drivers.Hooks
		c.Drivers.Hooks = hookFunc(func(ctx context.Context, argv []string) (string, error) {
			out, err := orig.Run(ctx, argv)
			if err != nil || strings.Join(argv, " ") != "sim start y2" {
				return out, err
			}
			old := waitHash("y2", synced)
			w.sim.node("y2").Faults().StickDataPlaneConfig(true)
			resp, err := http.Post("http://"+w.sim.cfg("cp").AdminListen+"/services", "application/json",
				strings.NewReader(`{"name":"late-write","url":"http://127.0.0.1:9"}`))
			if err != nil {
				return out, err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("admin write on the control plane: %s", resp.Status)
			}
			waitHash("y1", func(h string) bool { return synced(h) && h != old })
			return out, nil
		})
	})
	out, err := e.Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("apply: %+v ran %v", out.Condition, out.Ran)
	if out.Condition.Reason != ReasonGateFailed || !strings.Contains(out.Condition.Message, "config_hash") {
		t.Errorf("apply: %+v, want a failed data_planes_synced check naming the config_hash values", out.Condition)
	}
	for _, s := range out.Ran {
		if strings.HasPrefix(s, "traffic_") {
			t.Fatalf("traffic moved to a stale data plane: ran %v", out.Ran)
		}
	}
	if w.sim.node("y1") != nil || w.sim.node("y2") != nil || w.sim.node("x1") == nil {
		t.Fatal("after the failed check Y's data planes should be stopped and X's running")
	}
}
