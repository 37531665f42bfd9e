package proxy

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/prom"
)

func TestRateLimitingLocal(t *testing.T) {
	host, port := upstream(t, nil)
	cfg := &Config{
		Services: []*kong.Service{service("svc", host, port, "")},
		Routes:   []*kong.Route{route("r1", "svc", "/")},
		Plugins: []*kong.Plugin{plugin("rl", "rate-limiting", map[string]any{"hour": 2.0, "policy": "local",
			"limit_by": "consumer", "hide_client_headers": false, "error_code": 429.0, "error_message": "API rate limit exceeded"})},
	}
	srv, _ := proxyFor(t, "3.9.1", cfg, nil)
	r := do(t, "GET", srv.URL+"/", nil)
	if r.status != 200 || r.header.Get("X-RateLimit-Limit-Hour") != "2" || r.header.Get("X-RateLimit-Remaining-Hour") != "1" ||
		r.header.Get("RateLimit-Limit") != "2" || r.header.Get("RateLimit-Remaining") != "1" || r.header.Get("RateLimit-Reset") == "" {
		t.Fatalf("first: %d %v", r.status, r.header)
	}
	_ = do(t, "GET", srv.URL+"/", nil)
	r = do(t, "GET", srv.URL+"/", nil)
	if r.status != 429 || !strings.Contains(r.body, `"message":"API rate limit exceeded"`) || r.header.Get("Retry-After") == "" ||
		r.header.Get("X-RateLimit-Remaining-Hour") != "0" {
		t.Fatalf("third: %d %q %v", r.status, r.body, r.header)
	}
}

