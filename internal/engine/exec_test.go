package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// alive: a process with pid exists and is not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// readPid polls file until it holds a pid.
func readPid(t *testing.T, file string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(file)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("no pid in %s", file)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A start hook that launches a node in the background and exits 0: the
// node keeps running after the hook returns, and keeps writing to the
// output it inherited (no SIGPIPE once the engine stopped reading).
func TestHookDetachedChildOutlivesHook(t *testing.T) {
	dir := t.TempDir()
	pidFile, ticks := filepath.Join(dir, "pid"), filepath.Join(dir, "ticks")
	script := `(while :; do echo tick; echo x >> "$2"; sleep 0.02; done) & echo $! > "$1"; echo started`
	out, err := ExecHooks{}.Run(context.Background(), []string{"sh", "-c", script, "sh", pidFile, ticks})
	if err != nil || !strings.Contains(out, "started") {
		t.Fatalf("hook: %q %v", out, err)
	}
	pid := readPid(t, pidFile)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	lines := func() int { b, _ := os.ReadFile(ticks); return strings.Count(string(b), "\n") }
	// The child writes its stdout before each line of ticks: more lines
	// after the hook returned mean it wrote to the pipe and lived on.
	n0 := lines()
	deadline := time.Now().Add(20 * time.Second)
	for lines() < n0+20 {
		if !alive(pid) {
			t.Fatalf("the hook's background child %d died after the hook exited", pid)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hook's background child wrote %d lines, then nothing", lines()-n0)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !alive(pid) {
		t.Fatalf("the hook's background child %d died", pid)
	}
}

// A hook that outlives its timeout has its whole group killed, the
// background child too, and the error says it timed out.
func TestHookTimeoutKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	script := `sleep 300 & echo $! > "$1"; echo waiting; wait`
	h := ExecHooks{Timeout: 300 * time.Millisecond, KillGrace: 100 * time.Millisecond}
	out, err := h.Run(context.Background(), []string{"sh", "-c", script, "sh", pidFile})
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") || !strings.Contains(err.Error(), "process group was killed") {
		t.Fatalf("hook: %q %v; want a timeout naming the killed group", out, err)
	}
	pid := readPid(t, pidFile)
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the timed-out hook's child %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A cancelled hook (lost lease, Ctrl-C) has its group killed too.
func TestHookCancelKillsGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	script := `sleep 300 & echo $! > "$1"; wait`
	ctx, cancel := context.WithCancel(context.Background())
	ctx = context.WithValue(ctx, startedKey{}, func() {
		go func() { readPid(t, pidFile); cancel() }()
	})
	_, err := ExecHooks{KillGrace: 100 * time.Millisecond}.Run(ctx, []string{"sh", "-c", script, "sh", pidFile})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("hook: %v; want cancelled", err)
	}
	pid := readPid(t, pidFile)
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the cancelled hook's child %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Y answered after to.start ran in this run, and now does not: the next
// step is start_to again, and the condition names the hook, so a person
// looks at what the hook started rather than at the network.
func TestStartHookNodeGoneNamesHook(t *testing.T) {
	obs := baseObs()
	obs.ToDatabase, obs.Traffic, obs.To = migrated(false), split(50, 50), down()
	src := strings.Replace(evidencePlan("dual_cluster", ""), `kong  = ["kong"]
    start = ["true"]`, `kong  = ["kong"]
    start = ["sh", "-c", "nohup kong start &"]`, 1)
	d, _ := decideOn(t, src, obs, func(l *runLog) {
		l.ok("guard", "backup", "restore", "migrations_up", "start_to", "checks", "traffic_50")
	})
	wantRuns(t, d, "start_to")
	want := `next: start_to again: not reachable (dial tcp: connection refused); to.start (sh -c 'nohup kong start &') ran in this run and the node answered then, so what it started has stopped since`
	if !strings.HasPrefix(d.cond.Message, want) {
		t.Fatalf("condition %q; want it to start with %q", d.cond.Message, want)
	}
	// Before start_to ran in this run, a Y that does not answer is
	// nothing to explain.
	d, _ = decideOn(t, src, obs, func(l *runLog) { l.ok("guard", "backup", "restore", "migrations_up") })
	if strings.Contains(d.cond.Message, "to.start") {
		t.Fatalf("condition %q names the hook before it ran", d.cond.Message)
	}
}

// A start hook that exits 0 and leaves no node: the wait's error names
// the hook.
func TestHookNoNodeNamesHook(t *testing.T) {
	err := hookNoNode(context.Background(), errors.New("waited 2m0s for Y to be ready: not reachable"), "to.start", []string{"/opt/start-y.sh", "--port", "8000"})
	want := "waited 2m0s for Y to be ready: not reachable (after to.start (/opt/start-y.sh --port 8000) exited 0:"
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("%v; want it to start with %q", err, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := hookNoNode(ctx, context.Canceled, "to.start", []string{"x"}); err != context.Canceled {
		t.Fatalf("a cancelled wait is not the hook's doing: %v", err)
	}
}
