package engine

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/testenv"
)

const envLeaseChild = "UPSHIFT_TEST_LEASE_CHILD" // "dir|ROOT" or "pg|DSN" in the child

// TestLeaseDeadHolderTakenOver: a child process takes a plan's lease (ttl
// one hour) and is killed with SIGKILL; the next Acquire on this host takes
// the lease over at once and journals the dead holder. While the child
// lives, and for a holder recorded on another host, Acquire is refused.
func TestLeaseDeadHolderTakenOver(t *testing.T) {
	if v := os.Getenv(envLeaseChild); v != "" {
		leaseChild(t, v)
		return
	}
	if selfProc().Start == 0 {
		t.Skip("no /proc: a dead holder cannot be told from a live one here")
	}
	t.Parallel()
	t.Run("dir", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		s, err := OpenDir(root, DirOptions{})
		if err != nil {
			t.Fatal(err)
		}
		testDeadHolder(t, s, "dir|"+root, func(p procID) {
			st, err := readLease(filepath.Join(root, "p"))
			if err != nil {
				t.Fatal(err)
			}
			st.Proc = p
			if err := writeLease(filepath.Join(root, "p"), st); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("pg", func(t *testing.T) {
		t.Parallel()
		dsn := testenv.Postgres(t).NewDatabase(t)
		s := openPGT(t, dsn)
		testDeadHolder(t, s, "pg|"+dsn, func(p procID) {
			if _, err := s.pool.Exec(ctxT(t), `update upshift_leases set holder_proc = $2 where plan = $1`, "p", p); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// testDeadHolder runs the scenario on s; spec tells the child how to open
// the same store, setProc rewrites the recorded holder process.
func testDeadHolder(t *testing.T, s Store, spec string, setProc func(procID)) {
	ctx := ctxT(t)
	child := startLeaseChild(t, spec)
	waitHolder(t, s, "child")

	// Alive: refused.
	if _, err := s.Acquire(ctx, "p", "successor", time.Hour); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("Acquire while the holder lives: %v, want ErrLeaseHeld", err)
	}
	pid := child.Process.Pid
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	// Recorded on another host: still refused (it expires or needs unlock).
	st := readProc(t, s, spec)
	other := st
	other.Host = st.Host + "-elsewhere"
	setProc(other)
	if _, err := s.Acquire(ctx, "p", "successor", time.Hour); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("Acquire of another host's lease: %v, want ErrLeaseHeld", err)
	}
	setProc(st)

	// Dead on this host: taken over at once (the lease had an hour left).
	l, err := s.Acquire(ctx, "p", "successor", time.Hour)
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	defer l.Release(ctx)
	var ev *Record
	for _, r := range mustRecords(t, s, "p", 0) {
		if r.Event == EventLeaseBroken {
			ev = &r
		}
	}
	if ev == nil {
		t.Fatal("no lease_broken event journaled")
	}
	if ev.Details["holder"] != "child" || ev.Details["dead_pid"] != strconv.Itoa(pid) || ev.Details["takeover"] != "true" ||
		!strings.Contains(ev.Details["reason"], "holder process "+strconv.Itoa(pid)+" on this host") || ev.Actor.Who != "successor" {
		t.Errorf("takeover event: %+v", ev)
	}

	// A PID reused by another process (start time differs) counts as dead.
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	child = startLeaseChild(t, spec)
	waitHolder(t, s, "child")
	live := readProc(t, s, spec)
	reused := live
	reused.PID = os.Getpid() // alive, but not the process that took the lease
	setProc(reused)
	l2, err := s.Acquire(ctx, "p", "successor", time.Hour)
	if err != nil {
		t.Fatalf("Acquire of a lease whose PID was reused: %v", err)
	}
	_ = l2.Release(ctx)
	_ = child.Process.Kill()
	_ = child.Wait()
}

func startLeaseChild(t *testing.T, spec string) *exec.Cmd {
	t.Helper()
	c := exec.Command(os.Args[0], "-test.run=^TestLeaseDeadHolderTakenOver$", "-test.count=1")
	c.Env = append(os.Environ(), envLeaseChild+"="+spec)
	var out strings.Builder
	c.Stdout, c.Stderr = &out, &out
	in, err := c.StdinPipe() // the child holds the lease until stdin closes or it is killed
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		_ = c.Process.Kill()
		_ = c.Wait()
		if t.Failed() {
			t.Logf("child output:\n%s", out.String())
		}
	})
	return c
}

// waitHolder polls until holder holds the lease.
func waitHolder(t *testing.T, s Store, holder string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := s.LeaseState(ctxT(t), "p")
		if err != nil {
			t.Fatal(err)
		}
		if st.Holder == holder && st.Live {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child never took the lease: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readProc reads the recorded holder process.
func readProc(t *testing.T, s Store, spec string) procID {
	t.Helper()
	switch s := s.(type) {
	case *DirStore:
		st, err := readLease(filepath.Join(s.Root(), "p"))
		if err != nil {
			t.Fatal(err)
		}
		return st.Proc
	case *PGStore:
		var b []byte
		if err := s.pool.QueryRow(ctxT(t), `select holder_proc from upshift_leases where plan = 'p'`).Scan(&b); err != nil {
			t.Fatal(err)
		}
		var p procID
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Fatalf("store %T", s)
	return procID{}
}

func leaseChild(t *testing.T, spec string) {
	kind, arg, _ := strings.Cut(spec, "|")
	var s Store
	var err error
	if kind == "dir" {
		s, err = OpenDir(arg, DirOptions{})
	} else {
		s, err = OpenPostgres(ctxT(t), arg)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire(ctxT(t), "p", "child", time.Hour); err != nil {
		t.Fatal(err)
	}
	_, _ = os.Stdin.Read(make([]byte, 1)) // until the parent closes stdin or kills us
}
