package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ExecHooks runs hooks as child processes: argv without a shell, in their
// own process group, killed (SIGTERM to the group, SIGKILL after
// KillGrace) when ctx ends, so a lost lease or Ctrl-C leaves no hook
// running. Output (stdout and stderr interleaved) is kept up to
// MaxOutput bytes, the end kept.
type ExecHooks struct {
	Dir       string        // working directory ("" = the current one)
	Env       []string      // added to the environment
	KillGrace time.Duration // default 5s
}

// Run runs argv and waits.
func (h ExecHooks) Run(ctx context.Context, argv []string) (string, error) {
	if len(argv) == 0 {
		return "", errors.New("empty hook")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
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
	var out tailBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Start()
	if err == nil {
		if f, ok := ctx.Value(startedKey{}).(func()); ok {
			f()
		}
		err = cmd.Wait()
	}
	if cmd.Process != nil {
		// The group may hold children that outlived the leader.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	text := out.String()
	if err != nil {
		if ctx.Err() != nil {
			return text, fmt.Errorf("hook %s: cancelled: %w", argv[0], ctx.Err())
		}
		return text, fmt.Errorf("hook %s: %w%s", argv[0], err, lastLine(text))
	}
	return text, nil
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

// tailBuffer keeps the last MaxOutput bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if t.buf.Len() > 2*MaxOutput {
		b := t.buf.Bytes()
		keep := append([]byte(nil), b[len(b)-MaxOutput:]...)
		t.buf.Reset()
		t.buf.Write(keep)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf.Bytes()
	if len(b) > MaxOutput {
		b = b[len(b)-MaxOutput:]
	}
	return string(b)
}
