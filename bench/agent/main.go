// Command agent benchmarks `upshift agent` (not a test; figures vary with
// the machine): its resident memory while it drives 100 plans from a
// repository of 5,000 commits, and the latency from a pushed commit to the
// first step of a new plan, once with polling (--interval 1s) and once with
// a signed GitHub webhook (--interval 1h), against the targets of issue 6
// (RSS < 32 MiB, webhook < 1 s). A last pass measures the RSS again with
// GOMEMLIMIT=10MiB (Go's soft memory limit, an operator's knob).
//
//	go run ./bench/agent [-commits 5000] [-plans 100] [-runs 3]
//
// The plans point at Kong nodes that do not answer, so each stops at its
// guard: the agent's own work (git, parsing, lint, the engine's
// observation and journal) is what is measured. The binary is built as
// the release is (CGO_ENABLED=0); the RSS is split into anonymous memory
// (with the Go heap's live size and goal from GODEBUG=gctrace=1) and the
// binary's file-backed pages by kind (code, read-only data, data), 3 s
// after the first pass and again 30 s later.
package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	commits := flag.Int("commits", 5000, "commits in the plans repository")
	plans := flag.Int("plans", 100, "plans in the repository")
	runs := flag.Int("runs", 3, "latency measurements of each kind")
	flag.Parse()
	if err := run(*commits, *plans, *runs); err != nil {
		fmt.Fprintf(os.Stderr, "bench/agent: %v\n", err)
		os.Exit(1)
	}
}

func sh(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

var gitEnv = []string{"GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@upshift.invalid", "GIT_COMMITTER_NAME=Bench",
	"GIT_COMMITTER_EMAIL=bench@upshift.invalid", "GIT_CONFIG_NOSYSTEM=1", "HOME=/nonexistent"}

func planText(i int) string {
	return fmt.Sprintf(`upgrade "plan-%03d" {
  cluster  = "cluster-%03d"
  strategy = "blue_green"
  from {
    version   = "3.9.0"
    admin_url = "http://127.0.0.1:9"
    proxy_url = "http://127.0.0.1:9"
    database { dsn = "postgres://kong@127.0.0.1:9/kong?connect_timeout=1" }
    start = ["true"]
    stop  = ["true"]
  }
  to {
    version   = "3.9.1"
    admin_url = "http://127.0.0.1:9"
    proxy_url = "http://127.0.0.1:9"
    kong      = ["true"]
    start     = ["true"]
    stop      = ["true"]
  }
  backup {
    dir    = "/tmp/upshift-bench-agent-backups"
    verify = false
  }
  traffic "command" {
    set = ["true"]
    get = ["echo", "100 0"]
  }
  rollout {
    step {
      weight = 100
      pause  = "1m"
    }
  }
}
`, i, i)
}

// makeRepo builds a bare repository with n commits (git fast-import), the
// last one adding the plans, and a work clone to push from.
func makeRepo(dir string, n, plans int) (bare, work string, err error) {
	bare = filepath.Join(dir, "plans.git")
	if _, err = sh(dir, gitEnv, "git", "init", "-q", "--bare", "-b", "main", bare); err != nil {
		return
	}
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(w, "commit refs/heads/main\nmark :%d\ncommitter Bench <bench@upshift.invalid> %d +0000\n", i, 1700000000+i)
		msg := fmt.Sprintf("change %d", i)
		fmt.Fprintf(w, "data %d\n%s\n", len(msg), msg)
		if i > 1 {
			fmt.Fprintf(w, "from :%d\n", i-1)
		}
		content := fmt.Sprintf("note %d\n", i)
		fmt.Fprintf(w, "M 644 inline notes/n%d.txt\ndata %d\n%s\n", i%2000, len(content), content)
		if i == n {
			for p := 0; p < plans; p++ {
				t := planText(p)
				fmt.Fprintf(w, "M 644 inline plans/plan-%03d.upshift.hcl\ndata %d\n%s\n", p, len(t), t)
			}
		}
	}
	_ = w.Flush()
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir, cmd.Env, cmd.Stdin = bare, append(os.Environ(), gitEnv...), &b
	if out, e := cmd.CombinedOutput(); e != nil {
		return "", "", fmt.Errorf("fast-import: %v %s", e, out)
	}
	work = filepath.Join(dir, "work")
	_, err = sh(dir, gitEnv, "git", "clone", "-q", bare, work)
	return
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type status struct {
	Head  string `json:"head_commit"`
	Plans []struct {
		Name      string                  `json:"name"`
		Condition struct{ Reason string } `json:"condition"`
	} `json:"plans"`
}

func getStatus(base string) (status, error) {
	var s status
	resp, err := http.Get(base + "/api/v1/status")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s, err
}

// agent is a running `upshift agent`.
type agent struct {
	cmd    *exec.Cmd
	base   string
	bin    string
	stderr *syncBuffer // the agent's log and, with GODEBUG=gctrace=1, the runtime's GC lines
}

// syncBuffer is a bytes.Buffer the agent's stderr copier and the bench
// share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startAgent(bin, repo, dataDir string, interval string, secretEnv string, env ...string) (*agent, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"agent", "--repo", "file://" + repo, "--path", "plans", "--data-dir", dataDir, "--interval", interval,
		"--listen", "127.0.0.1:" + strconv.Itoa(port), "--log-level", "error", "--workers", "4"}
	if secretEnv != "" {
		args = append(args, "--webhook-github-secret-env", secretEnv)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "BENCH_SECRET=bench-secret"), env...)
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = io.Discard, stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &agent{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), bin: bin, stderr: stderr}, nil
}

