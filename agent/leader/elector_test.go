package leader

import (
	"context"
	"errors"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// fast is the Check of agents whose timing the test does not measure:
// short, but long enough that a ping under -race on a loaded machine does
// not time out.
const fast = 100 * time.Millisecond

func TestOneLeaderAmongTwo(t *testing.T) {
	dsn := testenv.Postgres(t).NewDatabase(t)
	admin := adminConn(t, dsn)
	ctx := context.Background()

	reader, err := New(Config{DSN: dsn, ID: "reader"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := reader.Leader(ctx); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("Leader before any agent runs = %q, %v; want ErrNoLeader", got, err)
	}

	a := startAgent(t, dsn, "a", fast, nil)
	b := startAgent(t, dsn, "b", fast, nil)
	waitFor(t, 10*time.Second, "one agent to lead", func() bool { return a.e.IsLeader() || b.e.IsLeader() })
	leader, follower := a, b
	if b.e.IsLeader() {
		leader, follower = b, a
	}
	// The follower keeps trying and keeps losing.
	n := follower.e.tries.Load()
	waitFor(t, 10*time.Second, "three more lock attempts by the follower", func() bool { return follower.e.tries.Load() >= n+3 })
	if follower.e.IsLeader() || !leader.e.IsLeader() {
		t.Fatalf("IsLeader: leader %v, follower %v; want exactly one", leader.e.IsLeader(), follower.e.IsLeader())
	}
	leader.nextLead(t, time.Second)
	select {
	case <-follower.leads:
		t.Fatal("the follower's lead function was called while the other agent led")
	case <-leader.leads:
		t.Fatal("the leader's lead function was called twice")
	default:
	}
	if got, want := holders(t, admin, DefaultKey), []string{AppNamePrefix + leader.e.ID()}; !slices.Equal(got, want) {
		t.Errorf("lock holders in pg_locks = %q, want %q", got, want)
	}
	if leader.e.Transitions() != 1 || follower.e.Transitions() != 0 {
		t.Errorf("Transitions: leader %d, follower %d; want 1 and 0", leader.e.Transitions(), follower.e.Transitions())
	}
	for _, e := range []*Elector{a.e, b.e, reader} {
		if got, err := e.Leader(ctx); err != nil || got != leader.e.ID() {
			t.Errorf("%s: Leader() = %q, %v; want %q", e.ID(), got, err, leader.e.ID())
		}
	}
}

func TestTerminatedLeaderStepsDownAtOnce(t *testing.T) {
	dsn := testenv.Postgres(t).NewDatabase(t)
	admin := adminConn(t, dsn)
	// a pings only every 5 s: a prompt step-down must come from reading
	// the server's FATAL message, not from the ping.
	a := startAgent(t, dsn, "a", MaxCheck, nil)
	lctx := a.nextLead(t, 10*time.Second)
	b := startAgent(t, dsn, "b", fast, nil)
	waitFor(t, 10*time.Second, "b to try the lock", func() bool { return b.e.tries.Load() >= 1 })

	terminated := time.Now()
	terminate(t, admin, "a")
	took := waitDone(t, lctx, MaxCheck, "after pg_terminate_backend")
	t.Logf("leader context cancelled %v after pg_terminate_backend returned", took)
	if le := asError(t, context.Cause(lctx)); le.Code != "57P01" {
		t.Errorf("cause %v has SQLSTATE %q, want 57P01 (admin_shutdown)", le, le.Code)
	}
	if a.e.IsLeader() || a.e.Transitions() != 2 {
		t.Errorf("a after losing: IsLeader %v, Transitions %d; want false, 2", a.e.IsLeader(), a.e.Transitions())
	}
	b.nextLead(t, 10*time.Second)
	t.Logf("b led %v after the terminate (b's Check %v)", time.Since(terminated), fast)
	if got, err := a.e.Leader(context.Background()); err != nil || got != "b" {
		t.Errorf("a: Leader() = %q, %v; want b", got, err)
	}
	if !a.running() {
		t.Errorf("a's Run returned (%v) after losing its connection; want it to keep standing as a follower", a.err)
	}
}

func TestCancelledLeaderReleases(t *testing.T) {
	dsn := testenv.Postgres(t).NewDatabase(t)
	a := startAgent(t, dsn, "a", fast, nil)
	lctx := a.nextLead(t, 10*time.Second)
	b := startAgent(t, dsn, "b", fast, nil)
	waitFor(t, 10*time.Second, "b to try the lock", func() bool { return b.e.tries.Load() >= 1 })

	a.cancel()
	waitDone(t, lctx, time.Second, "after cancelling a's context")
	a.stopped(t, 5*time.Second)
	if !errors.Is(context.Cause(lctx), context.Canceled) {
		t.Errorf("cause = %v, want context.Canceled", context.Cause(lctx))
	}
	b.nextLead(t, 10*time.Second)
	if a.e.IsLeader() || a.e.Transitions() != 2 || b.e.Transitions() != 1 {
		t.Errorf("a: IsLeader %v, Transitions %d; b: Transitions %d; want false, 2, 1", a.e.IsLeader(), a.e.Transitions(), b.e.Transitions())
	}
}

func TestLeadReturningReleases(t *testing.T) {
	dsn := testenv.Postgres(t).NewDatabase(t)
	admin := adminConn(t, dsn)
	ctxs := make(chan context.Context, 4)
	startAgent(t, dsn, "a", MaxCheck, func(ctx context.Context) { ctxs <- ctx })
	var first context.Context
	select {
	case first = <-ctxs:
	case <-time.After(10 * time.Second):
		t.Fatal("a did not lead")
	}
	waitDone(t, first, time.Second, "after lead returned")
	if !errors.Is(context.Cause(first), ErrLeadReturned) {
		t.Errorf("cause = %v, want ErrLeadReturned", context.Cause(first))
	}
	// a unlocked and waits 5 s before trying again: b (every 20 ms) wins.
	b := startAgent(t, dsn, "b", fast, nil)
	b.nextLead(t, 4*time.Second)
	if got := holders(t, admin, DefaultKey); !slices.Equal(got, []string{AppNamePrefix + "b"}) {
		t.Errorf("holders = %q, want only b", got)
	}
}

func TestForeignHolderBlocksAndIsReported(t *testing.T) {
	dsn := testenv.Postgres(t).NewDatabase(t)
	admin := adminConn(t, dsn)
	ctx := context.Background()
	if _, err := admin.Exec(ctx, "set application_name = 'someone-else'"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "select pg_advisory_lock($1)", DefaultKey); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, dsn, "a", fast, nil)
	waitFor(t, 10*time.Second, "three lock attempts", func() bool { return a.e.tries.Load() >= 3 })
	if a.e.IsLeader() {
		t.Fatal("a leads while another session holds the key")
	}
	if got, err := a.e.Leader(ctx); err != nil || got != "someone-else" {
		t.Errorf("Leader() = %q, %v; want someone-else", got, err)
	}
	if _, err := admin.Exec(ctx, "select pg_advisory_unlock($1)", DefaultKey); err != nil {
		t.Fatal(err)
	}
	a.nextLead(t, 10*time.Second)
}

func TestChildKilledWhenLeadershipLost(t *testing.T) {
	sleepBin, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatalf("sleep: %v", err)
	}
	dsn := testenv.Postgres(t).NewDatabase(t)
	admin := adminConn(t, dsn)
	pids := make(chan int, 1)
	returned := make(chan error, 1)
	lead := func(ctx context.Context) {
		cmd := exec.CommandContext(ctx, sleepBin, "60")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			returned <- err
			return
		}
		pids <- cmd.Process.Pid
		returned <- cmd.Wait()
	}
	a := startAgent(t, dsn, "a", fast, lead)
	var pid int
	select {
	case pid = <-pids:
	case err := <-returned:
		t.Fatalf("the step's child did not start: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("a did not lead")
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("child %d not running while a leads: %v", pid, err)
	}
	b := startAgent(t, dsn, "b", fast, nil)
	waitFor(t, 10*time.Second, "b to try the lock", func() bool { return b.e.tries.Load() >= 1 })

	terminate(t, admin, "a")
	select {
	case err := <-returned:
		if err == nil || !strings.Contains(err.Error(), "killed") {
			t.Errorf("child's Wait = %v, want it killed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("lead did not return within 5 s of losing the lock")
	}
	waitFor(t, 5*time.Second, "the child to be gone", func() bool {
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	})
	b.nextLead(t, 10*time.Second)
	if a.e.IsLeader() {
		t.Error("a still reports IsLeader after losing its connection")
	}
}

func TestConfigChecks(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no DSN":         {},
		"check too long": {DSN: "postgres://u@127.0.0.1/db", Check: MaxCheck + time.Millisecond},
		"negative check": {DSN: "postgres://u@127.0.0.1/db", Check: -time.Second},
		"ID too long":    {DSN: "postgres://u@127.0.0.1/db", ID: strings.Repeat("x", 49)},
		"ID not ASCII":   {DSN: "postgres://u@127.0.0.1/db", ID: "agent-ü"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		} else {
			asError(t, err)
		}
	}
	e, err := New(Config{DSN: "postgres://u@127.0.0.1/db"})
	if err != nil {
		t.Fatal(err)
	}
	if e.cfg.Key != DefaultKey || e.cfg.Check != DefaultCheck || validID(e.ID()) != nil || e.ID() == "" {
		t.Errorf("defaults: key %#x, check %v, ID %q", e.cfg.Key, e.cfg.Check, e.ID())
	}
	if _, err := New(Config{DSN: "postgres://u@127.0.0.1/db", ID: strings.Repeat("x", 48)}); err != nil {
		t.Errorf("a 48-byte ID: %v", err)
	}
	if err := e.Run(context.Background(), nil); err == nil {
		t.Error("Run accepted a nil lead function")
	}
}

func TestLockConnectionKeepaliveSettings(t *testing.T) {
	dsn := testenv.Postgres(t).NewDatabase(t)
	ctx := context.Background()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("tcp_keepalives_idle", "30")
	u.RawQuery = q.Encode()
	for _, tc := range []struct {
		dsn  string
		want map[string]string
	}{
		{dsn, map[string]string{"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3", "tcp_user_timeout": "25000", "application_name": AppNamePrefix + "a"}},
		{u.String(), map[string]string{"tcp_keepalives_idle": "30", "tcp_keepalives_count": "3"}}, // the DSN wins
	} {
		e, err := New(Config{DSN: tc.dsn, ID: "a"})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := e.connect(ctx, AppNamePrefix+"a")
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range tc.want {
			var got string
			if err := conn.QueryRow(ctx, "select current_setting($1)", name).Scan(&got); err != nil || got != want {
				t.Errorf("%s on the lock connection = %q, %v; want %q", name, got, err, want)
			}
		}
		e.close(conn)
	}
}
