package kong

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

func startSim(t *testing.T, cfg kongsim.Config) *kongsim.Node {
	t.Helper()
	cfg.AdminListen, cfg.ProxyListen, cfg.StatusListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	n, err := kongsim.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start kongsim %s: %v", cfg.Version, err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	return n
}

// TestClientDBMode reads node info and readiness (both sources) from a
// kongsim 3.9.1 node on a bootstrapped database; the data-plane list on a
// traditional node is an error carrying Kong's message.
func TestClientDBMode(t *testing.T) {
	dsn := testenv.Postgres(t).NewDatabase(t)
	if res, err := (Command{Argv: []string{kongsimKong(t)}, DB: dbOf(t, dsn), Env: []string{"KONG_VERSION=3.9.1"}}).Run(context.Background(), "migrations", "bootstrap"); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, res.Stderr)
	}
	n := startSim(t, kongsim.Config{Version: "3.9.1", DSN: dsn})
	ctx := context.Background()

	c, err := New(Options{AdminURL: n.AdminURL(), StatusURL: n.StatusURL()})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != kongrelease.MustParse("3.9.1") || info.Role != "traditional" || info.Database != "postgres" || info.Edition != "community" {
		t.Fatalf("info: %+v", info)
	}
	r, err := c.Ready(ctx, info.Version)
	if err != nil || !r.Ready || r.Source != "status_api" {
		t.Fatalf("ready via status API: %+v %v", r, err)
	}
	// Before 3.3 the Status API has no /status/ready: the Admin API is used.
	r, err = c.Ready(ctx, kongrelease.MustParse("3.2.2"))
	if err != nil || !r.Ready || r.Source != "admin_status" {
		t.Fatalf("ready via admin /status: %+v %v", r, err)
	}
	if _, err := c.DataPlanes(ctx); err == nil || !strings.Contains(err.Error(), "Control Plane") {
		t.Fatalf("data planes on a traditional node: %v", err)
	}
	if _, err := c.Config(ctx); err == nil {
		t.Fatal("GET /config on a DB-mode node succeeded")
	}
}

// TestClientDBLess posts a declarative configuration to a DB-less node and
// reads it back; readiness follows the loaded configuration.
func TestClientDBLess(t *testing.T) {
	n := startSim(t, kongsim.Config{Version: "3.9.1", Database: "off"})
	ctx := context.Background()
	c, err := New(Options{AdminURL: n.AdminURL()})
	if err != nil {
		t.Fatal(err)
	}
	v := kongrelease.MustParse("3.9.1")
	if r, err := c.Ready(ctx, v); err != nil || r.Ready {
		t.Fatalf("empty DB-less node ready: %+v %v", r, err)
	}
	conf := `{"_format_version":"3.0","services":[{"name":"echo","host":"echo.internal","routes":[{"name":"r1","paths":["/echo"]}]}]}`
	if err := c.PostConfig(ctx, []byte(conf)); err != nil {
		t.Fatal(err)
	}
	got, err := c.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "echo.internal") {
		t.Fatalf("GET /config after POST: %s", got)
	}
	if r, err := c.Ready(ctx, v); err != nil || !r.Ready || r.ConfigurationHash == "" {
		t.Fatalf("loaded DB-less node: %+v %v", r, err)
	}
	if err := c.PostConfig(ctx, []byte(`{"_format_version":"3.0","services":[{"name":"bad"}]}`)); err == nil {
		t.Fatal("invalid configuration accepted")
	}
}

// TestClientTokenAndDataPlanes: the token travels as Kong-Admin-Token on
// every request; data planes are read across pages.
func TestClientTokenAndDataPlanes(t *testing.T) {
	var sawToken int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Kong-Admin-Token") == "tok" {
			sawToken++
		}
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/clustering/data-planes" && r.URL.Query().Get("offset") == "":
			w.Write([]byte(`{"data":[{"id":"a","version":"3.9.1","sync_status":"normal","config_hash":"0123456789abcdef0123456789abcdef"}],"next":"/clustering/data-planes?offset=x","offset":"x"}`))
		case r.URL.Path == "/clustering/data-planes":
			w.Write([]byte(`{"data":[{"id":"b","version":"3.8.0","sync_status":"kong_version_incompatible"}],"next":null}`))
		case r.URL.Path == "/":
			w.Write([]byte(`{"version":"3.4.3.12","configuration":{"database":"postgres","role":"control_plane"}}`))
		case r.URL.Path == "/workspaces":
			w.Write([]byte(`{"data":[{"name":"default"}],"next":null}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := New(Options{AdminURL: srv.URL, Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	dps, err := c.DataPlanes(context.Background())
	if err != nil || len(dps) != 2 || dps[1].SyncStatus != "kong_version_incompatible" {
		t.Fatalf("%+v %v", dps, err)
	}
	info, err := c.Info(context.Background())
	if err != nil || info.Edition != "enterprise" || !info.Workspaces || info.Role != "control_plane" {
		t.Fatalf("%+v %v", info, err)
	}
	if sawToken != 4 {
		t.Fatalf("token sent on %d of 4 requests", sawToken)
	}
	if _, err := New(Options{AdminURL: "http://admin:pw@127.0.0.1:8001"}); err == nil || strings.Contains(err.Error(), "pw") {
		t.Fatalf("credentials in admin URL: %v", err)
	}
}

// TestClientMasterPIDChangesWithARestart: GET / pids.master is read, and
// a node started again with the same node_id (Kong keeps it in its
// prefix) answers with another one: what tells a restart (kong-facts §1.1).
func TestClientMasterPIDChangesWithARestart(t *testing.T) {
	const id = "2b0e8c1e-4f7a-4d0b-9d55-3c1f6a7e9b10"
	var pids []int
	for range 2 {
		n := startSim(t, kongsim.Config{Version: "3.9.1", Database: "off", NodeID: id})
		c, err := New(Options{AdminURL: n.AdminURL()})
		if err != nil {
			t.Fatal(err)
		}
		info, err := c.Info(context.Background())
		if err != nil || info.NodeID != id || info.MasterPID == 0 {
			t.Fatalf("info: %+v %v", info, err)
		}
		pids = append(pids, info.MasterPID)
		_ = n.Stop()
	}
	if pids[0] == pids[1] {
		t.Errorf("pids.master %d before and after the restart", pids[0])
	}
}
