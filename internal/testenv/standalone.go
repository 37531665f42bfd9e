package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// Standalone runs fn with a testing.TB that is not a test, so that
// `upshift sandbox` can use this harness's PostgreSQL cluster, nginx and
// HAProxy outside `go test`. Inside fn, Fatal and Skip end fn with an
// error (a missing binary is an error here: CI-style); Log goes to logf;
// TempDir makes directories under dir; Cleanup functions run in reverse
// order when fn returns, then the PostgreSQL cluster, if one was started,
// is stopped. Only the methods the harness uses are implemented; any other
// testing.TB method panics.
func Standalone(dir string, logf func(format string, args ...any), fn func(t testing.TB) error) (err error) {
	shared.mu.Lock()
	shared.main = true
	shared.mu.Unlock()
	st := &standaloneTB{dir: dir, logf: logf}
	defer func() {
		cerr := st.runCleanups()
		shared.mu.Lock()
		shared.main = false
		if c := shared.cluster; c != nil {
			shared.cluster, shared.pg, shared.tried = nil, nil, false
			cerr = errors.Join(cerr, c.stop())
		}
		shared.mu.Unlock()
		if err == nil {
			err = cerr
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			stop, ok := r.(standaloneStop)
			if !ok {
				panic(r)
			}
			err = errors.New(string(stop))
		}
	}()
	if err := fn(st); err != nil {
		return err
	}
	if st.failed {
		return errors.New(st.firstError)
	}
	return nil
}

// standaloneStop carries Fatal's message out of fn.
type standaloneStop string

type standaloneTB struct {
	testing.TB // nil: methods not overridden here panic
	dir        string
	logf       func(string, ...any)

	mu         sync.Mutex
	cleanups   []func()
	n          int
	failed     bool
	firstError string
}

func (s *standaloneTB) Helper()      {}
func (s *standaloneTB) Name() string { return "sandbox" }
func (s *standaloneTB) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

func (s *standaloneTB) runCleanups() error {
	s.mu.Lock()
	fs := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	if s.failed {
		return errors.New(s.firstError)
	}
	return nil
}

func (s *standaloneTB) TempDir() string {
	s.mu.Lock()
	s.n++
	d := filepath.Join(s.dir, fmt.Sprintf("tmp%03d", s.n))
	s.mu.Unlock()
	if err := os.MkdirAll(d, 0o755); err != nil {
		panic(standaloneStop(fmt.Sprintf("temp dir: %v", err)))
	}
	return d
}

func (s *standaloneTB) Log(args ...any)                 { s.logf("%s", fmt.Sprint(args...)) }
func (s *standaloneTB) Logf(format string, args ...any) { s.logf(format, args...) }
func (s *standaloneTB) Error(args ...any)               { s.fail(fmt.Sprint(args...)) }
func (s *standaloneTB) Errorf(format string, args ...any) {
	s.fail(fmt.Sprintf(format, args...))
}
func (s *standaloneTB) Fail()             { s.fail("failed") }
func (s *standaloneTB) Failed() bool      { s.mu.Lock(); defer s.mu.Unlock(); return s.failed }
func (s *standaloneTB) FailNow()          { panic(standaloneStop("failed")) }
func (s *standaloneTB) Fatal(args ...any) { panic(standaloneStop(fmt.Sprint(args...))) }
func (s *standaloneTB) Fatalf(format string, args ...any) {
	panic(standaloneStop(fmt.Sprintf(format, args...)))
}
func (s *standaloneTB) Skip(args ...any) { panic(standaloneStop(fmt.Sprint(args...))) }
func (s *standaloneTB) Skipf(format string, args ...any) {
	panic(standaloneStop(fmt.Sprintf(format, args...)))
}
func (s *standaloneTB) SkipNow()      { panic(standaloneStop("skipped")) }
func (s *standaloneTB) Skipped() bool { return false }

func (s *standaloneTB) fail(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.failed {
		s.failed, s.firstError = true, msg
	}
	s.logf("error: %s", msg)
}
