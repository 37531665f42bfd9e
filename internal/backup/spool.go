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
	held   int
	max    int
	err    error // what Read returns once bufs is empty; io.EOF after Close
	broken bool  // the reader stopped: writes are dropped
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
		s.cond.Wait()
	}
	if s.broken || s.err != nil {
		return len(p), nil
	}
	s.bufs = append(s.bufs, append([]byte(nil), p...))
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
	n := copy(p, s.bufs[0])
	if s.bufs[0] = s.bufs[0][n:]; len(s.bufs[0]) == 0 {
		s.bufs[0] = nil
		s.bufs = s.bufs[1:]
	}
	s.held -= n
	s.cond.Broadcast()
	return n, nil
}

// stop is the reader's: it reads no more, and writes are dropped.
func (s *spool) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.broken, s.bufs, s.held = true, nil, 0
	s.cond.Broadcast()
}
