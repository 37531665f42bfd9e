package kongsim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kong/go-kong/kong"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// TestProxyThroughAdminWrites: entities written through the Admin API
// route proxy traffic at once (the node invalidates the proxy's cache),
// and /metrics on Admin and Status APIs follows the prometheus plugin.
func TestProxyThroughAdminWrites(t *testing.T) {
	ctx := context.Background()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "hello from upstream")
	}))
	t.Cleanup(up.Close)
	n := startNode(t, Config{Version: "3.8.0", DSN: bootstrapped(t, "3.8.0")})
	c := client(t, n)
	svc, err := c.Services.Create(ctx, &kong.Service{Name: kong.String("up"), URL: kong.String(up.URL)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Routes.CreateInService(ctx, svc.ID, &kong.Route{Paths: kong.StringSlice("/up")}); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(n.ProxyURL() + "/up")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != "hello from upstream" {
		t.Fatalf("proxy: %d %q", res.StatusCode, b)
	}
	if _, err := c.Plugins.Create(ctx, &kong.Plugin{Name: kong.String("key-auth"), Service: svc}); err != nil {
		t.Fatal(err)
	}
	res, err = http.Get(n.ProxyURL() + "/up")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("after adding key-auth: %d, want 401", res.StatusCode)
	}
	if _, err := c.Plugins.Create(ctx, &kong.Plugin{Name: kong.String("prometheus"), Config: kong.Configuration{"status_code_metrics": true}}); err != nil {
		t.Fatal(err)
	}
	res, err = http.Get(n.ProxyURL() + "/up")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, base := range []string{n.AdminURL(), n.StatusURL()} {
		res, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for _, want := range []string{`kong_node_info{node_id="` + n.NodeID() + `",version="3.8.0"} 1`, "kong_datastore_reachable 1", `code="401"`} {
			if !strings.Contains(string(b), want) {
				t.Fatalf("%s/metrics lacks %q:\n%s", base, want, b)
			}
		}
	}
}

// TestHybrid: a data plane pulls its control plane's configuration and
// serves it; the control plane lists it in /clustering/data-planes; a DP
// on a newer minor is refused (kong_version_incompatible).
func TestHybrid(t *testing.T) {
	ctx := context.Background()
	cp := startNode(t, Config{Version: "3.9.1", Role: "control_plane", DSN: bootstrapped(t, "3.9.1")})
	if _, err := client(t, cp).Consumers.Create(ctx, &kong.Consumer{Username: kong.String("alice")}); err != nil {
		t.Fatal(err)
	}
	dp := startNode(t, Config{Version: "3.8.0", Role: "data_plane", ControlPlane: cp.ClusterURL()})
	code, body, _ := get(t, "GET", dp.StatusURL()+"/status/ready", nil)
	if code == 200 {
		t.Logf("DP ready at once (already pulled): %v", body)
	}
	eventually(t, "the DP to load the CP's configuration", func() bool {
		_, st, _ := get(t, "GET", dp.AdminURL()+"/consumers/alice", nil)
		return st["username"] == "alice"
	})
	eventually(t, "the DP to be ready", func() bool {
		code, _, _ := get(t, "GET", dp.StatusURL()+"/status/ready", nil)
		return code == 200
	})
	_, dpStatus, _ := get(t, "GET", dp.AdminURL()+"/status", nil)
	var list map[string]any
	eventually(t, "the CP to list the DP with its config hash", func() bool {
		_, list, _ = get(t, "GET", cp.AdminURL()+"/clustering/data-planes", nil)
		data, _ := list["data"].([]any)
		if len(data) != 1 {
			return false
		}
		e := data[0].(map[string]any)
		return e["id"] == dp.NodeID() && e["sync_status"] == "normal" && e["config_hash"] == dpStatus["configuration_hash"]
	})
	// A DP on a newer minor than the CP is refused.
	newer := startNode(t, Config{Version: "3.10.0.2", Role: "data_plane", ControlPlane: cp.ClusterURL()})
	eventually(t, "the CP to mark the 3.10 DP incompatible", func() bool {
		_, list, _ = get(t, "GET", cp.AdminURL()+"/clustering/data-planes", nil)
		for _, e := range list["data"].([]any) {
			m := e.(map[string]any)
			if m["id"] == newer.NodeID() {
				return m["sync_status"] == "kong_version_incompatible"
			}
		}
		return false
	})
	code, body, _ = get(t, "GET", newer.StatusURL()+"/status/ready", nil)
	if code != 503 || !strings.HasPrefix(fmt.Sprint(body["message"]), "no configuration available") {
		t.Fatalf("refused DP ready: %d %v", code, body)
	}
}

// TestTwoNodesOneDatabase: a route written through node A is served by
// node B's proxy once B polls (db_update_frequency).
func TestTwoNodesOneDatabase(t *testing.T) {
	ctx := context.Background()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	dsn := bootstrapped(t, "3.9.1")
	a := startNode(t, Config{Version: "3.9.1", DSN: dsn, DBUpdateFrequency: 50 * time.Millisecond})
	b := startNode(t, Config{Version: "3.9.1", DSN: dsn, DBUpdateFrequency: 50 * time.Millisecond})
	res, err := http.Get(b.ProxyURL() + "/shared")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Fatalf("before the write: %d, want 404", res.StatusCode)
	}
	c := client(t, a)
	svc, err := c.Services.Create(ctx, &kong.Service{Name: kong.String("shared"), URL: kong.String(up.URL)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Routes.CreateInService(ctx, svc.ID, &kong.Route{Paths: kong.StringSlice("/shared")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "node B to route /shared", func() bool {
		res, err := http.Get(b.ProxyURL() + "/shared")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
}
