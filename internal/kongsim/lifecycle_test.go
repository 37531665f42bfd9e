package kongsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// get fetches url and decodes a JSON body (if any).
func get(t *testing.T, method, url string, body io.Reader) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return res.StatusCode, m, res.Header
}

// TestStartSemantics: kong start refuses a database that needs bootstrap
// or has new migrations, and starts with pending ones (kong-facts §3.3).
func TestStartSemantics(t *testing.T) {
	ctx := context.Background()
	fresh := testenv.Postgres(t).NewDatabase(t)
	_, err := Start(ctx, Config{Version: "3.7.1", DSN: fresh})
	if err == nil || !strings.HasPrefix(err.Error(), "Database needs bootstrapping or is older than Kong 1.0.") {
		t.Fatalf("start on a fresh database: %v", err)
	}

	dsn := bootstrapped(t, "3.5.0")
	_, err = Start(ctx, Config{Version: "3.7.1", DSN: dsn})
	if err == nil || err.Error() != "New migrations available; run 'kong migrations up' to proceed" {
		t.Fatalf("start 3.7.1 on a 3.5.0 database: %v", err)
	}
	if code := migrate(t, dsn, "3.7.1", "up"); code != 0 {
		t.Fatalf("up: exit %d", code)
	}
	if code := migrate(t, dsn, "3.7.1", "list"); code != 4 {
		t.Fatalf("list after up: exit %d, want 4 (pending)", code)
	}
	// Pending migrations (3.7+ leaves rate-limiting's 006_350_to_360 and
	// the other redis moves pending; 3.6.x's have no teardown): both
	// versions start and are ready.
	for _, v := range []string{"3.5.0", "3.7.1"} {
		n := startNode(t, Config{Version: v, DSN: dsn})
		code, body, _ := get(t, "GET", n.StatusURL()+"/status/ready", nil)
		if code != 200 || body["message"] != "ready" {
			t.Fatalf("%s /status/ready: %d %v", v, code, body)
		}
		_, root, hdr := get(t, "GET", n.AdminURL()+"/", nil)
		if root["version"] != v || hdr.Get("Server") != "kong/"+v || hdr.Get("X-Kong-Admin-Latency") == "" {
			t.Fatalf("%s GET /: %v %v", v, root["version"], hdr)
		}
		_, hasEdition := root["edition"]
		if hasEdition != (v != "3.5.0") {
			t.Fatalf("%s: edition present=%v (only from 3.6)", v, hasEdition)
		}
	}
}

// TestStatusAPI: /status/ready only from 3.3; reasons as Kong words them;
// DB unreachable; DB-less hashes; draining from 3.9.
func TestStatusAPI(t *testing.T) {
	ctx := context.Background()
	old := startNode(t, Config{Version: "3.2.0", Database: "off"})
	if code, _, _ := get(t, "GET", old.StatusURL()+"/status/ready", nil); code != 404 {
		t.Fatalf("3.2 /status/ready: %d, want 404", code)
	}

	db := startNode(t, Config{Version: "3.8.0", DSN: bootstrapped(t, "3.8.0")})
	db.Faults().SetDatabaseUnreachable(true)
	code, body, _ := get(t, "GET", db.StatusURL()+"/status/ready", nil)
	if code != 503 || body["message"] != "failed to connect to database" {
		t.Fatalf("ready with DB down: %d %v", code, body)
	}
	code, body, _ = get(t, "GET", db.AdminURL()+"/status", nil)
	if code != 200 || body["database"].(map[string]any)["reachable"] != false {
		t.Fatalf("/status with DB down: %d %v", code, body)
	}
	code, body, _ = get(t, "POST", db.AdminURL()+"/services", strings.NewReader(`{"host":"h"}`))
	if code != 500 || body["message"] != "An unexpected error occurred" || len(body) != 1 {
		t.Fatalf("write with DB down: %d %v", code, body)
	}
	db.Faults().SetDatabaseUnreachable(false)
	if code, _, _ := get(t, "GET", db.StatusURL()+"/status/ready", nil); code != 200 {
		t.Fatalf("ready after DB back: %d", code)
	}

	off := startNode(t, Config{Version: "3.9.1", Database: "off"})
	c := client(t, off)
	code, body, _ = get(t, "GET", off.StatusURL()+"/status/ready", nil)
	if code != 503 || body["message"] != "no configuration available (empty configuration present)" {
		t.Fatalf("empty DB-less node ready: %d %v", code, body)
	}
	_, st, _ := get(t, "GET", off.AdminURL()+"/status", nil)
	if st["configuration_hash"] != "00000000000000000000000000000000" || st["database"] != nil {
		t.Fatalf("empty DB-less /status: %v", st)
	}
	cfg := `{"_format_version":"3.0","services":[{"name":"s","host":"h","routes":[{"name":"r","paths":["/"]}]}]}`
	if err := c.ReloadDeclarativeRawConfig(ctx, strings.NewReader(cfg), true, true); err != nil {
		t.Fatal(err)
	}
	_, st, _ = get(t, "GET", off.AdminURL()+"/status", nil)
	hash, _ := st["configuration_hash"].(string)
	if len(hash) != 32 || hash == "00000000000000000000000000000000" {
		t.Fatalf("hash after load: %v", st)
	}
	if code, _, _ := get(t, "GET", off.StatusURL()+"/status/ready", nil); code != 200 {
		t.Fatalf("ready after load: %d", code)
	}
	code, body, _ = get(t, "PATCH", off.AdminURL()+"/services/s", strings.NewReader(`{"retries":1}`))
	if code != 405 || body["message"] != "cannot update 'services' entities by 'name' when not using a database" {
		t.Fatalf("DB-less PATCH by name: %d %v", code, body)
	}
	code, body, _ = get(t, "DELETE", off.AdminURL()+"/services/s", nil)
	if code != 405 || body["message"] != "cannot remove 'services' entities by 'name' when not using a database" {
		t.Fatalf("DB-less DELETE by name: %d %v", code, body)
	}
	// GET /config gives back Kong's declarative YAML, which loads again to
	// the same hash.
	_, gc, _ := get(t, "GET", off.AdminURL()+"/config", nil)
	yml, _ := gc["config"].(string)
	if !strings.Contains(yml, "_format_version: \"3.0\"") {
		t.Fatalf("GET /config: %q", yml)
	}
	b, _ := json.Marshal(map[string]any{"config": yml})
	code, _, _ = get(t, "POST", off.AdminURL()+"/config?check_hash=1", bytes.NewReader(b))
	if code != 304 {
		t.Fatalf("re-post of GET /config with check_hash: %d, want 304", code)
	}
	// 3.9: draining.
	if code, _, _ := get(t, "POST", off.StatusURL()+"/status/ready", strings.NewReader(`{"status":"draining"}`)); code != 204 {
		t.Fatalf("POST draining: %d", code)
	}
	code, body, _ = get(t, "GET", off.StatusURL()+"/status/ready", nil)
	if code != 503 || body["message"] != "draining" {
		t.Fatalf("after draining: %d %v", code, body)
	}
}

