package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// kongBin is the kong binary built once for this test binary.
var kongBin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "kongsim-kong-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		kongBin = filepath.Join(dir, "kong")
		build := exec.Command("go", "build", "-o", kongBin, ".")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
			return 1
		}
		return testenv.Main(m)
	}())
}

const hint = "\n  Run with --v (verbose) or --vv (debug) for more details\n"

type kong struct {
	t   *testing.T
	env []string
	dsn string
}

func newKong(t *testing.T) *kong {
	t.Helper()
	dsn := testenv.Postgres(t).NewDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"KONG_PG_HOST=" + u.Hostname(), "KONG_PG_PORT=" + u.Port(),
		"KONG_PG_DATABASE=" + strings.TrimPrefix(u.Path, "/"), "KONG_PG_USER=" + u.User.Username(),
		"KONG_PG_PASSWORD=" + pw,
	}
	return &kong{t: t, env: env, dsn: dsn}
}

type out struct {
	code           int
	signaled       bool
	stdout, stderr string
}

func (k *kong) cmd(ctx context.Context, version string, extraEnv []string, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	var so, se bytes.Buffer
	c := exec.CommandContext(ctx, kongBin, args...)
	c.Env = append(append(append([]string{}, k.env...), "KONG_VERSION="+version), extraEnv...)
	c.Stdout, c.Stderr = &so, &se
	return c, &so, &se
}

func result(err error, so, se *bytes.Buffer) (out, error) {
	o := out{stdout: so.String(), stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		o.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			o.signaled = ws.Signal() == syscall.SIGKILL
		}
	default:
		return o, err
	}
	return o, nil
}

func (k *kong) run(version string, extraEnv []string, args ...string) out {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, so, se := k.cmd(ctx, version, extraEnv, args...)
	o, err := result(c.Run(), so, se)
	if err != nil {
		k.t.Fatalf("kong %v: %v", args, err)
	}
	return o
}

func (k *kong) wantExit(version string, code int, args ...string) out {
	k.t.Helper()
	o := k.run(version, nil, args...)
	if o.code != code {
		k.t.Errorf("KONG_VERSION=%s kong %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", version, strings.Join(args, " "), o.code, code, o.stdout, o.stderr)
	}
	return o
}

func (k *kong) exec(sql string, args ...any) {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, k.dsn)
	if err != nil {
		k.t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		k.t.Fatalf("%s: %v", sql, err)
	}
}

func (k *kong) queryString(sql string) string {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, k.dsn)
	if err != nil {
		k.t.Fatal(err)
	}
	defer c.Close(ctx)
	var s string
	if err := c.QueryRow(ctx, sql).Scan(&s); err != nil {
		k.t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func TestVersionAndUsage(t *testing.T) {
	t.Parallel()
	k := &kong{t: t, env: []string{"PATH=" + os.Getenv("PATH")}}
	if o := k.run("3.10.0.2", nil, "version"); o.code != 0 || o.stdout != "3.10.0.2\n" {
		t.Errorf("version: %+v", o)
	}
	if o := k.run("", nil, "migrations", "list"); o.code != 1 || !strings.HasPrefix(o.stderr, "Error: kongsim's kong must be told which Kong version") {
		t.Errorf("no version: %+v", o)
	}
	if o := k.run("3.9.1", nil, "migrations", "list", "--bogus"); o.code != 1 || o.stderr != "Error: unknown option --bogus\n"+hint {
		t.Errorf("bad flag: %+v", o)
	}
}

// TestExitCodes walks a two-phase hop, 3.5.0 → 3.7.1 (from 3.7.0 the 3.6
// redis moves are pending until finish), with the binary.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	k := newKong(t)
	k.wantExit("3.5.0", 3, "migrations", "list")
	k.wantExit("3.5.0", 1, "migrations", "up")
	k.wantExit("3.5.0", 0, "migrations", "bootstrap")
	k.wantExit("3.5.0", 0, "migrations", "list")
	k.wantExit("3.7.1", 5, "migrations", "list")
	k.wantExit("3.7.1", 0, "migrations", "up", "--db-timeout", "30", "--lock-timeout=30")
	k.wantExit("3.7.1", 4, "migrations", "list")
	k.wantExit("3.5.0", 0, "migrations", "list")
	if o := k.wantExit("3.9.1", 4, "migrations", "list"); !strings.HasSuffix(o.stderr, " [warn] Database has pending migrations from a previous upgrade, and new migrations from this upgrade (version 3.9.1)\n") {
		t.Errorf("pending and new: stderr %q", o.stderr)
	}
	k.wantExit("3.7.1", 1, "migrations", "up")
	k.wantExit("3.7.1", 0, "migrations", "finish")
	k.wantExit("3.7.1", 0, "migrations", "list")
	if o := k.wantExit("3.7.1", 0, "migrations", "status"); !strings.HasPrefix(o.stdout, `{"needs_bootstrap":false,"executed_migrations":[{"subsystem":"core"`) {
		t.Errorf("status: %s", o.stdout)
	}
	// Off a tty (stdin is /dev/null here) reset needs --yes.
	if o := k.wantExit("3.7.1", 1, "migrations", "reset"); o.stderr != "Error: not a tty: invoke 'reset' non-interactively with the --yes flag\n"+hint {
		t.Errorf("reset: %q", o.stderr)
	}
	k.wantExit("3.7.1", 0, "migrations", "reset", "-y")
	k.wantExit("3.7.1", 3, "migrations", "list")
}

