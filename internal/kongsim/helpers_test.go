package kongsim

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/migrations"
	"github.com/upshift-dev/upshift/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// migrate runs `kong migrations <cmd>` of version v on dsn and returns the
// exit code.
func migrate(t *testing.T, dsn, v, cmd string) int {
	t.Helper()
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	r := migrations.New(migrations.Connector(cc), migrations.Options{Version: kongrelease.MustParse(v), Stdout: io.Discard, Stderr: io.Discard})
	return r.Run(context.Background(), cmd)
}

// bootstrapped returns the DSN of a fresh database bootstrapped by v.
func bootstrapped(t *testing.T, v string) string {
	t.Helper()
	dsn := testenv.Postgres(t).NewDatabase(t)
	if code := migrate(t, dsn, v, "bootstrap"); code != 0 {
		t.Fatalf("bootstrap %s: exit %d", v, code)
	}
	return dsn
}

// startNode starts a node with every listener on a free loopback port and
// stops it at cleanup.
func startNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	cfg.AdminListen, cfg.ProxyListen, cfg.StatusListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if cfg.Role == "control_plane" {
		cfg.ClusterListen = "127.0.0.1:0"
	}
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start %s node: %v", cfg.Version, err)
	}
	t.Cleanup(func() { _ = n.Stop() })
	return n
}

func client(t *testing.T, n *Node) *kong.Client {
	t.Helper()
	u := n.AdminURL()
	c, err := kong.NewClient(&u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func decodeJSON(r io.Reader, out any) error { return json.NewDecoder(r).Decode(out) }
