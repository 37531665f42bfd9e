package kongsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/kong/go-database-reconciler/pkg/diff"
	"github.com/kong/go-database-reconciler/pkg/dump"
	"github.com/kong/go-database-reconciler/pkg/file"
	"github.com/kong/go-database-reconciler/pkg/state"
	"github.com/kong/go-database-reconciler/pkg/utils"
	"github.com/kong/go-kong/kong"
)

// populate creates the conformance fixture with go-kong: a service with a
// route, key-auth and rate-limiting on the service, a global prometheus
// plugin, a consumer with a key-auth credential and an ACL group, and an
// upstream with a target.
func populate(t *testing.T, c *kong.Client) {
	t.Helper()
	ctx := context.Background()
	svc, err := c.Services.Create(ctx, &kong.Service{Name: kong.String("echo"), URL: kong.String("http://echo.internal:8080/base"), Tags: kong.StringSlice("team-a")})
	if err != nil {
		t.Fatalf("create service: %v", err)
	}
	if _, err := c.Routes.CreateInService(ctx, svc.ID, &kong.Route{Name: kong.String("echo-r"), Paths: kong.StringSlice("/echo"), Tags: kong.StringSlice("team-a")}); err != nil {
		t.Fatalf("create route: %v", err)
	}
	for _, p := range []*kong.Plugin{
		{Name: kong.String("key-auth"), Service: svc, Config: kong.Configuration{"key_names": []any{"apikey"}}},
		{Name: kong.String("rate-limiting"), Service: svc, Config: kong.Configuration{"minute": 100, "policy": "local"}},
		{Name: kong.String("prometheus"), Config: kong.Configuration{"status_code_metrics": true}},
	} {
		if _, err := c.Plugins.Create(ctx, p); err != nil {
			t.Fatalf("create plugin %s: %v", *p.Name, err)
		}
	}
	alice, err := c.Consumers.Create(ctx, &kong.Consumer{Username: kong.String("alice"), CustomID: kong.String("a-1")})
	if err != nil {
		t.Fatalf("create consumer: %v", err)
	}
	if _, err := c.KeyAuths.Create(ctx, alice.ID, &kong.KeyAuth{Key: kong.String("secret-alice")}); err != nil {
		t.Fatalf("create key-auth: %v", err)
	}
	if _, err := c.ACLs.Create(ctx, alice.ID, &kong.ACLGroup{Group: kong.String("gold")}); err != nil {
		t.Fatalf("create acl: %v", err)
	}
	up, err := c.Upstreams.Create(ctx, &kong.Upstream{Name: kong.String("up1")})
	if err != nil {
		t.Fatalf("create upstream: %v", err)
	}
	if _, err := c.Targets.Create(ctx, up.ID, &kong.Target{Target: kong.String("10.0.0.1:80")}); err != nil {
		t.Fatalf("create target: %v", err)
	}
}

// dumpContent is `deck gateway dump --with-id` through the engine.
func dumpContent(t *testing.T, c *kong.Client) *file.Content {
	t.Helper()
	ctx := context.Background()
	info, err := c.Root(ctx)
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	raw, err := dump.Get(ctx, c, dump.Config{})
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	ks, err := state.Get(raw)
	if err != nil {
		t.Fatalf("state: %v", err)
	}
	content, err := file.KongStateToContent(ks, file.WriteConfig{WithID: true, KongVersion: kong.VersionFromInfo(info)})
	if err != nil {
		t.Fatalf("to content: %v", err)
	}
	return content
}

