package backup

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/testenv"
	"github.com/upshift-dev/upshift/kong"
	"github.com/upshift-dev/upshift/kongsim"
)

var kongBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := testenv.Main(m)
	if kongBin.dir != "" {
		os.RemoveAll(kongBin.dir)
	}
	os.Exit(code)
}

// kongsimKong builds kongsim's kong CLI once per test binary.
func kongsimKong(t testing.TB) string {
	t.Helper()
	kongBin.once.Do(func() {
		kongBin.dir, kongBin.err = os.MkdirTemp("", "upshift-backup-kong-")
		if kongBin.err != nil {
			return
		}
		kongBin.path = filepath.Join(kongBin.dir, "kong")
		out, err := exec.Command("go", "build", "-o", kongBin.path, "github.com/upshift-dev/upshift/kongsim/cmd/kong").CombinedOutput()
		if err != nil {
			kongBin.err, kongBin.path = err, string(out)
		}
	})
	if kongBin.err != nil {
		t.Fatalf("build kongsim's kong: %v\n%s", kongBin.err, kongBin.path)
	}
	return kongBin.path
}

// bootstrapped returns a fresh database bootstrapped by kongsim's kong at
// version v.
func bootstrapped(t testing.TB, v string) string {
	t.Helper()
	dsn := testenv.Postgres(t).NewDatabase(t)
	u, _ := url.Parse(dsn)
	port, _ := strconv.Atoi(u.Port())
	pw, _ := u.User.Password()
	cmd := kong.Command{Argv: []string{kongsimKong(t)}, Env: []string{"KONG_VERSION=" + v},
		DB: kong.DB{Host: u.Hostname(), Port: port, Database: u.Path[1:], User: u.User.Username(), Password: pw}}
	if res, err := cmd.Run(context.Background(), "migrations", "bootstrap"); err != nil {
		t.Fatalf("bootstrap %s: %v\n%s", v, err, res.Stderr)
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
	c, err := kong.New(kong.Options{AdminURL: n.AdminURL(), StatusURL: n.StatusURL()})
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
