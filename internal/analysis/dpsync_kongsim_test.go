package analysis

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestDataPlaneSyncOnKongsim runs the check against a real (emulated)
// control plane: a 3.9.1 CP on PostgreSQL with two 3.9.1 data planes
// pulling its configuration passes; a 3.10 data plane, refused by the CP
// (kong_version_incompatible), makes it fail.
func TestDataPlaneSyncOnKongsim(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t).NewDatabase(t)
	if code, out, errOut, err := kongsim.Migrate(ctx, dsn, "3.9.1", "bootstrap"); err != nil || code != 0 {
		t.Fatalf("bootstrap: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	cp := startNode(t, kongsim.Config{Version: "3.9.1", Role: "control_plane", DSN: dsn, ClusterListen: "127.0.0.1:0"})
	cpc, err := kong.New(kong.Options{AdminURL: cp.AdminURL()})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		startNode(t, kongsim.Config{Version: "3.9.1", Role: "data_plane", Database: "off", ControlPlane: cp.ClusterURL()})
	}
	cfg := func(c *DataPlaneSyncConfig) {
		c.ControlPlane, c.Target, c.Stable = cpc, cp.AdminURL(), 100*time.Millisecond
	}
	r := pollUntil(t, dpGate(t, cfg), "two 3.9 data planes synced", func(r Result) bool { return r.OK() })
	if !strings.Contains(r.Reason, "2 data planes of version 3.9 connected") {
		t.Errorf("synced: %+v", r)
	}

	// A data plane on a newer minor than the CP is refused by it.
	startNode(t, kongsim.Config{Version: "3.10.0.2", Role: "data_plane", Database: "off", ControlPlane: cp.ClusterURL()})
	all := dpGate(t, func(c *DataPlaneSyncConfig) {
		cfg(c)
		c.Version = "" // every listed data plane must be synced
	})
	r = pollUntil(t, all, "the refused 3.10 data plane to fail the check", func(r Result) bool { return r.Outcome == Failed })
	if !strings.Contains(r.Reason, "kong_version_incompatible") {
		t.Errorf("refused data plane: %+v", r)
	}
}

// startNode starts a kongsim node with its listeners on free loopback ports.
func startNode(t *testing.T, cfg kongsim.Config) *kongsim.Node {
	t.Helper()
	cfg.AdminListen, cfg.ProxyListen, cfg.StatusListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	n, err := kongsim.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start kongsim %s %s: %v", cfg.Version, cfg.Role, err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	return n
}

// dpGate is the data-plane check on the kongsim control plane, selecting
// 3.9 data planes (at least 2) unless mod says otherwise.
func dpGate(t *testing.T, mod func(*DataPlaneSyncConfig)) *DataPlaneSync {
	t.Helper()
	c := DataPlaneSyncConfig{Name: "data_planes_synced", Version: "3.9", MinDataPlanes: 2}
	mod(&c)
	g, err := NewDataPlaneSync(c)
	if err != nil {
		t.Fatal(err)
	}
	return g
}
