package backup

import (
	"runtime"
	"sync"
)

// readerNice is how far the threads that read archives while pg_dump
// writes them lower their priority: 10 above the process's own nice value
// (at most 19). pg_dump (compressing) and its PostgreSQL backend kept the
// two cores of the benchmark machine nearly busy; with the reader at the
// same priority pg_dump ran 15-20% longer than alone, 10 lower 3-7%, and
// the reader still kept pace (BenchmarkBackupSeeded, docs/backups.md).
// Where PostgreSQL runs on another host, only pg_dump is yielded to. The
// cost: when other work in the same scheduling group (the agent's cgroup,
// or its session under autogroup) saturates the CPUs, the reader gets
// about a tenth of that work's share and the backup ends later (100,000
// entities beside two busy loops: 3.6-5.0 s, against 1.6 s at the same
// priority), and the process's garbage collections, which must stop the
// reader, pause longer (84 ms at most, against 10 ms). Beside work in
// another group the CPUs are shared between groups and nice does not
// count (the same loops in another session: 1.3 s, against 1.2 s).
const readerNice = 10

// readers runs archive reads on threads readerNice below the process.
var readers = &lowPriorityPool{by: readerNice}

// lowPriorityPool runs functions on workers, each a goroutine locked to a
// thread whose nice value it raised by by. A worker, and its thread, live
// as long as the process: without CAP_SYS_NICE a process cannot raise a
// thread's priority again, so the thread must never run another
// goroutine, and it must not exit either, because Linux sends a child's
// parent-death signal (PR_SET_PDEATHSIG, which the test environment sets
// on PostgreSQL) when the thread that started the child exits, and any
// thread may have. There are as many workers as calls have ever run at
// once.
type lowPriorityPool struct {
	by      int
	mu      sync.Mutex
	idle    []chan func()
	workers int
}

// run hands f to an idle worker, or to a new one, and returns without
// waiting for f. f must return: one that calls runtime.Goexit ends its
// worker and, with it, the thread.
func (p *lowPriorityPool) run(f func()) {
	p.mu.Lock()
	var w chan func()
	if n := len(p.idle); n > 0 {
		w, p.idle = p.idle[n-1], p.idle[:n-1]
	} else {
		w = make(chan func())
		p.workers++
		go p.work(w)
	}
	p.mu.Unlock()
	w <- f
}

func (p *lowPriorityPool) work(jobs chan func()) {
	runtime.LockOSThread()        // never unlocked, see lowPriorityPool
	_ = lowerThreadPriority(p.by) // refused (a seccomp profile): the work only yields less
	for f := range jobs {
		f()
		p.mu.Lock()
		p.idle = append(p.idle, jobs)
		p.mu.Unlock()
	}
}
