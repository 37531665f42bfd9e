package kong

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestCommandMigrationsAndSchema runs kongsim's kong through Command on a
// real database: bootstrap at 3.8.0, then the schema as 3.9.1 sees it
// (new migrations), up, and finish; the parsed output and the schema_meta
// classification agree at each stage.
func TestCommandMigrationsAndSchema(t *testing.T) {
	bin := kongsimKong(t)
	dsn := testenv.Postgres(t).NewDatabase(t)
	ctx := context.Background()
	v38, v39 := kongrelease.MustParse("3.8.0"), kongrelease.MustParse("3.9.1")

	st, err := ReadSchema(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if !st.NeedsBootstrap || st.Summarize(v38).UpToDate {
		t.Fatalf("fresh database: want needs-bootstrap, got %+v", st)
	}

	cmd := Command{Argv: []string{bin}, DB: dbOf(t, dsn), Env: []string{"KONG_VERSION=3.8.0"}}
	res, err := cmd.Run(ctx, "migrations", "bootstrap")
	if err != nil {
		t.Fatalf("bootstrap: %v\n%s%s", err, res.Stdout, res.Stderr)
	}
	if !res.Output.UpToDate || res.Output.Processed <= 0 {
		t.Fatalf("bootstrap output parsed as %+v:\n%s", res.Output, res.Stdout)
	}
	st, err = ReadSchema(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Summarize(v38); !s.UpToDate || len(s.Pending) != 0 {
		t.Fatalf("after bootstrap at 3.8.0: %+v", s)
	}
	s39 := st.Summarize(v39)
	if s39.UpToDate || strings.Join(s39.New["core"], ",") != "024_380_to_390" {
		t.Fatalf("3.9.1 on a 3.8.0 database: want core 024_380_to_390 new, got %+v", s39)
	}

	// list exits 5 (new migrations) and that is not an error for list.
	cmd.Env = []string{"KONG_VERSION=3.9.1"}
	res, err = cmd.Run(ctx, "migrations", "list")
	if err != nil || res.ExitCode != 5 || !res.Output.NewAvailable {
		t.Fatalf("list: err %v exit %d output %+v", err, res.ExitCode, res.Output)
	}
	res, err = cmd.Run(ctx, "migrations", "up")
	if err != nil {
		t.Fatalf("up: %v\n%s%s", err, res.Stdout, res.Stderr)
	}
	if len(res.Output.Migrated) == 0 || res.Output.Migrated[0].Name != "024_380_to_390" {
		t.Fatalf("up output: %+v\n%s", res.Output, res.Stdout)
	}
	st, _ = ReadSchema(ctx, dsn)
	if !st.Summarize(v39).UpToDate {
		t.Fatalf("after up: %+v", st.Summarize(v39))
	}
	res, err = cmd.Run(ctx, "migrations", "up")
	if err != nil || !res.Output.UpToDate {
		t.Fatalf("second up: %v %+v", err, res.Output)
	}
}

// TestCommandLockAbortedIsFailure: with a live migrations lock held, Kong
// prints "aborted: another node is performing database changes" and may
// exit 0; Run reports a failure, and ReadSchema shows the lock's owner.
func TestCommandLockAbortedIsFailure(t *testing.T) {
	bin := kongsimKong(t)
	dsn := testenv.Postgres(t).NewDatabase(t)
	ctx := context.Background()
	cmd := Command{Argv: []string{bin}, DB: dbOf(t, dsn), Env: []string{"KONG_VERSION=3.8.0"}}
	if res, err := cmd.Run(ctx, "migrations", "bootstrap"); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, res.Stderr)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO locks (key, owner, ttl) VALUES ('migrations', 'other-node', now() + interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	cmd.Env = []string{"KONG_VERSION=3.9.1"}
	res, err := cmd.Run(ctx, "migrations", "up", "--lock-timeout", "1")
	if err == nil {
		t.Fatalf("up under a held lock succeeded: exit %d\n%s%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	var kerr *Error
	if !errors.As(err, &kerr) {
		t.Fatalf("error is %T, want *kong.Error", err)
	}
	st, err := ReadSchema(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	l, ok := st.MigrationLock()
	if !ok || l.Owner != "other-node" || l.Expired(time.Now()) {
		t.Fatalf("lock: %+v %v", l, ok)
	}
}

func TestParseOutputAbortedWithExitZero(t *testing.T) {
	o := ParseOutput("aborted: another node is performing database changes\n", "")
	if !o.LockAborted {
		t.Fatal("aborted line not recognised")
	}
	o = ParseOutput("migrating core on database 'kong'...\ncore migrated up to: 024_380_to_390 (executed)\n1 migration processed\n1 executed\n", "")
	if o.Processed != 1 || o.Executed != 1 || o.Pending != -1 || len(o.Migrated) != 1 || o.LockAborted {
		t.Fatalf("%+v", o)
	}
	o = ParseOutput("", "Error: Database has pending migrations; run 'kong migrations finish'\n\n  Run with --v (verbose) or --vv (debug) for more details\n")
	if o.Error != "Database has pending migrations; run 'kong migrations finish'" || !o.PendingLeft {
		t.Fatalf("%+v", o)
	}
}

// TestCommandEnvAndArgv: placeholders land in argv, the password only in
// the environment; the process group dies on cancellation.
func TestCommandEnvAndArgv(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "k.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"args:$*\"\necho \"pw:$KONG_PG_PASSWORD db:$KONG_PG_DATABASE\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := Command{Argv: []string{script, "--host={pg_host}:{pg_port}", "{pg_database}", "{pg_user}"},
		DB: DB{Host: "db.internal", Port: 6543, Database: "kong_y", User: "kong", Password: "s3cret"}}
	res, err := cmd.Run(context.Background(), "migrations", "up")
	if err != nil {
		t.Fatal(err)
	}
	if want := "args:--host=db.internal:6543 kong_y kong migrations up\npw:s3cret db:kong_y\n"; res.Stdout != want {
		t.Fatalf("stdout %q, want %q", res.Stdout, want)
	}
	for _, a := range res.Args {
		if strings.Contains(a, "s3cret") {
			t.Fatalf("password in argv: %q", res.Args)
		}
	}

	// Cancellation: a child that ignores nothing but sleeps, plus a
	// grandchild; both must be gone when Run returns.
	pidFile := filepath.Join(dir, "pid")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsleep 60 &\necho $! > "+pidFile+"\nwait\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := (Command{Argv: []string{script}}).Run(ctx); errc <- err }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child did not start")
		}
		time.Sleep(10 * time.Millisecond) // polling for a file with a deadline, not synchronisation by sleep
	}
	cancel()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "cancelled") {
			t.Fatalf("cancelled run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// Signals are delivered asynchronously: poll (bounded) until the
	// grandchild is gone or a zombie.
	b, _ := os.ReadFile(pidFile)
	proc := "/proc/" + strings.TrimSpace(string(b)) + "/stat"
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		stat, err := os.ReadFile(proc)
		if err != nil || strings.Contains(string(stat), ") Z") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %s still alive 5s after cancel", strings.TrimSpace(string(b)))
		}
	}
}