func contentJSON(t *testing.T, c *file.Content) string {
	t.Helper()
	b, err := json.MarshalIndent(c, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// syncContent is `deck gateway sync` through the engine; it returns the
// number of create, update and delete operations.
func syncContent(t *testing.T, c *kong.Client, dumped *file.Content) (creates, updates, deletes int32) {
	t.Helper()
	ctx := context.Background()
	// Read the content back from a file as decK does: file.Get mutates it.
	path := filepath.Join(t.TempDir(), "kong.json")
	if err := os.WriteFile(path, []byte(contentJSON(t, dumped)), 0o600); err != nil {
		t.Fatal(err)
	}
	content, err := file.GetContentFromFiles([]string{path}, false)
	if err != nil {
		t.Fatalf("read dump file: %v", err)
	}
	info, err := c.Root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := utils.ParseKongVersion(kong.VersionFromInfo(info))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := dump.Get(ctx, c, dump.Config{})
	if err != nil {
		t.Fatalf("dump current: %v", err)
	}
	current, err := state.Get(raw)
	if err != nil {
		t.Fatal(err)
	}
	tRaw, err := file.Get(ctx, content, file.RenderConfig{CurrentState: current, KongVersion: ver}, dump.Config{}, c)
	if err != nil {
		t.Fatalf("render target: %v", err)
	}
	target, err := state.Get(tRaw)
	if err != nil {
		t.Fatal(err)
	}
	s, err := diff.NewSyncer(diff.SyncerOpts{CurrentState: current, TargetState: target, KongClient: c, SilenceWarnings: true})
	if err != nil {
		t.Fatal(err)
	}
	// Parallelism 1: with JSON output, GDR v1.39.0's Solve appends to its
	// change list from several goroutines without a lock (a data race under
	// -race, diff.go:851).
	stats, errs, _ := s.Solve(ctx, 1, false, true)
	if len(errs) > 0 {
		t.Fatalf("sync: %v", errors.Join(errs...))
	}
	return stats.CreateOps.Count(), stats.UpdateOps.Count(), stats.DeleteOps.Count()
}

// wipe deletes every entity through go-kong.
func wipe(t *testing.T, c *kong.Client) {
	t.Helper()
	ctx := context.Background()
	plugins, err := c.Plugins.ListAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plugins {
		if err := c.Plugins.Delete(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
	}
	routes, _ := c.Routes.ListAll(ctx)
	for _, r := range routes {
		if err := c.Routes.Delete(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
	}
	services, _ := c.Services.ListAll(ctx)
	for _, s := range services {
		if err := c.Services.Delete(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
	}
	consumers, _ := c.Consumers.ListAll(ctx)
	for _, co := range consumers {
		if err := c.Consumers.Delete(ctx, co.ID); err != nil {
			t.Fatal(err)
		}
	}
	ups, _ := c.Upstreams.ListAll(ctx)
	for _, u := range ups {
		if err := c.Upstreams.Delete(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := c.KeyAuths.ListAll(ctx)
	if err != nil || len(keys) != 0 {
		t.Fatalf("key-auths left after wipe: %d %v", len(keys), err)
	}
}

func TestConformanceDumpWipeRestore(t *testing.T) {
	ctx := context.Background()
	dsn := bootstrapped(t, "3.8.0")
	a := startNode(t, Config{Version: "3.8.0", DSN: dsn})
	ca := client(t, a)
	populate(t, ca)
	before := contentJSON(t, dumpContent(t, ca))

	// A second node on the same database sees the first one's writes.
	b := startNode(t, Config{Version: "3.8.0", DSN: dsn})
	svc, err := client(t, b).Services.Get(ctx, kong.String("echo"))
	if err != nil || *svc.Host != "echo.internal" || *svc.Port != 8080 {
		t.Fatalf("node B GET /services/echo: %v %v", svc, err)
	}

	// Re-syncing the dump onto the same state changes nothing.
	content := dumpContent(t, ca)
	if c, u, d := syncContent(t, ca, content); c+u+d != 0 {
		t.Fatalf("no-op sync did %d creates, %d updates, %d deletes", c, u, d)
	}

	wipe(t, ca)
	if c, _, _ := syncContent(t, ca, content); c == 0 {
		t.Fatal("restore created nothing")
	}
	if after := contentJSON(t, dumpContent(t, ca)); after != before {
		t.Fatalf("dump after restore differs:\nbefore %s\nafter %s", before, after)
	}

	// DB-less: POST /config with the same content (decK's _info stripped),
	// then the dump of the DB-less node is identical.
	off := startNode(t, Config{Version: "3.8.0", Database: "off"})
	co := client(t, off)
	content.Info = nil
	body, err := json.Marshal(content)
	if err != nil {
		t.Fatal(err)
	}
	if err := co.ReloadDeclarativeRawConfig(ctx, bytes.NewReader(body), true, true); err != nil {
		t.Fatalf("POST /config: %v", err)
	}
	if got := contentJSON(t, dumpContent(t, co)); got != before {
		t.Fatalf("DB-less dump differs:\nwant %s\ngot %s", before, got)
	}
	// Same config again with check_hash: 304, which go-kong treats as success.
	if err := co.ReloadDeclarativeRawConfig(ctx, bytes.NewReader(body), true, true); err != nil {
		t.Fatalf("POST /config again: %v", err)
	}
	// Writes are refused without a database.
	_, err = co.Services.Create(ctx, &kong.Service{Name: kong.String("x"), Host: kong.String("h")})
	wantAPIError(t, err, http.StatusMethodNotAllowed)
	wantBody(t, co, "POST", "/services", map[string]any{"host": "h"}, http.StatusMethodNotAllowed,
		`{"code":12,"message":"cannot create 'services' entities when not using a database","name":"operation unsupported"}`)
}

// wantAPIError checks that go-kong surfaces a Kong error with this status.
func wantAPIError(t *testing.T, err error, status int) {
	t.Helper()
	var ae *kong.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want API error %d, got %v", status, err)
	}
	if ae.Code() != status {
		t.Fatalf("status %d, want %d (%v)", ae.Code(), status, err)
	}
}

// wantBody sends a request through go-kong's raw request API and checks
// the status and the exact JSON body (key order aside).
func wantBody(t *testing.T, c *kong.Client, method, path string, body any, status int, want string) {
	t.Helper()
	ctx := context.Background()
	req, err := c.NewRequest(method, path, nil, body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.DoRAW(ctx, req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, status, raw)
	}
	if want == "" {
		return
	}
	var got, exp any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%s %s: body %q: %v", method, path, raw, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(exp)
	if string(g) != string(w) {
		t.Fatalf("%s %s body\n got %s\nwant %s", method, path, g, w)
	}
}
