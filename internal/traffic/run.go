package traffic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// maxOutput bounds what is kept of a command's output for an error.
const maxOutput = 4 << 10

// runResult is what a finished command printed.
type runResult struct {
	stdout, stderr string
}

// run runs argv (no shell) with stdin, in its own process group so that
// cancellation kills the command and its children. The error carries the
// exit status and the command's output (stderr, or stdout when stderr is
// empty), truncated to a few KB.
func run(ctx context.Context, argv []string, stdin []byte) (runResult, error) {
	if len(argv) == 0 || argv[0] == "" {
		return runResult{}, errors.New("empty command")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout = &limited{buf: &stdout, n: 64 << 10}
	cmd.Stderr = &limited{buf: &stderr, n: maxOutput}
	err := cmd.Start()
	if err == nil {
		if f, ok := ctx.Value(startedKey{}).(func([]string)); ok {
			f(argv)
		}
		err = cmd.Wait()
	}
	res := runResult{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		if ctx.Err() != nil {
			return res, fmt.Errorf("%w (command killed)", ctx.Err())
		}
		out := strings.TrimSpace(res.stderr)
		if out == "" {
			out = strings.TrimSpace(res.stdout)
		}
		if len(out) > maxOutput {
			out = out[:maxOutput] + "..."
		}
		if out != "" {
			return res, fmt.Errorf("%w: %s", err, out)
		}
		return res, err
	}
	return res, nil
}

type startedKey struct{}

// WithStarted returns ctx with a hook that the drivers call once each
// command they run (nginx's test and reload, the command driver's set and
// get) has started: the crash tests stop the engine there, leaving the
// command running as a kill -9 would.
func WithStarted(ctx context.Context, f func(argv []string)) context.Context {
	return context.WithValue(ctx, startedKey{}, f)
}

// limited keeps the first n bytes written and discards the rest, so that a
// chatty command cannot fill memory.
type limited struct {
	buf *bytes.Buffer
	n   int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.n - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

var _ io.Writer = (*limited)(nil)
