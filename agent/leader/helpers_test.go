package leader

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// agent is one elector running in the background for a test.
type agent struct {
	e      *Elector
	cancel context.CancelFunc
	done   chan struct{}        // closed when Run has returned
	err    error                // Run's result, once done is closed
	leads  chan context.Context // each leaderCtx, when lead is called
	logs   *syncBuffer
}

// leadUntilLost is a lead function that reports its context and holds on
// until the context is cancelled.
func leadUntilLost(leads chan<- context.Context) func(context.Context) {
	return func(ctx context.Context) {
		leads <- ctx
		<-ctx.Done()
	}
}

// startAgent runs an elector named id on dsn until the test ends. lead nil
// means leadUntilLost.
func startAgent(t *testing.T, dsn, id string, check time.Duration, lead func(context.Context)) *agent {
	t.Helper()
	a := &agent{done: make(chan struct{}), leads: make(chan context.Context, 16), logs: &syncBuffer{}}
	e, err := New(Config{DSN: dsn, ID: id, Check: check, Logger: slog.New(slog.NewTextHandler(a.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("New(%s): %v", id, err)
	}
	a.e = e
	if lead == nil {
		lead = leadUntilLost(a.leads)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() { defer close(a.done); a.err = e.Run(ctx, lead) }()
	t.Cleanup(func() {
		cancel()
		a.stopped(t, 10*time.Second)
		if t.Failed() {
			t.Logf("log of %s:\n%s", id, a.logs.String())
		}
	})
	return a
}

// stopped waits for Run to return and checks that it returned nil.
func (a *agent) stopped(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-a.done:
		if a.err != nil {
			t.Errorf("Run(%s) = %v", a.e.ID(), a.err)
		}
	case <-time.After(timeout):
		t.Errorf("Run(%s) did not return within %v of its context's end", a.e.ID(), timeout)
	}
}

// running reports whether Run has not returned yet.
func (a *agent) running() bool {
	select {
	case <-a.done:
		return false
	default:
		return true
	}
}

// nextLead waits for a's next lead call.
func (a *agent) nextLead(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	select {
	case ctx := <-a.leads:
		return ctx
	case <-time.After(timeout):
		t.Fatalf("%s did not start leading within %v", a.e.ID(), timeout)
		return nil
	}
}

// waitFor polls cond every 5 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// waitDone waits for ctx to be cancelled and returns how long that took.
func waitDone(t *testing.T, ctx context.Context, timeout time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-ctx.Done():
		return time.Since(start)
	case <-time.After(timeout):
		t.Fatalf("%s: leader context not cancelled within %v", what, timeout)
		return 0
	}
}

// adminConn connects to dsn for the test's own queries.
func adminConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// terminate ends the lock connection of the agent named id, as an
// operator or a failing server would, and returns its pid.
func terminate(t *testing.T, admin *pgx.Conn, id string) int {
	t.Helper()
	var pid int
	var ok bool
	err := admin.QueryRow(context.Background(), `
		select pid, pg_terminate_backend(pid) from pg_stat_activity
		where application_name = $1 and datname = current_database()`, AppNamePrefix+id).Scan(&pid, &ok)
	if err != nil || !ok {
		t.Fatalf("terminate the backend of %s: ok=%v err=%v", id, ok, err)
	}
	return pid
}

// holders lists the application_name of every session holding key.
func holders(t *testing.T, admin *pgx.Conn, key int64) []string {
	t.Helper()
	k := uint64(key)
	rows, err := admin.Query(context.Background(), `
		select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid
		where l.locktype = 'advisory' and l.granted and l.objsubid = 1
		  and l.database = (select oid from pg_database where datname = current_database())
		  and l.classid = $1::bigint::oid and l.objid = $2::bigint::oid`, int64(k>>32), int64(k&0xffffffff))
	if err != nil {
		t.Fatalf("read pg_locks: %v", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("read pg_locks: %v", err)
	}
	return names
}

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// asError returns err as an *Error or fails the test.
func asError(t *testing.T, err error) *Error {
	t.Helper()
	var le *Error
	if !errors.As(err, &le) {
		t.Fatalf("error %v (%T) is not a *leader.Error", err, err)
	}
	return le
}