func (a *agent) stop() {
	_ = a.cmd.Process.Signal(os.Interrupt)
	_ = a.cmd.Wait()
	// The agent's own log (errors only: --log-level error), without the
	// runtime's GC lines.
	for _, l := range strings.Split(a.stderr.String(), "\n") {
		if l != "" && !strings.HasPrefix(l, "gc ") {
			fmt.Fprintln(os.Stderr, l)
		}
	}
}

// memory is the agent's resident set now and its parts, in KiB: Anon
// (heap, stacks, the runtime's own), File (mapped files) split into the
// binary's code (r-x), its read-only data (r--: type data, the
// function table the GC and tracebacks read) and its writable data, and
// other files (the C library of a cgo build).
type memory struct {
	Now, Peak, Anon, File       int
	Code, ROData, Data, Other   int
	HeapLive, HeapGoal, GCCount int // MB, from the last GODEBUG=gctrace=1 line (0: none)
}

func (m memory) String() string {
	s := fmt.Sprintf("RSS %.1f MiB (%.1f MiB anonymous; %.1f MiB file-backed: the binary's code %.1f, read-only data %.1f, data %.1f",
		mib(m.Now), mib(m.Anon), mib(m.File), mib(m.Code), mib(m.ROData), mib(m.Data))
	if m.Other > 0 {
		s += fmt.Sprintf(", other files %.1f", mib(m.Other))
	}
	s += fmt.Sprintf("), peak %.1f MiB", mib(m.Peak))
	if m.GCCount > 0 {
		s += fmt.Sprintf("; Go heap after GC %d: %d MB live, goal %d MB", m.GCCount, m.HeapLive, m.HeapGoal)
	}
	return s
}

func mib(kib int) float64 { return float64(kib) / 1024 }

// gcLine reads "gc N @…: …, A->B->C MB, D MB goal, …" (GODEBUG=gctrace=1).
var gcLine = regexp.MustCompile(`(?m)^gc (\d+) .* \d+->\d+->(\d+) MB, (\d+) MB goal`)

func (a *agent) memory() (memory, error) {
	var m memory
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	if err != nil {
		return m, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			m.Now = v
		case "VmHWM:":
			m.Peak = v
		case "RssAnon:":
			m.Anon = v
		case "RssFile:":
			m.File = v
		}
	}
	smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", a.cmd.Process.Pid))
	if err != nil {
		return m, err
	}
	bin, _ := filepath.EvalSymlinks(a.bin)
	var perms, path string
	for _, l := range strings.Split(string(smaps), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && len(f[1]) == 4:
			perms, path = f[1], ""
			if len(f) >= 6 {
				path = f[5]
			}
		case len(f) == 3 && f[0] == "Rss:" && path != "" && !strings.HasPrefix(path, "["):
			v, _ := strconv.Atoi(f[1])
			switch {
			case path != bin:
				m.Other += v
			case perms[1] == 'w':
				m.Data += v
			case perms[2] == 'x':
				m.Code += v
			default:
				m.ROData += v
			}
		}
	}
	if all := gcLine.FindAllStringSubmatch(a.stderr.String(), -1); len(all) > 0 {
		last := all[len(all)-1]
		m.GCCount, _ = strconv.Atoi(last[1])
		m.HeapLive, _ = strconv.Atoi(last[2])
		m.HeapGoal, _ = strconv.Atoi(last[3])
	}
	return m, nil
}

// waitFor polls the status until cond holds (deadline 5 minutes).
func waitFor(base string, cond func(status) bool) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if s, err := getStatus(base); err == nil && cond(s) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("timed out")
}

func allGuarded(n int) func(status) bool {
	return func(s status) bool {
		done := 0
		for _, p := range s.Plans {
			if p.Condition.Reason != "" {
				done++
			}
		}
		return done >= n
	}
}

