package kongsim

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kong/go-kong/kong"
)

// TestBlueGreenFinishBreaksTheOldNode is issue 3's migration story end to
// end, on real nodes sharing one PostgreSQL database: 3.5.0 serves a route
// with rate-limiting (policy redis, flat redis_* fields); 3.7.1's
// `migrations up` leaves 006_350_to_360 pending and both versions serve;
// `migrations finish` runs the teardown that removes the flat fields, after
// which the 3.5.0 node answers requests through the plugin with Kong's 500
// while 3.7.1 keeps serving. (Kong 3.6.x's 006 has no teardown: its `up`
// removes the flat fields at once; see TestRedisMove350To361Data.)
func TestBlueGreenFinishBreaksTheOldNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(up.Close)

	dsn := bootstrapped(t, "3.5.0")
	const every = 100 * time.Millisecond // db_update_frequency, so proxies see the database's changes quickly
	blue := startNode(t, Config{Version: "3.5.0", DSN: dsn, DBUpdateFrequency: every})
	c := client(t, blue)
	svc, err := c.Services.Create(ctx, &kong.Service{Name: kong.String("orders"), URL: kong.String(up.URL)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Routes.Create(ctx, &kong.Route{Name: kong.String("orders"), Paths: kong.StringSlice("/orders"), Service: svc}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Plugins.Create(ctx, &kong.Plugin{Name: kong.String("rate-limiting"), Service: svc,
		Config: kong.Configuration{"minute": 1000, "policy": "redis", "redis_host": "redis.internal", "redis_port": 6379}}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, blue, 200, "3.5.0 before the upgrade")

	if code, out, errOut, err := Migrate(ctx, dsn, "3.7.1", "up"); err != nil || code != 0 {
		t.Fatalf("3.7.1 migrations up: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	if code, _, _, _ := Migrate(ctx, dsn, "3.7.1", "list"); code != 4 {
		t.Fatalf("3.7.1 migrations list after up: exit %d, want 4 (pending)", code)
	}
	green := startNode(t, Config{Version: "3.7.1", DSN: dsn, DBUpdateFrequency: every})
	waitStatus(t, green, 200, "3.7.1 after up")
	waitStatus(t, blue, 200, "3.5.0 after up")

	if code, out, errOut, err := Migrate(ctx, dsn, "3.7.1", "finish"); err != nil || code != 0 {
		t.Fatalf("3.7.1 migrations finish: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	waitStatus(t, blue, 500, "3.5.0 after finish (its flat redis_* fields are gone)")
	waitStatus(t, green, 200, "3.7.1 after finish")
}

// waitStatus polls GET /orders on n's proxy until it answers want, or
// fails the test after a deadline.
func waitStatus(t *testing.T, n *Node, want int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	last := 0
	for {
		resp, err := http.Get(n.ProxyURL() + "/orders")
		if err == nil {
			last = resp.StatusCode
			_ = resp.Body.Close()
			if last == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: GET /orders answered %d (err %v), want %d", what, last, err, want)
		}
		<-tick.C
	}
}
