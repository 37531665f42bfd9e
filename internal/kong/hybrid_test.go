package kong

import (
	"context"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestDataPlanesFromKongsimCP: a kongsim control plane lists the data
// plane that joined it, with sync_status normal and a config hash.
func TestDataPlanesFromKongsimCP(t *testing.T) {
	dsn := testenv.Postgres(t).NewDatabase(t)
	if res, err := (Command{Argv: []string{kongsimKong(t)}, DB: dbOf(t, dsn), Env: []string{"KONG_VERSION=3.9.1"}}).Run(context.Background(), "migrations", "bootstrap"); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, res.Stderr)
	}
	cp := startSim(t, kongsim.Config{Version: "3.9.1", DSN: dsn, Role: "control_plane", ClusterListen: "127.0.0.1:0"})
	startSim(t, kongsim.Config{Version: "3.9.0", Role: "data_plane", Database: "off", ControlPlane: cp.ClusterURL(), Hostname: "dp-1"})
	c, err := New(Options{AdminURL: cp.AdminURL()})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil || info.Role != "control_plane" {
		t.Fatalf("CP info: %+v %v", info, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		dps, err := c.DataPlanes(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(dps) == 1 && dps[0].SyncStatus == "normal" && dps[0].ConfigHash != "" {
			if dps[0].Hostname != "dp-1" || dps[0].Version != "3.9.0" {
				t.Fatalf("data plane: %+v", dps[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("data plane not listed as synced within 15s: %+v", dps)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}
