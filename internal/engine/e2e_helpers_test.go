package engine

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
)

// The end-to-end harness: real PostgreSQL, kongsim nodes, kongsim's
// `kong` CLI as the plan's to.kong, real nginx in front, and a hook runner
// standing in for the user's deploy script: argv ["sim", "start"|"stop",
// NAME] starts or stops the named kongsim node in this process.

// builtBinary is a Go command built once per test binary.
type builtBinary struct {
	once sync.Once
	path string
	err  error
}

// build builds pkg as name into a temp dir the first time it is asked for.
func (b *builtBinary) build(t testing.TB, name, pkg string) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "upshift-engine-"+name+"-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, name)
		out, err := exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatalf("build %s: %v", pkg, b.err)
	}
	return b.path
}

var kongCLI builtBinary

// kongsimKong is kongsim's kong CLI, built once per test binary.
func kongsimKong(t testing.TB) string {
	t.Helper()
	return kongCLI.build(t, "kong", "github.com/upshift-dev/upshift/internal/kongsim/cmd/kongsim-kong")
}

// sim holds named kongsim nodes with fixed addresses.
type sim struct {
	t     testing.TB
	mu    sync.Mutex
	cfgs  map[string]kongsim.Config
	nodes map[string]*kongsim.Node
	calls []string
	// failStart makes the named node's start hook fail (a deploy error).
	failStart map[string]bool
}

func newSim(t testing.TB) *sim {
	s := &sim{t: t, cfgs: map[string]kongsim.Config{}, nodes: map[string]*kongsim.Node{}, failStart: map[string]bool{}}
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, n := range s.nodes {
			_ = n.Stop()
		}
	})
	return s
}

func addr(t testing.TB) string { return "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) }

// add declares a node with free fixed ports, not started.
func (s *sim) add(name string, cfg kongsim.Config) {
	cfg.AdminListen, cfg.ProxyListen, cfg.StatusListen = addr(s.t), addr(s.t), addr(s.t)
	if cfg.DBUpdateFrequency == 0 {
		cfg.DBUpdateFrequency = 100 * time.Millisecond
	}
	s.mu.Lock()
	s.cfgs[name] = cfg
	s.mu.Unlock()
}

func (s *sim) cfg(name string) kongsim.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfgs[name]
}

func (s *sim) start(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nodes[name] != nil {
		return nil
	}
	if s.failStart[name] {
		return fmt.Errorf("deploy of %s failed", name)
	}
	n, err := kongsim.Start(context.WithoutCancel(ctx), s.cfgs[name])
	if err != nil {
		return err
	}
	s.nodes[name] = n
	return nil
}

func (s *sim) stop(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nodes[name]; n != nil {
		delete(s.nodes, name)
		return n.Stop()
	}
	return nil
}

func (s *sim) node(name string) *kongsim.Node {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nodes[name]
}

// Run implements HookRunner for ["sim", action, name...].
func (s *sim) Run(ctx context.Context, argv []string) (string, error) {
	s.mu.Lock()
	s.calls = append(s.calls, strings.Join(argv, " "))
	s.mu.Unlock()
	if len(argv) < 3 || argv[0] != "sim" {
		return ExecHooks{}.Run(ctx, argv)
	}
	// ["sim", action, name...]: the names in order.
	var done []string
	for _, name := range argv[2:] {
		switch argv[1] {
		case "start":
			if err := s.start(ctx, name); err != nil {
				return strings.Join(done, "\n"), err
			}
			done = append(done, "started "+name)
		case "stop":
			if err := s.stop(name); err != nil {
				return strings.Join(done, "\n"), err
			}
			done = append(done, "stopped "+name)
		default:
			return "", fmt.Errorf("sim: unknown action %q", argv[1])
		}
	}
	return strings.Join(done, "\n"), nil
}

func (s *sim) hookCalls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// upstream is the service behind Kong: it answers 200 "ok".
func upstream(t testing.TB) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	return srv.URL
}

// seed creates the sample configuration on X: a public route /health, a
// route /orders with key-auth, a consumer with a key.
func seed(t testing.TB, adminURL, upstreamURL string) {
	t.Helper()
	ctx := context.Background()
	c, err := gokong.NewClient(&adminURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := c.Services.Create(ctx, &gokong.Service{Name: gokong.String("orders"), URL: gokong.String(upstreamURL)})
	if err != nil {
		t.Fatalf("seed service: %v", err)
	}
	if _, err := c.Routes.Create(ctx, &gokong.Route{Name: gokong.String("health"), Paths: gokong.StringSlice("/health"), Service: svc}); err != nil {
		t.Fatal(err)
	}
	r, err := c.Routes.Create(ctx, &gokong.Route{Name: gokong.String("orders"), Paths: gokong.StringSlice("/orders"), Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Plugins.Create(ctx, &gokong.Plugin{Name: gokong.String("key-auth"), Route: r}); err != nil {
		t.Fatalf("seed key-auth: %v", err)
	}
	cons, err := c.Consumers.Create(ctx, &gokong.Consumer{Username: gokong.String("alice")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KeyAuths.Create(ctx, cons.ID, &gokong.KeyAuth{Key: gokong.String("alice-key")}); err != nil {
		t.Fatalf("seed key: %v", err)
	}
}

// lintedPlan parses and lints src (lint errors fail the test).
func lintedPlan(t testing.TB, src string) *plan.Plan {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.upshift.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	set, diags := plan.NewParser().LoadPaths(path)
	if diags.HasErrors() {
		t.Fatalf("plan does not parse: %v\n%s", diags, src)
	}
	if lint := schema.Lint(set, schema.Options{}); lint.HasErrors() {
		t.Fatalf("plan has lint errors: %v\n%s", lint, src)
	}
	if len(set.Plans) != 1 {
		t.Fatalf("want one plan, got %d", len(set.Plans))
	}
	return set.Plans[0]
}

// hclList renders argv as an HCL list.
func hclList(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// engineFor builds an engine on p with the sim's hooks, a directory
// journal and fast retries; progress lines go to the test log.
func engineFor(t testing.TB, p *plan.Plan, s *sim, store Store, mut ...func(*Config)) *Engine {
	t.Helper()
	drv, err := buildDrivers(p, os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	drv.Hooks = s
	cfg := Config{Plan: p, Store: store, Drivers: drv, RetryBase: 50 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		WaitTimeout: 30 * time.Second, Holder: "test", Drain: 300 * time.Millisecond,
		Progress: func(pr Progress) {
			if pr.Phase != PhaseWait {
				t.Logf("progress: %s %s %s", pr.Step, pr.Phase, pr.Message)
			}
		}}
	for _, m := range mut {
		m(&cfg)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// stepNames lists a preview's steps as "name:status".
func stepNames(p *Preview) string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.Name+":"+s.Status)
	}
	return strings.Join(out, " ")
}

// viaVersion classifies a proxied response by Kong's Via header.
func viaVersion(r *http.Response) string {
	v := r.Header.Get("Via")
	if i := strings.LastIndex(v, "kong/"); i >= 0 {
		return v[i+5:]
	}
	return "?" + strconv.Itoa(r.StatusCode)
}

// httpGet returns url's status code.
func httpGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitStatus polls url until it answers want (deadline 20 s).
func waitStatus(t testing.TB, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := httpGet(url)
		if err == nil && resp == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %v, want %d", url, resp, err, want)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}
