package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestDualClusterHybridControlPlanes: dual-cluster in hybrid mode. X is a
// 3.8.0 control plane on PostgreSQL with one data plane; Y is a 3.9.1
// control plane on its own database (restored from X's backup and
// migrated) with its own data plane, both started by to.start. The checks
// include data_planes_synced on Y's control plane; traffic moves between
// the two data planes through nginx with no failed request; the
// decommission stops X's data plane and control plane.
func TestDualClusterHybridControlPlanes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pg := testenv.Postgres(t)
	s := newSim(t)
	dsnX, dsnY := pg.NewDatabase(t), pg.NewDatabase(t)
	if code, out, errOut, err := kongsim.Migrate(ctx, dsnX, "3.8.0", "bootstrap"); err != nil || code != 0 {
		t.Fatalf("bootstrap X: %d %v %s %s", code, err, out, errOut)
	}
	xCluster, yCluster := addr(t), addr(t)
	s.add("x", kongsim.Config{Version: "3.8.0", Role: "control_plane", DSN: dsnX, ClusterListen: xCluster})
	s.add("xdp", kongsim.Config{Version: "3.8.0", Role: "data_plane", Database: "off", ControlPlane: "http://" + xCluster})
	s.add("y", kongsim.Config{Version: "3.9.1", Role: "control_plane", DSN: dsnY, ClusterListen: yCluster})
	s.add("ydp", kongsim.Config{Version: "3.9.1", Role: "data_plane", Database: "off", ControlPlane: "http://" + yCluster})
	for _, n := range []string{"x", "xdp"} {
		if err := s.start(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	seed(t, s.node("x").AdminURL(), upstream(t))
	xdpProxy := "http://" + s.cfg("xdp").ProxyListen
	waitStatus(t, xdpProxy+"/orders", 401) // X's data plane has its control plane's configuration
	ng := testenv.Nginx(t, testenv.NginxConfig{Servers: []testenv.NginxServer{
		{Addr: s.cfg("xdp").ProxyListen, Weight: 1}, {Addr: s.cfg("ydp").ProxyListen, Down: true}}})
	store, err := OpenDir(t.TempDir(), DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	backups := t.TempDir()
	src := func(extra string) string {
		x, y := s.cfg("x"), s.cfg("y")
		return fmt.Sprintf(`upgrade "dual-hybrid" {
  cluster  = "hybrid"
  strategy = "dual_cluster"
  mode     = "hybrid_cp"
  from {
    version    = "3.8.0"
    admin_url  = "http://%s"
    status_url = "http://%s"
    proxy_url  = %q
    database { dsn = %q }
    start = ["sim", "start", "x", "xdp"]
    stop  = ["sim", "stop", "xdp", "x"]
  }
  to {
    version    = "3.9.1"
    admin_url  = "http://%s"
    status_url = "http://%s"
    proxy_url  = "http://%s"
    database { dsn = %q }
    kong  = ["env", "KONG_VERSION=3.9.1", %q]
    start = ["sim", "start", "y", "ydp"]
    stop  = ["sim", "stop", "ydp", "y"]
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
`, x.AdminListen, x.StatusListen, xdpProxy, dsnX, y.AdminListen, y.StatusListen, s.cfg("ydp").ProxyListen, dsnY, kongsimKong(t),
			backups, pg.AdminDSN(), ng.UpstreamFile(), hclList(ng.TestCommand()), hclList(ng.ReloadCommand()), ng.PidFile(), extra)
	}
	stopLoad := (&dualWorld{ng: ng}).load()
	defer stopLoad()
	short := shortDataPlaneSync(t, "http://"+s.cfg("y").AdminListen, "3.9.1")
	out, err := engineFor(t, lintedPlan(t, src("")), s, store, short).Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// migrations_finish is observed done: 3.8.0 → 3.9.1 leaves nothing pending.
	want := "guard preflight backup restore migrations_up start_to preflight_y checks traffic_50 pause_50 traffic_100 pause_100"
	if out.Condition.Reason != ReasonAwaitingApproval || strings.Join(out.Ran, " ") != want {
		t.Fatalf("apply: %+v\nran  %q\nwant %q", out.Condition, strings.Join(out.Ran, " "), want)
	}
	out, err = engineFor(t, lintedPlan(t, src(`  approve = ["decommission"]`+"\n")), s, store, short).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonConverged {
		t.Fatalf("decommission: %+v %v", out.Condition, err)
	}
	if s.node("x") != nil || s.node("xdp") != nil || s.node("y") == nil || s.node("ydp") == nil {
		t.Fatal("after the decommission X's control and data plane should be stopped, Y's running")
	}
	res := stopLoad()
	t.Logf("dual-cluster, hybrid control planes: %d requests through nginx, %d failed, by version %v", res.Requests, res.Failed, res.By)
	if res.Failed != 0 || res.By["3.9.1"] == 0 {
		t.Errorf("load: %d failed of %d (%v) %v", res.Failed, res.Requests, res.By, res.Errors)
	}
}
