package proxy

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"

	"github.com/kong/go-kong/kong"
)

func keyAuthConfig(host string, port int, kaConf map[string]any) *Config {
	if kaConf == nil {
		kaConf = map[string]any{}
	}
	conf := map[string]any{"key_names": []any{"apikey"}, "key_in_header": true, "key_in_query": true,
		"key_in_body": false, "hide_credentials": false, "run_on_preflight": true, "anonymous": nil}
	for k, v := range kaConf {
		conf[k] = v
	}
	return &Config{
		Services:  []*kong.Service{service("svc", host, port, "")},
		Routes:    []*kong.Route{route("r1", "svc", "/echo")},
		Plugins:   []*kong.Plugin{plugin("p1", "key-auth", conf)},
		Consumers: []*kong.Consumer{{ID: kong.String("c1"), Username: kong.String("alice")}},
		KeyAuths:  []*kong.KeyAuth{{ID: kong.String("k1"), Key: kong.String("secret-alice"), Consumer: &kong.Consumer{ID: kong.String("c1")}}},
	}
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestKeyAuthPerVersion checks bodies and WWW-Authenticate per kong-facts §5.
func TestKeyAuthPerVersion(t *testing.T) {
	host, port := upstream(t, nil)
	cases := []struct {
		version       string
		realm         any
		missingWWW    string
		invalidMsg    string
		invalidWWW    string
		withRequestID bool
	}{
		{"3.4.2", nil, `Key realm="kong"`, "Invalid authentication credentials", "", false},
		{"3.5.0", nil, `Key realm="kong"`, "Invalid authentication credentials", "", true},
		{"3.6.1", nil, `Key realm="kong"`, "Unauthorized", "", true},
		{"3.7.1", nil, `Key`, "Unauthorized", "Key", true},
		{"3.8.0", "api", `Key realm="api"`, "Unauthorized", `Key realm="api"`, true},
		{"2.8.5", nil, `Key realm="kong"`, "Invalid authentication credentials", "", false},
	}
	for _, c := range cases {
		t.Run(c.version, func(t *testing.T) {
			conf := map[string]any{}
			if c.realm != nil {
				conf["realm"] = c.realm
			}
			srv, _ := proxyFor(t, c.version, keyAuthConfig(host, port, conf), nil)

			check := func(r result, msg, www string) {
				t.Helper()
				if r.status != http.StatusUnauthorized {
					t.Fatalf("status %d", r.status)
				}
				rid := r.header.Get("X-Kong-Request-Id")
				want := fmt.Sprintf("{\n  \"message\":\"%s\"\n}", msg)
				if c.withRequestID {
					if !hex32.MatchString(rid) {
						t.Fatalf("X-Kong-Request-Id %q", rid)
					}
					want = fmt.Sprintf("{\n  \"message\":\"%s\",\n  \"request_id\":\"%s\"\n}", msg, rid)
				} else if rid != "" {
					t.Fatalf("X-Kong-Request-Id on %s: %q", c.version, rid)
				}
				if r.body != want {
					t.Fatalf("body %q, want %q", r.body, want)
				}
				if got := r.header.Get("WWW-Authenticate"); got != www {
					t.Fatalf("WWW-Authenticate %q, want %q", got, www)
				}
				if r.header.Get("Content-Type") != "application/json; charset=utf-8" {
					t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
				}
				if r.header.Get("X-Kong-Response-Latency") == "" || r.header.Get("Server") != "kong/"+c.version {
					t.Fatalf("Kong-generated headers: %v", r.header)
				}
				if r.header.Get("Via") != "" || r.header.Get("X-Kong-Upstream-Latency") != "" {
					t.Fatalf("proxied-only headers on a Kong response: %v", r.header)
				}
			}
			check(do(t, "GET", srv.URL+"/echo", nil), "No API key found in request", c.missingWWW)
			check(do(t, "GET", srv.URL+"/echo", map[string]string{"apikey": "wrong"}), c.invalidMsg, c.invalidWWW)

			ok := do(t, "GET", srv.URL+"/echo/x?apikey=secret-alice", nil)
			if ok.status != 200 {
				t.Fatalf("valid key: %d %s", ok.status, ok.body)
			}
			s := ok.seen(t)
			if s.Header.Get("X-Consumer-Username") != "alice" || s.Header.Get("X-Consumer-Id") != "c1" || s.Header.Get("X-Credential-Identifier") != "k1" {
				t.Fatalf("consumer headers upstream: %v", s.Header)
			}
			if s.Path != "/x" || s.Query != "apikey=secret-alice" {
				t.Fatalf("upstream path %q query %q", s.Path, s.Query)
			}
			if c.withRequestID && s.Header.Get("X-Kong-Request-Id") != ok.header.Get("X-Kong-Request-Id") {
				t.Fatalf("upstream request id %q vs response %q", s.Header.Get("X-Kong-Request-Id"), ok.header.Get("X-Kong-Request-Id"))
			}
		})
	}
}

func TestKeyAuthHideCredentialsAndAnonymous(t *testing.T) {
	host, port := upstream(t, nil)
	cfg := keyAuthConfig(host, port, map[string]any{"hide_credentials": true, "anonymous": "anon"})
	cfg.Consumers = append(cfg.Consumers, &kong.Consumer{ID: kong.String("anon"), Username: kong.String("anonymous")})
	srv, _ := proxyFor(t, "3.9.1", cfg, nil)

	r := do(t, "GET", srv.URL+"/echo?apikey=secret-alice&x=1", map[string]string{"apikey": "secret-alice"})
	s := r.seen(t)
	if s.Header.Get("apikey") != "" || s.Query != "x=1" {
		t.Fatalf("credential not hidden: header %q query %q", s.Header.Get("apikey"), s.Query)
	}
	r = do(t, "GET", srv.URL+"/echo", nil)
	if r.status != 200 {
		t.Fatalf("anonymous: %d", r.status)
	}
	s = r.seen(t)
	if s.Header.Get("X-Anonymous-Consumer") != "true" || s.Header.Get("X-Consumer-Username") != "anonymous" {
		t.Fatalf("anonymous headers: %v", s.Header)
	}
	if r.header.Get("WWW-Authenticate") != "" {
		t.Fatalf("3.9 anonymous response has WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
	}
	old, _ := proxyFor(t, "3.6.1", cfg, nil)
	if r := do(t, "GET", old.URL+"/echo", nil); r.status != 200 || r.header.Get("WWW-Authenticate") != `Key realm="kong"` {
		t.Fatalf("3.6 anonymous: %d WWW-Authenticate %q", r.status, r.header.Get("WWW-Authenticate"))
	}
}

func TestDuplicateKey(t *testing.T) {
	host, port := upstream(t, nil)
	srv, _ := proxyFor(t, "3.9.1", keyAuthConfig(host, port, nil), nil)
	r := do(t, "GET", srv.URL+"/echo?apikey=a&apikey=b", nil)
	if r.status != 401 || !regexp.MustCompile(`"message":"Duplicate API key found"`).MatchString(r.body) {
		t.Fatalf("%d %s", r.status, r.body)
	}
}
