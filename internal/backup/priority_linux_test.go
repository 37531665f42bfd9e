package backup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLowPriorityPool: a job runs on a thread 7 below the process's
// priority (nice + 7, at most 19); a
// second job while the first runs gets a thread of its own; a later job
// reuses a worker's thread; and no thread of the process exits, since a
// thread that exits sends the parent-death signal of every child it
// started (PostgreSQL, in these tests: it shut down at once when the
// first version of the reader let its thread exit).
func TestLowPriorityPool(t *testing.T) {
	before := threadIDs(t)
	want := min(processNice(t)+7, 19)
	p := &lowPriorityPool{by: 7}
	type seen struct{ tid, nice int }
	job := func(release <-chan struct{}) seen {
		c := make(chan seen, 1)
		p.run(func() {
			tid := syscall.Gettid()
			c <- seen{tid, threadNice(t, tid)}
			<-release
		})
		select {
		case s := <-c:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("a job did not start within 10 s")
		}
		return seen{}
	}
	hold, done := make(chan struct{}), make(chan struct{})
	close(done)
	first := job(hold)
	second := job(done)
	close(hold)
	if first.nice != want || second.nice != want {
		t.Fatalf("jobs ran at nice %d and %d, want %d", first.nice, second.nice, want)
	}
	if first.tid == second.tid {
		t.Fatalf("two jobs at once ran on one thread (%d)", first.tid)
	}
	waitFor(t, func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.idle) == 2 }, "both workers idle again")
	if third := job(done); third.tid != first.tid && third.tid != second.tid {
		t.Fatalf("a later job ran on a new thread %d, not on a worker's (%d, %d)", third.tid, first.tid, second.tid)
	}
	after := threadIDs(t)
	for _, tid := range before {
		if !slices.Contains(after, tid) {
			t.Errorf("thread %d exited", tid)
		}
	}
}

// TestArchiveReaderUsesPool: while Backup's archive reader waits for
// pg_dump's bytes it holds one of the reader workers, every one of which
// runs on a thread readerNice below the process's priority; once it has
// returned, the worker is idle again.
func TestArchiveReaderUsesPool(t *testing.T) {
	state := func() (idle, workers int) {
		readers.mu.Lock()
		defer readers.mu.Unlock()
		return len(readers.idle), readers.workers
	}
	readers.run(func() {})
	waitFor(t, func() bool { idle, workers := state(); return idle == workers }, "idle reader workers")
	af := newArchiveFingerprint(entityKinds{}, "public")
	s := newSpool(1 << 20)
	parsed := af.readInBackground(s)
	idle, workers := state()
	if workers-idle != 1 {
		t.Fatalf("%d of %d reader workers busy while one read waits", workers-idle, workers)
	}
	if base := processNice(t); base >= 19 {
		t.Logf("the process runs at nice %d: the readers cannot go lower", base)
	} else {
		want, niced := min(base+readerNice, 19), 0
		for _, tid := range threadIDs(t) {
			if threadNice(t, tid) == want {
				niced++
			}
		}
		if niced != workers {
			t.Fatalf("%d threads at nice %d (the process at %d), %d reader workers", niced, want, base, workers)
		}
	}
	s.CloseWithError(errors.New("pg_dump failed"))
	if err := <-parsed; err == nil {
		t.Fatal("the reader of an empty, failed stream returned no error")
	}
	waitFor(t, func() bool { idle, workers := state(); return idle == workers }, "the worker idle again")
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 10 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// threadIDs lists this process's threads.
func threadIDs(t *testing.T) []int {
	t.Helper()
	dirs, err := filepath.Glob("/proc/self/task/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("list threads: %v", err)
	}
	var ids []int
	for _, d := range dirs {
		id, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// processNice is the nice value of the test's own thread: the process's,
// since no worker thread runs anything but its worker.
func processNice(t *testing.T) int {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return threadNice(t, syscall.Gettid())
}

// threadNice is field 19 of /proc/self/task/TID/stat; -100 if the thread
// is gone.
func threadNice(t *testing.T, tid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	if err != nil {
		return -100
	}
	// pid (comm) state ...: fields after the comm's last ')' start at 3.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 17 {
		t.Errorf("thread %d: short stat %q", tid, b)
		return -100
	}
	nice, err := strconv.Atoi(f[16])
	if err != nil {
		t.Errorf("thread %d: nice %q", tid, f[16])
		return -100
	}
	return nice
}
