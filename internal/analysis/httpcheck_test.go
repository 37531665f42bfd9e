package analysis

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// proxyLike answers as Kong does for a key-auth protected route.
func proxyLike(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/orders" && r.Header.Get("apikey") == "":
			w.Header().Set("WWW-Authenticate", `Key realm="kong"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(401)
			_, _ = io.WriteString(w, `{"message":"No API key found in request","request_id":"abc"}`)
		case r.URL.Path == "/orders":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"data":[{"id":7,"name":"widget","price":1.50,"tags":["a"]}],"next":null}`)
		case r.URL.Path == "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Method", r.Method)
			_, _ = w.Write(b)
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func measure(t *testing.T, cfg HTTPCheckConfig) Result {
	t.Helper()
	c, err := NewHTTPCheck(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Measure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v", r)
	return r
}

func TestHTTPCheckPasses(t *testing.T) {
	srv := proxyLike(t)
	r := measure(t, HTTPCheckConfig{Name: "key_auth", BaseURL: srv.URL, Path: "/orders",
		Status: 401, BodyContains: "No API key found in request",
		ExpectHeaders: map[string]string{"www-authenticate": `Key realm="kong"`},
		JSONPath:      map[string]string{"message": "No API key found in request"}})
	if !r.OK() || r.Value != "status 401" || r.Gate != "key_auth" {
		t.Errorf("result %+v", r)
	}
	r = measure(t, HTTPCheckConfig{Name: "orders", BaseURL: srv.URL + "/", Path: "/orders",
		Headers: map[string]string{"apikey": "k"}, Status: 200,
		JSONPath: map[string]string{"data.0.name": "widget", "data.0.id": "7", "data.0.price": "1.50", "next": "null", "data.0.tags": `["a"]`}})
	if !r.OK() {
		t.Errorf("result %+v", r)
	}
	r = measure(t, HTTPCheckConfig{Name: "post", BaseURL: srv.URL, Method: "POST", Path: "/echo", Body: "hello",
		ExpectHeaders: map[string]string{"X-Method": "POST"}, BodyContains: "hello"})
	if !r.OK() {
		t.Errorf("result %+v", r)
	}
}

func TestHTTPCheckFailsWithEveryReason(t *testing.T) {
	srv := proxyLike(t)
	r := measure(t, HTTPCheckConfig{Name: "c", BaseURL: srv.URL, Path: "/orders",
		Status: 200, BodyContains: "widget",
		ExpectHeaders: map[string]string{"WWW-Authenticate": "Key", "X-Missing": "1"},
		JSONPath:      map[string]string{"message": "Unauthorized", "data.0": "x"}})
	if r.Outcome != Failed || r.Value != "status 401" {
		t.Fatalf("result %+v", r)
	}
	for _, want := range []string{
		"status 401, want 200",
		`header WWW-Authenticate is "Key realm=\"kong\"", want "Key"`,
		`header X-Missing is missing`,
		`body does not contain "widget"`,
		`json_path "message" is "No API key found in request", want "Unauthorized"`,
		`json_path "data.0": the document has no key "data"`,
	} {
		if !strings.Contains(r.Reason, want) {
			t.Errorf("reason lacks %q:\n%s", want, r.Reason)
		}
	}
}

func TestHTTPCheckUnreachableIsInconclusive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	r := measure(t, HTTPCheckConfig{Name: "c", BaseURL: "http://" + addr, Path: "/", Status: 200})
	var e *Error
	if r.Outcome != Inconclusive || r.OK() || !strings.Contains(r.Reason, "request failed") || r.Err == nil {
		t.Errorf("result %+v", r)
	}
	if !errors.As(r.Err, &e) || e.Op != "GET /" {
		t.Errorf("Err = %#v", r.Err)
	}
	// A cancelled context is no measurement at all.
	c, _ := NewHTTPCheck(HTTPCheckConfig{Name: "c", BaseURL: "http://" + addr, Path: "/"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Measure(ctx); err == nil {
		t.Error("Measure with a cancelled context returned no error")
	}
	if _, err := NewHTTPCheck(HTTPCheckConfig{BaseURL: "kong-y:8000", Path: "/"}); err == nil {
		t.Error("a proxy URL without scheme accepted")
	}
	if _, err := NewHTTPCheck(HTTPCheckConfig{BaseURL: "http://kong-y:8000", Path: "orders"}); err == nil {
		t.Error("a path without / accepted")
	}
}

func TestJSONPath(t *testing.T) {
	doc := []byte(`{"a":{"b":[10,{"c":"x.y"}]},"t":true,"n":null,"f":2.50}`)
	for path, want := range map[string]string{
		"a.b.0": "10", "a.b.1.c": "x.y", "t": "true", "n": "null", "f": "2.50", "a.b": `[10,{"c":"x.y"}]`,
	} {
		if got, err := jsonPathText(doc, path); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	for path, want := range map[string]string{
		"a.x":     `a has no key "x"`,
		"a.b.2":   "a.b has 2 elements: no index 2",
		"a.b.k":   `a.b is an array: "k" is not an index`,
		"t.x":     `t is a boolean, not an object or array`,
		"a.b.0.z": "a.b.0 is a number",
	} {
		if _, err := jsonPathText(doc, path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", path, err, want)
		}
	}
	if _, err := jsonPathText([]byte("<html>"), "a"); err == nil || !strings.Contains(err.Error(), "not JSON") {
		t.Errorf("non-JSON body: %v", err)
	}
}
