package migrations

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// fixedNow makes warn-line prefixes stable.
func fixedNow() time.Time { return time.Date(2026, 11, 23, 20, 0, 0, 0, time.UTC) }

const warnPrefix = "2026/11/23 20:00:00 [warn] "

type result struct {
	code           int
	stdout, stderr string
}

type db struct {
	t   *testing.T
	dsn string
	c   *pgx.Conn // the test's own connection, opened on first use
}

func newDB(t *testing.T) *db {
	t.Helper()
	return &db{t: t, dsn: testenv.Postgres(t).NewDatabase(t)}
}

func (d *db) connectFunc(appName string) func(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(d.dsn)
	if err != nil {
		d.t.Fatalf("parse dsn: %v", err)
	}
	if appName != "" {
		cfg.RuntimeParams["application_name"] = appName
	}
	return Connector(cfg)
}

// run runs one command for version v with opts (Version, Stdout, Stderr
// and Now are filled in).
func (d *db) run(v, command string, opts Options) result {
	d.t.Helper()
	var out, errb bytes.Buffer
	opts.Version = kongrelease.MustParse(v)
	opts.Stdout, opts.Stderr, opts.Now = &out, &errb, fixedNow
	if opts.Database == "" {
		opts.Database = "kong"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := New(d.connectFunc(""), opts).Run(ctx, command)
	return result{code, out.String(), errb.String()}
}

// must runs a command that must exit 0.
func (d *db) must(v, command string) result {
	d.t.Helper()
	r := d.run(v, command, Options{})
	if r.code != 0 {
		d.t.Fatalf("%s %s: exit %d\nstdout:\n%s\nstderr:\n%s", v, command, r.code, r.stdout, r.stderr)
	}
	return r
}

func (d *db) conn() *pgx.Conn {
	d.t.Helper()
	if d.c != nil && !d.c.IsClosed() {
		return d.c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, d.dsn)
	if err != nil {
		d.t.Fatalf("connect: %v", err)
	}
	d.t.Cleanup(func() { _ = c.Close(context.Background()) })
	d.c = c
	return c
}

func (d *db) exec(sql string, args ...any) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.conn().Exec(ctx, sql, args...); err != nil {
		d.t.Fatalf("%s: %v", sql, err)
	}
}

func (d *db) inspect(v string) State {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := Inspect(ctx, d.conn(), kongrelease.MustParse(v))
	if err != nil {
		d.t.Fatalf("inspect %s: %v", v, err)
	}
	return st
}

func (d *db) queryString(sql string, args ...any) string {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var s string
	if err := d.conn().QueryRow(ctx, sql, args...).Scan(&s); err != nil {
		d.t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func wantResult(t *testing.T, what string, got result, code int, stdout, stderr string) {
	t.Helper()
	if got.code != code || got.stdout != stdout || got.stderr != stderr {
		t.Errorf("%s:\n got exit %d\nstdout:\n%q\nstderr:\n%q\nwant exit %d\nstdout:\n%q\nstderr:\n%q",
			what, got.code, got.stdout, got.stderr, code, stdout, stderr)
	}
}
