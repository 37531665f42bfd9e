package proxy

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/kong/go-kong/kong"
)

func TestRouterPerVersion(t *testing.T) {
	host, port := upstream(t, nil)
	regex := route("regex", "svc", `~/users/\d+$`)
	regex28 := route("regex28", "svc", `/items/\d+$`)
	short := route("short", "svc", "/api")
	long := route("long", "svc", "/api/v2")
	long.StripPath = kong.Bool(false)
	hosted := route("hosted", "svc", "/api")
	hosted.Hosts = kong.StringSlice("*.example.com")
	hosted.PreserveHost = kong.Bool(true)
	post := route("post", "svc", "/api")
	post.Methods = kong.StringSlice("POST")
	cfg := &Config{
		Services: []*kong.Service{service("svc", host, port, "/base")},
		Routes:   []*kong.Route{short, long, regex, regex28, hosted, post},
	}
	type want struct {
		status int
		path   string
		host   string
	}
	cases := []struct {
		version, method, path, host string
		want                        want
	}{
		{"3.9.1", "GET", "/api/x", "", want{200, "/base/x", ""}},
		{"3.9.1", "GET", "/api/v2/y", "", want{200, "/base/api/v2/y", ""}},
		{"3.9.1", "GET", "/users/42", "", want{200, "/base", ""}},
		{"3.9.1", "GET", "/items/42", "", want{404, "", ""}}, // a regex without "~" is a prefix in 3.x
		{"2.8.5", "GET", "/items/42", "", want{200, "/base", ""}},
		{"3.9.1", "GET", "/api", "a.example.com", want{200, "/base", "a.example.com"}},
		{"3.9.1", "POST", "/api/z", "", want{200, "/base/z", ""}},
		{"3.9.1", "GET", "/other", "", want{404, "", ""}},
	}
	for _, c := range cases {
		srv, _ := proxyFor(t, c.version, cfg, nil)
		hdr := map[string]string{}
		if c.host != "" {
			hdr["Host"] = c.host
		}
		r := do(t, c.method, srv.URL+c.path, hdr)
		if r.status != c.want.status {
			t.Errorf("%s %s %s host=%q: status %d, want %d", c.version, c.method, c.path, c.host, r.status, c.want.status)
			continue
		}
		if r.status != 200 {
			continue
		}
		s := r.seen(t)
		if s.Path != c.want.path {
			t.Errorf("%s %s %s: upstream path %q, want %q", c.version, c.method, c.path, s.Path, c.want.path)
		}
		if c.want.host != "" && s.Host != c.want.host {
			t.Errorf("%s %s: upstream Host %q, want %q", c.version, c.path, s.Host, c.want.host)
		}
		if c.want.host == "" && s.Host != host+":"+strconv.Itoa(port) {
			t.Errorf("%s %s: upstream Host %q", c.version, c.path, s.Host)
		}
	}
}

func TestPriorityOrder(t *testing.T) {
	// 3.x: a regex path outranks any prefix; among prefixes the longest wins;
	// a route with hosts outranks one without.
	r1 := &matcher{hasPaths: true, prefixes: []string{"/a"}}
	r2 := &matcher{hasPaths: true, prefixes: []string{"/a/b"}}
	r3 := &matcher{hasPaths: true, regexes: nil, route: &kong.Route{}}
	r3.regexes = append(r3.regexes, nil)
	r4 := &matcher{hasPaths: true, prefixes: []string{"/"}, hosts: []string{"x"}}
	if !(priority(r2) > priority(r1) && priority(r3) > priority(r2) && priority(r4) > priority(r3)) {
		t.Fatalf("priorities %x %x %x %x", priority(r1), priority(r2), priority(r3), priority(r4))
	}
}

func TestHTTPSOnlyRoute(t *testing.T) {
	host, port := upstream(t, nil)
	secure := route("secure", "svc", "/secure")
	secure.Protocols = kong.StringSlice("https")
	moved := route("moved", "svc", "/moved")
	moved.Protocols = kong.StringSlice("https")
	moved.HTTPSRedirectStatusCode = kong.Int(301)
	srv, _ := proxyFor(t, "3.9.1", &Config{Services: []*kong.Service{service("svc", host, port, "")}, Routes: []*kong.Route{secure, moved}}, nil)
	r := do(t, "GET", srv.URL+"/secure", nil)
	if r.status != 426 || !strings.Contains(r.body, `"message":"Please use HTTPS protocol"`) || r.header.Get("Upgrade") != "TLS/1.2, HTTP/1.1" {
		t.Fatalf("426: %d %q %v", r.status, r.body, r.header)
	}
	// Kong's default trusted_ips is empty: a client's X-Forwarded-Proto is ignored.
	if r := do(t, "GET", srv.URL+"/secure", map[string]string{"X-Forwarded-Proto": "https"}); r.status != 426 {
		t.Fatalf("untrusted X-Forwarded-Proto: %d", r.status)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(srv.URL + "/moved?a=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://"+strings.TrimPrefix(srv.URL, "http://")+"/moved?a=1" {
		t.Fatalf("301: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
