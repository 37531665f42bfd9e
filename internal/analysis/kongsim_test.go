package analysis

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/kongsim"
)

// upstream is the service behind a kongsim node. Failures are injected in
// kongsim itself (Faults().FailRouted), so that its metrics count them.
type upstream struct {
	url string
}

func startUpstream(t *testing.T) *upstream {
	u := &upstream{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	}))
	t.Cleanup(srv.Close)
	u.url = srv.URL
	return u
}

// startKong starts a DB-less kongsim node of version v proxying /orders to
// up. With metrics, a global prometheus plugin records per-request metrics
// (3.x: status codes and latency switched on; 2.8 records them always).
func startKong(t *testing.T, v string, up *upstream, metrics bool) *kongsim.Node {
	t.Helper()
	decl := map[string]any{
		"_format_version": "3.0",
		"services": []any{map[string]any{"name": "orders", "url": up.url,
			"routes": []any{map[string]any{"name": "orders", "paths": []string{"/orders"}}}}},
	}
	if v[0] == '2' {
		decl["_format_version"] = "2.1"
	}
	if metrics {
		conf := map[string]any{"status_code_metrics": true, "latency_metrics": true}
		if v[0] == '2' {
			conf = map[string]any{}
		}
		decl["plugins"] = []any{map[string]any{"name": "prometheus", "config": conf}}
	}
	b, _ := json.Marshal(decl)
	n, err := kongsim.Start(context.Background(), kongsim.Config{Version: v, Database: "off", DeclarativeConfig: b,
		AdminListen: "127.0.0.1:0", ProxyListen: "127.0.0.1:0", StatusListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start kongsim %s: %v", v, err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	return n
}

// send makes n GETs of /orders through a node's proxy and returns how
// many answered 5xx.
func send(t *testing.T, n *kongsim.Node, count int) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	bad := 0
	for range count {
		resp, err := c.Get(n.ProxyURL() + "/orders")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			bad++
		}
	}
	return bad
}
