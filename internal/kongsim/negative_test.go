package kongsim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/kong/go-kong/kong"
)

// TestKongErrorBodies checks Kong's exact error bodies and codes
// (kong-facts §2) through go-kong.
func TestKongErrorBodies(t *testing.T) {
	ctx := context.Background()
	n := startNode(t, Config{Version: "3.8.0", DSN: bootstrapped(t, "3.8.0")})
	c := client(t, n)

	_, err := c.Services.Create(ctx, &kong.Service{Name: kong.String("nohost")})
	wantAPIError(t, err, http.StatusBadRequest)
	wantBody(t, c, "POST", "/services", map[string]any{"name": "nohost"}, 400,
		`{"code":2,"name":"schema violation","message":"schema violation (host: required field missing)","fields":{"host":"required field missing"}}`)
	wantBody(t, c, "POST", "/services", map[string]any{"host": "h", "port": "80", "colour": "red"}, 400,
		`{"code":2,"name":"schema violation","message":"2 schema violations (colour: unknown field; port: expected an integer)","fields":{"colour":"unknown field","port":"expected an integer"}}`)
	wantBody(t, c, "POST", "/services", map[string]any{"host": "h", "protocol": "ftp"}, 400,
		`{"code":2,"name":"schema violation","message":"schema violation (protocol: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp, ws, wss)","fields":{"protocol":"expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp, ws, wss"}}`)

	svc, err := c.Services.Create(ctx, &kong.Service{Name: kong.String("echo"), Host: kong.String("h")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Services.Create(ctx, &kong.Service{Name: kong.String("echo"), Host: kong.String("h2")})
	wantAPIError(t, err, http.StatusConflict)
	wantBody(t, c, "POST", "/services", map[string]any{"name": "echo", "host": "h"}, 409,
		`{"code":5,"name":"unique constraint violation","message":"UNIQUE violation detected on '{name=\"echo\"}'","fields":{"name":"echo"}}`)

	missing := uuid.NewString()
	wantBody(t, c, "POST", "/routes", map[string]any{"paths": []string{"/x"}, "service": map[string]any{"id": missing}}, 400,
		`{"code":4,"name":"foreign key violation","message":"the foreign key '{id=\"`+missing+`\"}' does not reference an existing 'services' entity.","fields":{"service":{"id":"`+missing+`"}}}`)
	wantBody(t, c, "POST", "/services/echo/routes", map[string]any{"name": "r"}, 400,
		`{"code":2,"name":"schema violation","message":"schema violation (must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https')","fields":{"@entity":["must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"]}}`)
	// A foreign key by name is not a UUID: Kong refuses it.
	_, err = c.Routes.CreateInService(ctx, kong.String("echo"), &kong.Route{Paths: kong.StringSlice("/e")})
	wantAPIError(t, err, http.StatusBadRequest)
	if _, err := c.Routes.CreateInService(ctx, svc.ID, &kong.Route{Paths: kong.StringSlice("/e")}); err != nil {
		t.Fatal(err)
	}
	wantBody(t, c, "DELETE", "/services/echo", nil, 400,
		`{"code":4,"name":"foreign key violation","message":"an existing 'routes' entity references this 'services' entity","fields":{"@referenced_by":"routes"}}`)

	_, err = c.Services.Get(ctx, kong.String("nope"))
	if !kong.IsNotFoundErr(err) {
		t.Fatalf("GET /services/nope: %v", err)
	}
	wantBody(t, c, "GET", "/services/nope", nil, 404, `{"message":"Not found"}`)
	wantBody(t, c, "GET", "/no-such-thing", nil, 404, `{"message":"Not found"}`)
	req, _ := c.NewRequest("POST", "/services", nil, nil)
	req.Header.Set("Content-Type", "text/plain")
	req.Body = io.NopCloser(strings.NewReader("host=h"))
	if res, err := c.DoRAW(ctx, req); err != nil || res.StatusCode != 415 {
		t.Fatalf("text/plain body: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	wantBody(t, c, "GET", "/consumer_groups", nil, 404, `{"message":"Not found"}`)
	wantBody(t, c, "DELETE", "/services", nil, 405, `{"message":"Method not allowed"}`)
	wantBody(t, c, "GET", "/services?size=0", nil, 400,
		`{"code":9,"name":"invalid size","message":"size must be an integer between 1 and 1000"}`)
	wantBody(t, c, "GET", "/config", nil, 400,
		`{"message":"this endpoint is only available when Kong is configured to not use a database"}`)
	wantBody(t, c, "GET", "/clustering/data-planes", nil, 400,
		`{"message":"this endpoint is only available when Kong is configured to run as Control Plane for the cluster"}`)

	// Plugin configs go through the plugins package's per-version schemas.
	_, err = c.Plugins.Create(ctx, &kong.Plugin{Name: kong.String("no-such-plugin")})
	wantAPIError(t, err, http.StatusBadRequest)
	wantBody(t, c, "POST", "/plugins", map[string]any{"name": "no-such-plugin"}, 400,
		`{"code":2,"name":"schema violation","message":"schema violation (name: plugin 'no-such-plugin' not enabled; add it to the 'plugins' configuration property)","fields":{"name":"plugin 'no-such-plugin' not enabled; add it to the 'plugins' configuration property"}}`)
	_, err = c.Plugins.Create(ctx, &kong.Plugin{Name: kong.String("acl"), Config: kong.Configuration{"whitelist": []any{"gold"}}})
	wantAPIError(t, err, http.StatusBadRequest)

	// Unique plugin per (name, service, route, consumer).
	if _, err := c.Plugins.Create(ctx, &kong.Plugin{Name: kong.String("key-auth")}); err != nil {
		t.Fatal(err)
	}
	wantBody(t, c, "POST", "/plugins", map[string]any{"name": "key-auth"}, 409,
		`{"code":5,"name":"unique constraint violation","message":"UNIQUE violation detected on '{consumer=null,name=\"key-auth\",route=null,service=null}'","fields":{"consumer":null,"name":"key-auth","route":null,"service":null}}`)
}

// TestRemovedFieldPerVersion: acl `whitelist` is valid on 2.8.5 and refused
// on 3.x (kong-breaking-changes 30-6), in DB mode and in DB-less /config.
func TestRemovedFieldPerVersion(t *testing.T) {
	ctx := context.Background()
	old := startNode(t, Config{Version: "2.8.5", DSN: bootstrapped(t, "2.8.5")})
	if _, err := client(t, old).Plugins.Create(ctx, &kong.Plugin{Name: kong.String("acl"), Config: kong.Configuration{"whitelist": []any{"gold"}}}); err != nil {
		t.Fatalf("2.8.5 refused acl whitelist: %v", err)
	}
	cfg := []byte(`{"_format_version":"1.1","plugins":[{"name":"acl","config":{"whitelist":["gold"]}}]}`)
	off28 := startNode(t, Config{Version: "2.8.5", Database: "off"})
	if err := client(t, off28).ReloadDeclarativeRawConfig(ctx, bytes.NewReader(cfg), false, false); err != nil {
		t.Fatalf("2.8.5 DB-less refused acl whitelist: %v", err)
	}
	off38 := startNode(t, Config{Version: "3.8.0", Database: "off"})
	err := client(t, off38).ReloadDeclarativeRawConfig(ctx, bytes.NewReader(cfg), false, true)
	wantAPIError(t, err, http.StatusBadRequest)
	var body map[string]any
	wantBodyDecoded(t, client(t, off38), "POST", "/config?flatten_errors=1", map[string]any{"config": string(cfg)}, 400, &body)
	if body["code"] != float64(14) || body["name"] != "invalid declarative configuration" {
		t.Fatalf("POST /config: %v", body)
	}
	flat, _ := body["flattened_errors"].([]any)
	if len(flat) != 1 {
		t.Fatalf("flattened_errors: %v", body["flattened_errors"])
	}
	first, _ := flat[0].(map[string]any)
	if first["entity_type"] != "plugin" {
		t.Fatalf("flattened error: %v", first)
	}
	found := false
	for _, e := range first["errors"].([]any) {
		if m := e.(map[string]any); m["field"] == "config.whitelist" && m["message"] == "unknown field" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no config.whitelist error in %v", first["errors"])
	}
}

func wantBodyDecoded(t *testing.T, c *kong.Client, method, path string, body any, status int, out *map[string]any) {
	t.Helper()
	req, err := c.NewRequest(method, path, nil, body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.DoRAW(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d", method, path, res.StatusCode, status)
	}
	if err := decodeJSON(res.Body, out); err != nil {
		t.Fatal(err)
	}
}
