package migrations

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// holdLock writes the migrations lock row as another runner would.
func (d *db) holdLock(ttl string) {
	d.t.Helper()
	d.exec(`INSERT INTO locks (key, owner, ttl) VALUES ('migrations', 'other-node', now() + $1::interval)`, ttl)
}

func TestFinishAbortsWhileLocked(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.must("3.5.0", "bootstrap")
	d.must("3.7.1", "up") // 3.7+ leaves the redis moves and ai-proxy's fixup pending
	d.holdLock("60 seconds")
	wantResult(t, "finish", d.run("3.7.1", "finish", Options{}), 0, "aborted: another node is performing database changes\n", "")
	if st := d.inspect("3.7.1"); len(st.Pending) != 4 {
		t.Errorf("aborted finish changed pending: %v", st.Pending)
	}
}

// TestUpWaitsForLockThenAborts: a second `up` waits while another runner
// holds the lock, and when the row goes away prints the aborted line and
// exits 0 (kong-facts §3.1). The test sees the waiting runner's lock polls
// in pg_stat_activity before releasing the lock: no sleeps.
func TestUpWaitsForLockThenAborts(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.must("3.5.0", "bootstrap")
	d.holdLock("60 seconds")

	var out, errb bytes.Buffer
	done := make(chan int, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		r := New(d.connectFunc("second-up"), Options{Version: kongrelease.MustParse("3.6.1"), Database: "kong", Stdout: &out, Stderr: &errb})
		done <- r.Run(ctx, "up")
	}()
	c := d.conn()
	for deadline := time.Now().Add(20 * time.Second); ; {
		var n int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'second-up' AND query LIKE '%FROM locks%ttl >=%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second up never polled the lock")
		}
		select {
		case code := <-done:
			t.Fatalf("second up ended before the lock was released: %d\n%s%s", code, out.String(), errb.String())
		default:
		}
	}
	d.exec(`DELETE FROM locks WHERE owner = 'other-node'`)
	select {
	case code := <-done:
		if code != 0 || out.String() != notLeaderMsg+"\n" || errb.String() != "" {
			t.Errorf("second up: exit %d\nstdout %q\nstderr %q", code, out.String(), errb.String())
		}
	case <-ctx.Done():
		t.Fatal("second up did not end")
	}
	if st := d.inspect("3.6.1"); len(st.New) != 4 {
		t.Errorf("the aborted up ran migrations: new %v", st.New)
	}
}

func TestUpLockTimeout(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.must("3.5.0", "bootstrap")
	d.holdLock("60 seconds")
	wantResult(t, "up", d.run("3.6.1", "up", Options{LockTimeout: 300 * time.Millisecond}), 1, "",
		"Error: [PostgreSQL error] timeout\n"+hint)
}

func TestStaleLockIsTakenOver(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.must("3.5.0", "bootstrap")
	d.holdLock("-1 seconds")
	if r := d.run("3.6.1", "up", Options{}); r.code != 0 || !strings.Contains(r.stdout, "4 migrations processed") {
		t.Errorf("up over a stale lock: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := d.queryString(`SELECT count(*)::text FROM locks`); n != "0" {
		t.Errorf("%s lock rows left", n)
	}
}
