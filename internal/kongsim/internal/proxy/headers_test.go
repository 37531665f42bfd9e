package proxy

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/kong/go-kong/kong"
)

func TestViaAndServerPerVersion(t *testing.T) {
	plainHost, plainPort := upstream(t, nil)
	viaHost, viaPort := upstream(t, http.Header{"Via": {"1.1 upstream-proxy"}, "Server": {"echo/1"}})
	cfg := &Config{
		Services: []*kong.Service{service("plain", plainHost, plainPort, ""), service("via", viaHost, viaPort, "")},
		Routes:   []*kong.Route{route("r-plain", "plain", "/plain"), route("r-via", "via", "/via")},
	}
	cases := []struct {
		version, via, viaAppended, upstreamVia, server string
	}{
		{"3.7.1", "kong/3.7.1", "kong/3.7.1", "", "kong/3.7.1"},
		{"3.8.0", "1.1 kong/3.8.0", "1.1 upstream-proxy, 1.1 kong/3.8.0", "1.1 kong/3.8.0", "kong/3.8.0"},
		{"3.4.3.12", "kong/3.4.3.12", "kong/3.4.3.12", "", "kong/3.4.3.12"},
	}
	for _, c := range cases {
		t.Run(c.version, func(t *testing.T) {
			srv, _ := proxyFor(t, c.version, cfg, nil)
			r := do(t, "GET", srv.URL+"/plain", nil)
			if r.status != 200 {
				t.Fatalf("status %d %s", r.status, r.body)
			}
			if got := r.header.Get("Via"); got != c.via {
				t.Errorf("Via %q, want %q", got, c.via)
			}
			if got := r.header.Get("Server"); got != c.server {
				t.Errorf("Server %q, want %q", got, c.server)
			}
			for _, h := range []string{"X-Kong-Upstream-Latency", "X-Kong-Proxy-Latency"} {
				if _, err := strconv.Atoi(r.header.Get(h)); err != nil {
					t.Errorf("%s = %q", h, r.header.Get(h))
				}
			}
			if r.header.Get("X-Kong-Response-Latency") != "" {
				t.Errorf("X-Kong-Response-Latency on a proxied response")
			}
			if got := r.seen(t).Header.Get("Via"); got != c.upstreamVia {
				t.Errorf("upstream request Via %q, want %q", got, c.upstreamVia)
			}
			r = do(t, "GET", srv.URL+"/via", nil)
			if got := r.header.Get("Via"); got != c.viaAppended {
				t.Errorf("Via with upstream Via %q, want %q", got, c.viaAppended)
			}
			if got := r.header.Get("Server"); got != "echo/1" {
				t.Errorf("upstream Server replaced: %q", got)
			}
		})
	}
}

func TestNoRouteAndAccept(t *testing.T) {
	srv, _ := proxyFor(t, "3.9.1", &Config{}, nil)
	r := do(t, "GET", srv.URL+"/nothing", nil)
	rid := r.header.Get("X-Kong-Request-Id")
	if r.status != 404 || r.body != "{\n  \"message\":\"no Route matched with those values\",\n  \"request_id\":\""+rid+"\"\n}" {
		t.Fatalf("%d %q", r.status, r.body)
	}
	r = do(t, "GET", srv.URL+"/nothing", map[string]string{"Accept": "text/plain"})
	if r.body != "no Route matched with those values\nrequest_id: "+r.header.Get("X-Kong-Request-Id")+"\n" || r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("plain: %q %q", r.body, r.header.Get("Content-Type"))
	}
	old, _ := proxyFor(t, "3.4.2", &Config{}, nil)
	r = do(t, "GET", old.URL+"/nothing", map[string]string{"Accept": "text/html;q=0.5, application/json"})
	if r.body != "{\n  \"message\":\"no Route matched with those values\"\n}" {
		t.Fatalf("3.4 body %q", r.body)
	}
}

func TestUpstreamFailures(t *testing.T) {
	// A closed port: connection refused -> 502.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	slowAddr := slow.Listener.Addr().(*net.TCPAddr)
	slowSvc := service("slow", "127.0.0.1", slowAddr.Port, "")
	slowSvc.ReadTimeout = kong.Int(200)
	cfg := &Config{
		Services: []*kong.Service{service("dead", "127.0.0.1", deadPort, ""), slowSvc, service("nodns", "no-such-host.invalid", 80, "")},
		Routes:   []*kong.Route{route("r-dead", "dead", "/dead"), route("r-slow", "slow", "/slow"), route("r-dns", "nodns", "/dns")},
	}
	srv, _ := proxyFor(t, "3.9.1", cfg, nil)
	for _, c := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/dead", 502, "An invalid response was received from the upstream server"},
		{"/slow", 504, "The upstream server is timing out"},
		{"/dns", 503, "name resolution failed"},
	} {
		start := time.Now()
		r := do(t, "GET", srv.URL+c.path, nil)
		want := "{\n  \"message\":\"" + c.msg + "\",\n  \"request_id\":\"" + r.header.Get("X-Kong-Request-Id") + "\"\n}"
		if r.status != c.status || r.body != want {
			t.Errorf("%s: %d %q, want %d %q", c.path, r.status, r.body, c.status, want)
		}
		if time.Since(start) > 10*time.Second {
			t.Errorf("%s took %v", c.path, time.Since(start))
		}
	}
}
