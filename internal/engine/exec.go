package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ExecHooks runs hooks as child processes: argv without a shell, in their
// own process group (a terminal's Ctrl-C does not reach what they start).
// The engine waits for the hook's own process to exit, nothing more: what
// it started in the background keeps running (a start hook that launches
// a node with `nohup kong start &` is the usual case). Only a hook that
// times out or is cancelled (lost lease, Ctrl-C) has its whole group
// killed: SIGTERM, then SIGKILL after KillGrace. Output (stdout and stderr
// interleaved) is kept up to MaxOutput bytes, the end kept.
// docs/hooks.md is the contract.
type ExecHooks struct {
	Dir       string        // working directory ("" = the current one)
	Env       []string      // added to the environment
	Timeout   time.Duration // default 10m
	KillGrace time.Duration // default 5s
}

// DefaultHookTimeout bounds a hook's own process when ExecHooks.Timeout
// is not set.
const DefaultHookTimeout = 10 * time.Minute

// hookDrain bounds the wait for a hook's output after its process exited
// while something it started still holds the output pipe: what the hook
// itself printed is in the pipe by then, so this is only ever reached by
// a background child that keeps the pipe open.
const hookDrain = 500 * time.Millisecond

// Run runs argv and waits.
func (h ExecHooks) Run(ctx context.Context, argv []string) (string, error) {
	if len(argv) == 0 {
		return "", errors.New("empty hook")
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultHookTimeout
	}
	hctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("timed out after %s", timeout))
	defer cancel()
	cmd := exec.CommandContext(hctx, argv[0], argv[1:]...)
	cmd.Dir = h.Dir
	if len(h.Env) > 0 {
		cmd.Env = append(cmd.Environ(), h.Env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	grace := h.KillGrace
	if grace <= 0 {
		grace = 5 * time.Second
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = grace
	// The output goes through a pipe of ours, not exec's: exec would wait
	// for every holder of the pipe (a background child) and then close
	// it, and the child's next write would kill it with SIGPIPE. Ours is
	// read until its last holder exits; what comes after the hook exited
	// is discarded.
	pr, pw, err := os.Pipe()
	if err != nil {
		return "", fmt.Errorf("hook %s: %w", argv[0], err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	out := &tailBuffer{}
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		defer pr.Close()
		_, _ = io.Copy(out, pr)
	}()
	err = cmd.Start()
	pw.Close()
	if err == nil {
		if f, ok := ctx.Value(startedKey{}).(func()); ok {
			f()
		}
		err = cmd.Wait()
	}
	if cmd.Process != nil && err != nil && hctx.Err() != nil {
		// Timed out or cancelled: the group may hold children that
		// outlived the leader.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	select {
	case <-eof:
	case <-time.After(hookDrain):
	}
	text := out.close()
	if err != nil {
		if hctx.Err() != nil {
			if ctx.Err() != nil {
				return text, fmt.Errorf("hook %s: cancelled: %w", argv[0], ctx.Err())
			}
			return text, fmt.Errorf("hook %s: %w (its process group was killed)%s", argv[0], context.Cause(hctx), lastLine(text))
		}
		return text, fmt.Errorf("hook %s: %w%s", argv[0], err, lastLine(text))
	}
	return text, nil
}

// hookGone explains a node that does not answer although step, which
// ran the start hook argv (the plan's attribute what), succeeded in this
// run: the node the hook started has stopped since. "" otherwise.
func hookGone(s *state, step string, f *NodeFacts, what string, argv []string) string {
	if len(argv) == 0 || !s.h.done(step) || (f != nil && f.Reachable) {
		return ""
	}
	return fmt.Sprintf("; %s (%s) ran in this run and the node answered then, so what it started has stopped since (a process a hook starts in the background must keep running on its own: docs/hooks.md)",
		what, argvString(argv))
}

// hookNoNode adds to err, a wait for a node that never became ready after
// its start hook argv exited 0, that the hook ran and what to look at
// (not when ctx ended the wait: a lease lost, Ctrl-C).
func hookNoNode(ctx context.Context, err error, what string, argv []string) error {
	if len(argv) == 0 || err == nil || ctx.Err() != nil {
		return err
	}
	return fmt.Errorf("%w (after %s (%s) exited 0: did it start the node, and does what it started in the background keep running after it exits? docs/hooks.md)",
		err, what, argvString(argv))
}

// argvString is argv as a person would type it.
func argvString(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = a
		if a == "" || strings.ContainsAny(a, " \t\n'\"$&;|<>*?()") {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// startedKey carries a callback run once a hook's child has started (the
// "during" failpoint).
type startedKey struct{}

// lastLine is ": <the output's last non-empty line>", or "".
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return ": " + l
	}
	return ""
}

// tailBuffer keeps the last MaxOutput bytes written to it; once closed it
// discards what is written.
type tailBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	closed bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return len(p), nil
	}
	t.buf.Write(p)
	if t.buf.Len() > 2*MaxOutput {
		b := t.buf.Bytes()
		keep := append([]byte(nil), b[len(b)-MaxOutput:]...)
		t.buf.Reset()
		t.buf.Write(keep)
	}
	return len(p), nil
}

// close returns what was kept and discards what comes after.
func (t *tailBuffer) close() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	b := t.buf.Bytes()
	if len(b) > MaxOutput {
		b = b[len(b)-MaxOutput:]
	}
	return string(b)
}
