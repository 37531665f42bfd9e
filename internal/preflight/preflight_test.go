package preflight

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/preflight/rules"
	"github.com/upshift-dev/upshift/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestRunDBMode: X is kongsim 2.8.5 on real PostgreSQL. A regex path
// without ~ is info in DB mode (Kong's 3.0 migration adds the ~); a live
// row in Kong's locks table is an error naming its owner; the sizes come
// from pg_class.reltuples and the dump's rows per plugin; a database that
// cannot be read is an error finding, never a clean report.
func TestRunDBMode(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t).NewDatabase(t)
	if code, out, errOut, err := kongsim.Migrate(ctx, dsn, "2.8.5", "bootstrap"); err != nil || code != 0 {
		t.Fatalf("bootstrap: %d %v %s %s", code, err, out, errOut)
	}
	x, err := kongsim.Start(ctx, kongsim.Config{Version: "2.8.5", DSN: dsn, AdminListen: "127.0.0.1:0", ProxyListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Stop() })
	xc, err := kong.New(kong.Options{AdminURL: x.AdminURL()})
	if err != nil {
		t.Fatal(err)
	}
	post(t, x.AdminURL()+"/services", `{"name": "billing", "url": "http://127.0.0.1:9"}`)
	post(t, x.AdminURL()+"/services/billing/routes", `{"name": "invoices", "paths": ["/invoices/\\d+$"]}`)
	post(t, x.AdminURL()+"/services/billing/plugins", `{"name": "key-auth"}`)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO locks (key, owner, ttl) VALUES ('migrations', 'host-a', now() + interval '1 hour'); ANALYZE`); err != nil {
		t.Fatal(err)
	}

	o := Options{X: Side{Client: xc, DSN: dsn, Version: kongrelease.MustParse("2.8.5")}, Y: Side{Version: kongrelease.MustParse("3.4.2")}}
	r, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Mode != rules.ModeDB || r.X.Answered != "2.8.5" || r.Migrations == nil {
		t.Fatalf("mode %s, X %+v, migrations %+v", r.Mode, r.X, r.Migrations)
	}
	find := func(id string) *rules.Finding {
		for i, f := range r.Findings {
			if f.Rule == id {
				return &r.Findings[i]
			}
		}
		return nil
	}
	if f := find("PF30-1"); f == nil || f.Severity != rules.Info || f.Where != "services[billing].routes[invoices]" {
		t.Errorf("PF30-1 in DB mode: %+v, want info at the route", f)
	}
	if f := find(ruleState); f == nil || f.Severity != rules.Error || !strings.Contains(f.Detail, "owner host-a") || r.Clean {
		t.Errorf("locks row: %+v, clean %v", f, r.Clean)
	}
	if r.Plugins.InUse["key-auth"] < 1 || r.Sizes.Entities < 3 {
		t.Errorf("plugins %v, entities %d", r.Plugins.InUse, r.Sizes.Entities)
	}
	if n, ok := r.Sizes.Tables["routes"]; !ok || n < 1 {
		t.Errorf("pg_class sizes %v: want routes ≥ 1 after ANALYZE", r.Sizes.Tables)
	}
	if len(r.Migrations.ForY.New) == 0 || len(r.Migrations.ForX.New) != 0 {
		t.Errorf("schema_meta for X %v / for Y %v: want nothing new for X, 3.x's migrations for Y", r.Migrations.ForX.New, r.Migrations.ForY.New)
	}

	// Unknown is never clean: a database that cannot be read is an error.
	o.X.DSN = strings.Replace(dsn, "dbname=", "dbname=absent_", 1)
	if !strings.Contains(o.X.DSN, "absent_") {
		o.X.DSN = dsn[:strings.LastIndex(dsn, "/")+1] + "absent_db"
	}
	if _, err := conn.Exec(ctx, `DELETE FROM locks`); err != nil {
		t.Fatal(err)
	}
	r, err = Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if f := find(ruleUnread); f == nil || f.Severity != rules.Error || r.Clean {
		t.Errorf("unreadable database: %+v, clean %v", f, r.Clean)
	}
}

func post(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
}