// TestRateLimitingRedisAfterFinish: a 3.5 node reads the flat redis_*
// fields; once the 3.6 teardown has removed them, requests through the
// plugin fail with Kong's 500 (contract 1).
func TestRateLimitingRedisAfterFinish(t *testing.T) {
	host, port := upstream(t, nil)
	base := map[string]any{"minute": 100.0, "policy": "redis", "limit_by": "ip"}
	flat := map[string]any{"redis_host": "redis.local", "redis_port": 6379.0}
	nested := map[string]any{"redis": map[string]any{"host": "redis.local", "port": 6379.0}}
	mk := func(parts ...map[string]any) *Config {
		c := map[string]any{}
		for _, p := range parts {
			for k, v := range p {
				c[k] = v
			}
		}
		return &Config{
			Services: []*kong.Service{service("svc", host, port, "")},
			Routes:   []*kong.Route{route("r1", "svc", "/")},
			Plugins:  []*kong.Plugin{plugin("rl", "rate-limiting", c)},
		}
	}
	for _, c := range []struct {
		name, version string
		cfg           *Config
		status        int
	}{
		{"3.5 before up", "3.5.0", mk(base, flat), 200},
		{"3.5 after up", "3.5.0", mk(base, flat, nested), 200},
		{"3.6 after up", "3.6.1", mk(base, flat, nested), 200},
		{"3.5 after finish", "3.5.0", mk(base, nested), 500},
		{"3.6 after finish", "3.6.1", mk(base, nested), 200},
	} {
		srv, _ := proxyFor(t, c.version, c.cfg, nil)
		r := do(t, "GET", srv.URL+"/", nil)
		if r.status != c.status {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
		if c.status == 500 && !strings.Contains(r.body, `"message":"An unexpected error occurred"`) {
			t.Errorf("%s: body %q", c.name, r.body)
		}
	}
}

func TestACL(t *testing.T) {
	host, port := upstream(t, nil)
	ka := plugin("ka", "key-auth", map[string]any{"key_names": []any{"apikey"}, "key_in_header": true})
	cfg := func(aclConf map[string]any) *Config {
		return &Config{
			Services:  []*kong.Service{service("svc", host, port, "")},
			Routes:    []*kong.Route{route("r1", "svc", "/")},
			Plugins:   []*kong.Plugin{ka, plugin("acl", "acl", aclConf)},
			Consumers: []*kong.Consumer{{ID: kong.String("c1"), Username: kong.String("alice")}, {ID: kong.String("c2"), Username: kong.String("bob")}},
			KeyAuths: []*kong.KeyAuth{{ID: kong.String("k1"), Key: kong.String("a"), Consumer: &kong.Consumer{ID: kong.String("c1")}},
				{ID: kong.String("k2"), Key: kong.String("b"), Consumer: &kong.Consumer{ID: kong.String("c2")}}},
			ACLs: []*kong.ACLGroup{{Group: kong.String("admins"), Consumer: &kong.Consumer{ID: kong.String("c1")}}},
		}
	}
	srv, _ := proxyFor(t, "3.9.1", cfg(map[string]any{"allow": []any{"admins"}}), nil)
	if r := do(t, "GET", srv.URL+"/", map[string]string{"apikey": "a"}); r.status != 200 || r.seen(t).Header.Get("X-Consumer-Groups") != "admins" {
		t.Fatalf("alice: %d %s", r.status, r.body)
	}
	if r := do(t, "GET", srv.URL+"/", map[string]string{"apikey": "b"}); r.status != 403 || !strings.Contains(r.body, "You cannot consume this service") {
		t.Fatalf("bob: %d %s", r.status, r.body)
	}
	// 2.8's whitelist is read as allow.
	old, _ := proxyFor(t, "2.8.5", cfg(map[string]any{"whitelist": []any{"admins"}}), nil)
	if r := do(t, "GET", old.URL+"/", map[string]string{"apikey": "b"}); r.status != 403 {
		t.Fatalf("2.8 bob: %d", r.status)
	}
	deny, _ := proxyFor(t, "3.9.1", cfg(map[string]any{"deny": []any{"admins"}}), nil)
	if r := do(t, "GET", deny.URL+"/", map[string]string{"apikey": "b"}); r.status != 200 {
		t.Fatalf("deny bob: %d", r.status)
	}
	if r := do(t, "GET", deny.URL+"/", map[string]string{"apikey": "a"}); r.status != 403 {
		t.Fatalf("deny alice: %d", r.status)
	}
}

// TestPrometheusFlags: per-request metrics only with the plugin's flags.
func TestPrometheusFlags(t *testing.T) {
	host, port := upstream(t, nil)
	run := func(version string, promConf map[string]any) string {
		t.Helper()
		cfg := &Config{
			Services: []*kong.Service{service("svc", host, port, "")},
			Routes:   []*kong.Route{route("r1", "svc", "/")},
		}
		if promConf != nil {
			cfg.Plugins = []*kong.Plugin{plugin("pr", "prometheus", promConf)}
		}
		m := prom.New(kongrelease.MustParse(version), "node-1")
		srv, _ := proxyFor(t, version, cfg, m)
		do(t, "GET", srv.URL+"/", nil)
		var b bytes.Buffer
		if err := m.Write(&b, prom.NodeState{Role: "traditional", Database: "postgres", DatastoreReachable: true}); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	out := run("3.9.1", map[string]any{"status_code_metrics": false, "latency_metrics": false})
	if strings.Contains(out, "kong_http_requests_total") || strings.Contains(out, "kong_request_latency_ms") {
		t.Fatalf("flags off but request metrics present:\n%s", out)
	}
	out = run("3.9.1", map[string]any{"status_code_metrics": true, "latency_metrics": true, "bandwidth_metrics": true})
	for _, want := range []string{
		`kong_http_requests_total{service="svc",route="r1",code="200",source="service",workspace="default",consumer=""} 1`,
		`kong_kong_latency_ms_bucket{service="svc",route="r1",workspace="default",le="6000"} 1`,
		`kong_upstream_latency_ms_count{service="svc",route="r1",workspace="default"} 1`,
		`kong_bandwidth_bytes{service="svc",route="r1",direction="egress",workspace="default",consumer=""}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("3.9 output lacks %s\n%s", want, out)
		}
	}
	out = run("2.8.5", map[string]any{"per_consumer": false})
	for _, want := range []string{`kong_http_status{service="svc",route="r1",code="200"} 1`, `kong_latency_bucket{service="svc",route="r1",type="request",le="25"}`} {
		if !strings.Contains(out, want) {
			t.Errorf("2.8 output lacks %s\n%s", want, out)
		}
	}
	if out := run("3.9.1", nil); strings.Contains(out, "kong_nginx_metric_errors_total") {
		t.Errorf("3.9 without the plugin prints shared-dict metrics:\n%s", out)
	}
}

// TestInvalidateAndLoadFailure: Invalidate reloads; a failing Load keeps
// the last good configuration (Kong keeps its router when the database is
// unreachable); with none, requests get Kong's 500.
func TestInvalidateAndLoadFailure(t *testing.T) {
	host, port := upstream(t, nil)
	var mu sync.Mutex
	cfg := &Config{Services: []*kong.Service{service("svc", host, port, "")}, Routes: []*kong.Route{route("a", "svc", "/a")}}
	var loadErr error
	h := New(Options{Version: kongrelease.MustParse("3.9.1"), Load: func(context.Context) (*Config, error) {
		mu.Lock()
		defer mu.Unlock()
		return cfg, loadErr
	}})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if r := do(t, "GET", srv.URL+"/b", nil); r.status != 404 {
		t.Fatalf("before: %d", r.status)
	}
	mu.Lock()
	cfg = &Config{Services: cfg.Services, Routes: []*kong.Route{route("b", "svc", "/b")}}
	mu.Unlock()
	if r := do(t, "GET", srv.URL+"/b", nil); r.status != 404 {
		t.Fatalf("served a new config before Invalidate: %d", r.status)
	}
	h.Invalidate()
	if r := do(t, "GET", srv.URL+"/b", nil); r.status != 200 {
		t.Fatalf("after Invalidate: %d", r.status)
	}
	mu.Lock()
	loadErr = errors.New("database unreachable")
	mu.Unlock()
	h.Invalidate()
	if r := do(t, "GET", srv.URL+"/b", nil); r.status != 200 {
		t.Fatalf("with the database down: %d", r.status)
	}
	fresh := New(Options{Version: kongrelease.MustParse("3.9.1"), Load: func(context.Context) (*Config, error) { return nil, errors.New("down") }})
	rec := httptest.NewRecorder()
	fresh.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "An unexpected error occurred") {
		t.Fatalf("never loaded: %d %s", rec.Code, rec.Body.String())
	}
}