// TestConfigFaults: 429 with Retry-After for N posts then success; 413;
// a load that leaves an empty configuration.
func TestConfigFaults(t *testing.T) {
	ctx := context.Background()
	off := startNode(t, Config{Version: "3.8.0", Database: "off"})
	c := client(t, off)
	cfg := `{"_format_version":"3.0","consumers":[{"username":"a"}]}`
	off.Faults().RejectConfig(http.StatusTooManyRequests, 2, 2)
	code, body, hdr := get(t, "POST", off.AdminURL()+"/config", strings.NewReader(cfg))
	if code != 429 || hdr.Get("Retry-After") != "2" || body["message"] != "Currently loading previous configuration" {
		t.Fatalf("first post: %d %v %v", code, hdr, body)
	}
	err := c.ReloadDeclarativeRawConfig(ctx, strings.NewReader(cfg), false, false)
	var ae *kong.APIError
	if !errors.As(err, &ae) || ae.Code() != 429 || !strings.Contains(string(ae.Raw()), "Currently loading previous configuration") {
		t.Fatalf("second post: %v, want 429", err)
	}
	if err := c.ReloadDeclarativeRawConfig(ctx, strings.NewReader(cfg), false, false); err != nil {
		t.Fatalf("third post: %v", err)
	}
	off.Faults().RejectConfig(http.StatusRequestEntityTooLarge, 0, 1)
	code, body, _ = get(t, "POST", off.AdminURL()+"/config", strings.NewReader(cfg))
	if code != 413 || !strings.HasPrefix(body["message"].(string), "Configuration does not fit in LMDB database") {
		t.Fatalf("413: %d %v", code, body)
	}
	off.Faults().LoadEmptyConfig(1)
	code, _, _ = get(t, "POST", off.AdminURL()+"/config", strings.NewReader(`{"_format_version":"3.0","consumers":[{"username":"b"}]}`))
	if code != 201 {
		t.Fatalf("post with empty-config fault: %d", code)
	}
	code, body, _ = get(t, "GET", off.StatusURL()+"/status/ready", nil)
	if code != 503 || body["message"] != "no configuration available (empty configuration present)" {
		t.Fatalf("ready after empty load: %d %v", code, body)
	}
}

// TestListenerFaults: 5xx, hangs bounded by the client, closed
// connections, and stop/start on the same ports.
func TestListenerFaults(t *testing.T) {
	n := startNode(t, Config{Version: "3.8.0", DSN: bootstrapped(t, "3.8.0")})
	n.Faults().Fail("admin", 503, 1)
	if code, body, _ := get(t, "GET", n.AdminURL()+"/", nil); code != 503 || body["message"] != "An unexpected error occurred" {
		t.Fatalf("5xx fault: %d %v", code, body)
	}
	if code, _, _ := get(t, "GET", n.AdminURL()+"/", nil); code != 200 {
		t.Fatalf("after the fault: %d", code)
	}

	n.Faults().Hang("proxy", 1)
	cl := &http.Client{Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, err := cl.Get(n.ProxyURL() + "/")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("hang fault: %v, want a client timeout", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("hang not bounded by the client")
	}

	n.Faults().CloseConn("", 1)
	// A fresh connection: Go retries a GET whose reused connection closed.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	if _, err := fresh.Get(n.AdminURL() + "/status"); err == nil {
		t.Fatal("close fault: request succeeded")
	}

	// Stop, then start again on the same ports with the same node id.
	cfg := n.Config()
	admin := n.AdminURL()
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(admin + "/"); err == nil {
		t.Fatal("stopped node answered")
	}
	n2, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(func() { _ = n2.Stop() })
	if n2.AdminURL() != admin || n2.NodeID() != n.NodeID() {
		t.Fatalf("restart moved: %s %s", n2.AdminURL(), n2.NodeID())
	}
	if code, _, _ := get(t, "GET", admin+"/status", nil); code != 200 {
		t.Fatalf("restarted node: %d", code)
	}
}