// newPlanLatency pushes a commit adding plan `name` and measures until
// the agent reports the plan's first step (its condition).
func newPlanLatency(work, base string, i int, webhook bool) (time.Duration, error) {
	name := fmt.Sprintf("plan-%03d", 900+i)
	if err := os.WriteFile(filepath.Join(work, "plans", name+".upshift.hcl"), []byte(planText(900+i)), 0o644); err != nil {
		return 0, err
	}
	if _, err := sh(work, gitEnv, "git", "add", "-A"); err != nil {
		return 0, err
	}
	if _, err := sh(work, gitEnv, "git", "commit", "-q", "-m", "add "+name); err != nil {
		return 0, err
	}
	head, _ := sh(work, gitEnv, "git", "rev-parse", "HEAD")
	start := time.Now()
	if _, err := sh(work, gitEnv, "git", "push", "-q", "origin", "main"); err != nil {
		return 0, err
	}
	if webhook {
		body := []byte(`{"ref":"refs/heads/main","after":"` + head + `"}`)
		m := hmac.New(sha256.New, []byte("bench-secret"))
		m.Write(body)
		req, _ := http.NewRequest(http.MethodPost, base+"/webhook", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
	}
	err := waitFor(base, func(s status) bool {
		for _, p := range s.Plans {
			if p.Name == name && p.Condition.Reason != "" {
				return true
			}
		}
		return false
	})
	return time.Since(start), err
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func run(nCommits, nPlans, runs int) error {
	tmp, err := os.MkdirTemp("", "upshift-bench-agent-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "upshift")
	// Built as the release is (static: no cgo, so no C library mapped).
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/upshift-dev/upshift/cmd/upshift")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build upshift: %v\n%s", err, out)
	}
	if fi, err := os.Stat(bin); err == nil {
		fmt.Printf("upshift binary: %.1f MB (static, CGO_ENABLED=0 -trimpath)\n", float64(fi.Size())/1e6)
	}
	start := time.Now()
	bare, work, err := makeRepo(tmp, nCommits, nPlans)
	if err != nil {
		return err
	}
	fmt.Printf("repository: %d commits, %d plans (built in %s)\n", nCommits, nPlans, time.Since(start).Round(time.Millisecond))

	a, err := startAgent(bin, bare, filepath.Join(tmp, "data1"), "1s", "", "GODEBUG=gctrace=1")
	if err != nil {
		return err
	}
	defer a.stop()
	t0 := time.Now()
	if err := waitFor(a.base, allGuarded(nPlans)); err != nil {
		return fmt.Errorf("agent did not report %d plans: %w", nPlans, err)
	}
	firstPass := time.Since(t0)
	// Let it poll a few more times with nothing changed.
	time.Sleep(3 * time.Second)
	m, err := a.memory()
	if err != nil {
		return err
	}
	fmt.Printf("agent with %d plans: first pass %s; 3 s later: %s (target < 32 MiB: %.2f× of target)\n",
		nPlans, firstPass.Round(time.Millisecond), m, mib(m.Now)/32)
	// Polling goes on (every 1 s) with no status requests: what the agent
	// holds once the runtime returned the first pass's garbage.
	time.Sleep(30 * time.Second)
	if m, err = a.memory(); err != nil {
		return err
	}
	fmt.Printf("agent with %d plans, 30 s later: %s (target < 32 MiB: %.2f× of target)\n", nPlans, m, mib(m.Now)/32)

	var polled []time.Duration
	for i := range runs {
		d, err := newPlanLatency(work, a.base, i, false)
		if err != nil {
			return fmt.Errorf("polling latency: %w", err)
		}
		polled = append(polled, d)
	}
	a.stop()
	b, err := startAgent(bin, bare, filepath.Join(tmp, "data2"), "1h", "BENCH_SECRET")
	if err != nil {
		return err
	}
	defer b.stop()
	if err := waitFor(b.base, allGuarded(nPlans+runs)); err != nil {
		return fmt.Errorf("second agent: %w", err)
	}
	var hooked []time.Duration
	for i := range runs {
		d, err := newPlanLatency(work, b.base, runs+i, true)
		if err != nil {
			return fmt.Errorf("webhook latency: %w", err)
		}
		hooked = append(hooked, d)
	}
	fmt.Printf("commit to first step, polling every 1s: median %s of %v\n", median(polled).Round(time.Millisecond), polled)
	fmt.Printf("commit to first step, webhook:          median %s of %v (target < 1 s: %.2f× of target)\n",
		median(hooked).Round(time.Millisecond), hooked, median(hooked).Seconds())
	b.stop()

	// The same first pass with Go's soft memory limit (GOMEMLIMIT), the
	// knob an operator has: the GC works harder to keep the heap under it.
	const limit = "10MiB"
	c, err := startAgent(bin, bare, filepath.Join(tmp, "data3"), "1s", "", "GOMEMLIMIT="+limit)
	if err != nil {
		return err
	}
	defer c.stop()
	t0 = time.Now()
	if err := waitFor(c.base, allGuarded(nPlans+2*runs)); err != nil {
		return fmt.Errorf("agent with GOMEMLIMIT: %w", err)
	}
	firstPass = time.Since(t0)
	time.Sleep(3 * time.Second)
	if m, err = c.memory(); err != nil {
		return err
	}
	fmt.Printf("agent with %d plans and GOMEMLIMIT=%s: first pass %s; 3 s later: %s (target < 32 MiB: %.2f× of target)\n",
		nPlans+2*runs, limit, firstPass.Round(time.Millisecond), m, mib(m.Now)/32)
	return nil
}
