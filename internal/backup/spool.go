package backup

import (
	"io"
	"sync"
)

// spool is a pipe whose writer does not wait for its reader until max
// bytes are held: pg_dump's output goes to the file and the hash at
// pg_dump's own pace while the archive reader catches up (through
// io.Pipe, each write waited for the reader, and pg_dump stalled whenever
// the reader was descheduled or sorting a kind).
type spool struct {
	mu     sync.Mutex
	cond   sync.Cond
	bufs   [][]byte
	off    int // read of bufs[0]
	held   int
	max    int
	err    error    // what Read returns once bufs is empty; io.EOF after Close
	broken bool     // the reader stopped: writes are dropped
	free   [][]byte // buffers read to their end, for the next writes
	// waiting is the number of writes waiting for the reader (for tests).
	waiting int
}

func newSpool(max int) *spool {
	s := &spool{max: max}
	s.cond.L = &s.mu
	return s
}

// Write copies p into the spool; it waits only while max bytes are held.
func (s *spool) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.held >= s.max && !s.broken {
		s.waiting++
		s.cond.Wait()
		s.waiting--
	}
	if s.broken || s.err != nil {
		return len(p), nil
	}
	// A buffer the reader is done with, when one is large enough: the
	// reader keeps up, so a few buffers go round, not one new one per
	// write (fresh memory is what a backup of 100,000 entities paid most
	// for on this project's 2-core VM).
	var b []byte
	if n := len(s.free); n > 0 && cap(s.free[n-1]) >= len(p) {
		b, s.free = s.free[n-1][:0], s.free[:n-1]
	}
	s.bufs = append(s.bufs, append(b, p...))
	s.held += len(p)
	s.cond.Broadcast()
	return len(p), nil
}

// CloseWithError ends the stream: Read returns err (io.EOF when nil)
// after what is held.
func (s *spool) CloseWithError(err error) {
	if err == nil {
		err = io.EOF
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
	s.cond.Broadcast()
}

// Read reads what is held, waiting for a write or the end.
func (s *spool) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.bufs) == 0 && s.err == nil {
		s.cond.Wait()
	}
	if len(s.bufs) == 0 {
		return 0, s.err
	}
	n := copy(p, s.bufs[0][s.off:])
	if s.off += n; s.off == len(s.bufs[0]) {
		if len(s.free) < 8 {
			s.free = append(s.free, s.bufs[0])
		}
		s.bufs[0], s.bufs, s.off = nil, s.bufs[1:], 0
	}
	s.held -= n
	s.cond.Broadcast()
	return n, nil
}

// stop is the reader's: it reads no more, and writes are dropped.
func (s *spool) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broken, s.bufs, s.held, s.off = true, nil, 0, 0
	s.cond.Broadcast()
}
