package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// proc is a server process, child of the test binary, whose output goes to
// a log file.
type proc struct {
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	logPath string
}

// startProc starts cmd with its stdout and stderr appended to logPath. The
// child gets sig if the test binary dies first (Pdeathsig), so a crashed
// test does not leave servers behind.
func startProc(cmd *exec.Cmd, logPath string, sig syscall.Signal) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	defer logf.Close() // the child holds its own descriptor
	cmd.Stdout, cmd.Stderr = logf, logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	setParentDeathSignal(cmd.SysProcAttr, sig)
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), logPath: logPath}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// waitUntil calls ready every 10 ms until it returns nil, the process
// exits, or timeout passes. The error names the last readiness failure and
// holds the end of the log.
func (p *proc) waitUntil(timeout time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		last = ready(rctx)
		rcancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v) before it was ready; log:\n%s", p.cmd.Path, p.cmd.ProcessState, tail(p.logPath, 4<<10))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v: %w; log:\n%s", p.cmd.Path, timeout, last, tail(p.logPath, 4<<10))
		case <-tick.C:
		}
	}
}

// stop sends sig and waits up to grace for the process to exit, then kills
// its process group. It reports an error when the kill was needed.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return errors.New(p.cmd.Path + " did not exit within " + grace.String() + " of " + sig.String() + "; killed")
	}
}
