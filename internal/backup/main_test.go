package backup

import (
	"context"
	"os"
	"testing"
	"time"

	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// bootstrapped returns a fresh database bootstrapped by kongsim's
// `kong migrations bootstrap` at version v.
func bootstrapped(t testing.TB, v string) string {
	t.Helper()
	dsn := testenv.Postgres(t).NewDatabase(t)
	if code, out, errOut, err := kongsim.Migrate(context.Background(), dsn, v, "bootstrap"); err != nil || code != 0 {
		t.Fatalf("bootstrap %s: exit %d, %v\n%s%s", v, code, err, out, errOut)
	}
	return dsn
}

func startSim(t testing.TB, cfg kongsim.Config) *kongsim.Node {
	t.Helper()
	cfg.AdminListen, cfg.ProxyListen, cfg.StatusListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	n, err := kongsim.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start kongsim %s: %v", cfg.Version, err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	return n
}

func kongClient(t testing.TB, n *kongsim.Node) *kong.Client {
	t.Helper()
	// A page of 1,000 routes under -race on a busy 2-core machine took
	// over the default 10 s per request once (TestRoundTrip's dump).
	c, err := kong.New(kong.Options{AdminURL: n.AdminURL(), StatusURL: n.StatusURL(), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// populate writes a small configuration of every common kind through the
// Admin API.
func populate(t testing.TB, c *gokong.Client) {
	t.Helper()
	ctx := context.Background()
	svc, err := c.Services.Create(ctx, &gokong.Service{Name: gokong.String("echo"), Host: gokong.String("echo.internal"), Tags: gokong.StringSlice("team-a")})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Routes.Create(ctx, &gokong.Route{Name: gokong.String("echo-r"), Paths: gokong.StringSlice("/echo"), Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Plugins.Create(ctx, &gokong.Plugin{Name: gokong.String("key-auth"), Service: svc}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Plugins.Create(ctx, &gokong.Plugin{Name: gokong.String("rate-limiting"), Route: r, Config: gokong.Configuration{"minute": 10}}); err != nil {
		t.Fatal(err)
	}
	cons, err := c.Consumers.Create(ctx, &gokong.Consumer{Username: gokong.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KeyAuths.Create(ctx, cons.ID, &gokong.KeyAuth{Key: gokong.String("secret-alice")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Plugins.Create(ctx, &gokong.Plugin{Name: gokong.String("correlation-id"), Consumer: cons}); err != nil {
		t.Fatal(err)
	}
	up, err := c.Upstreams.Create(ctx, &gokong.Upstream{Name: gokong.String("up1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Targets.Create(ctx, up.ID, &gokong.Target{Target: gokong.String("10.0.0.1:80"), Weight: gokong.Int(50)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Plugins.Create(ctx, &gokong.Plugin{Name: gokong.String("cors"), Config: gokong.Configuration{"origins": []string{"*"}}}); err != nil {
		t.Fatal(err)
	}
}
