package proxy

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/prom"
)

// seen is what the test upstream received.
type seen struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Host   string      `json:"host"`
	Header http.Header `json:"header"`
}

// upstream starts an HTTP server that echoes the request as JSON.
func upstream(t *testing.T, extra http.Header) (host string, port int) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, vs := range extra {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Host: r.Host, Header: r.Header})
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	p, _ := strconv.Atoi(u.Port())
	return u.Hostname(), p
}

func service(id, host string, port int, path string) *kong.Service {
	s := &kong.Service{ID: kong.String(id), Name: kong.String(id), Host: kong.String(host), Port: kong.Int(port), Protocol: kong.String("http")}
	if path != "" {
		s.Path = kong.String(path)
	}
	return s
}

func route(id, svc string, paths ...string) *kong.Route {
	return &kong.Route{ID: kong.String(id), Name: kong.String(id), Service: &kong.Service{ID: kong.String(svc)},
		Paths: kong.StringSlice(paths...), StripPath: kong.Bool(true)}
}

func plugin(id, name string, cfg map[string]any) *kong.Plugin {
	return &kong.Plugin{ID: kong.String(id), Name: kong.String(name), Config: kong.Configuration(cfg), Enabled: kong.Bool(true)}
}

// proxyFor starts a proxy of version v over cfg.
func proxyFor(t *testing.T, version string, cfg *Config, m *prom.Metrics) (*httptest.Server, *Handler) {
	t.Helper()
	h := New(Options{Version: kongrelease.MustParse(version), NodeID: "node-1", Metrics: m,
		Load: func(context.Context) (*Config, error) { return cfg, nil }})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, h
}

type result struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, u string, hdr map[string]string) result {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, string(b)}
}

func (r result) seen(t *testing.T) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal([]byte(r.body), &s); err != nil {
		t.Fatalf("upstream body %q: %v", r.body, err)
	}
	return s
}