// TestConcurrentUpAborts: a second `kong migrations up` waits on the lock
// and, once it is released, prints the aborted line and exits 0.
func TestConcurrentUpAborts(t *testing.T) {
	t.Parallel()
	k := newKong(t)
	k.wantExit("3.5.0", 0, "migrations", "bootstrap")
	k.exec(`INSERT INTO locks (key, owner, ttl) VALUES ('migrations', 'first-runner', now() + interval '60 seconds')`)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, so, se := k.cmd(ctx, "3.6.1", nil, "migrations", "up")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- c.Wait() }()
	db, err := pgx.Connect(ctx, k.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	dbname := strings.TrimPrefix(k.env[3], "KONG_PG_DATABASE=")
	for {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pgmoon' AND query LIKE '%FROM locks%ttl >=%'`, dbname).Scan(&n); err != nil {
			t.Fatalf("waiting for the second up to poll the lock: %v", err)
		}
		if n > 0 {
			break
		}
		select {
		case err := <-waited:
			t.Fatalf("second up ended early: %v\n%s%s", err, so, se)
		default:
		}
	}
	if _, err := db.Exec(ctx, `DELETE FROM locks WHERE owner = 'first-runner'`); err != nil {
		t.Fatal(err)
	}
	o, err := result(<-waited, so, se)
	if err != nil {
		t.Fatal(err)
	}
	if o.code != 0 || o.stdout != "aborted: another node is performing database changes\n" || o.stderr != "" {
		t.Errorf("second up: %+v", o)
	}
}

const plugin = `{"id":"8d1a2b6e-4f0e-4b52-9d55-1b1d7e1f3a01","name":"rate-limiting","config":{"policy":"redis","redis_host":"10.0.0.5","redis_port":6379}}`

func TestFaults(t *testing.T) {
	t.Parallel()
	t.Run("kill after commit", func(t *testing.T) {
		t.Parallel()
		k := newKong(t)
		k.wantExit("3.5.0", 0, "migrations", "bootstrap")
		k.exec(`INSERT INTO plugins (id, created_at, name, config, enabled, ws_id) SELECT '8d1a2b6e-4f0e-4b52-9d55-1b1d7e1f3a01', now(), 'rate-limiting', $1::jsonb -> 'config', true, id FROM workspaces WHERE name = 'default'`, plugin)
		o := k.run("3.6.1", []string{"KONGSIM_KILL_AFTER_COMMIT=rate-limiting/006_350_to_360"}, "migrations", "up")
		if !o.signaled || !strings.HasSuffix(o.stdout, "migrating rate-limiting on database '"+strings.TrimPrefix(k.env[3], "KONG_PG_DATABASE=")+"'...\n") {
			t.Errorf("up: %+v", o)
		}
		got := k.queryString(`SELECT (SELECT config->'redis'->>'host' FROM plugins) || ' ' ||
			(SELECT (NOT '006_350_to_360' = ANY(executed || COALESCE(pending, '{}')))::text FROM schema_meta WHERE subsystem = 'rate-limiting') || ' ' ||
			(SELECT count(*) FROM locks WHERE ttl > now())::text`)
		if got != "10.0.0.5 true 1" {
			t.Errorf("after the kill: redis.host, 006 unrecorded, live locks = %q; want \"10.0.0.5 true 1\"", got)
		}
		// acme's 003 was recorded (executed: 3.6.1's has no teardown)
		// before the kill; 006 is new again.
		if o := k.wantExit("3.6.1", 5, "migrations", "list"); !strings.Contains(o.stdout, "New migrations available:\n        rate-limiting: 006_350_to_360\n") {
			t.Errorf("list after the kill: %q %q", o.stdout, o.stderr)
		}
	})
	t.Run("client timeout", func(t *testing.T) {
		t.Parallel()
		k := newKong(t)
		k.wantExit("3.5.0", 0, "migrations", "bootstrap")
		k.exec(`INSERT INTO plugins (id, created_at, name, config, enabled, ws_id) SELECT '8d1a2b6e-4f0e-4b52-9d55-1b1d7e1f3a01', now(), 'rate-limiting', $1::jsonb -> 'config', true, id FROM workspaces WHERE name = 'default'`, plugin)
		o := k.run("3.6.1", []string{"KONGSIM_CLIENT_TIMEOUT=006_350_to_360"}, "migrations", "up")
		wantErr := "Error: [PostgreSQL error] cluster_mutex callback threw an error: [PostgreSQL error] failed to run migration '006_350_to_360' up: receive_message: failed to get type: timeout\n" + hint
		if o.code != 1 || o.stderr != wantErr {
			t.Errorf("up: %+v", o)
		}
		got := k.queryString(`SELECT (SELECT config->'redis'->>'host' FROM plugins) || ' ' ||
			(SELECT (NOT '006_350_to_360' = ANY(executed || COALESCE(pending, '{}')))::text FROM schema_meta WHERE subsystem = 'rate-limiting') || ' ' ||
			(SELECT count(*) FROM locks)::text`)
		if got != "10.0.0.5 true 0" {
			t.Errorf("after the timeout: redis.host, 006 unrecorded, locks = %q; want \"10.0.0.5 true 0\"", got)
		}
	})
}
