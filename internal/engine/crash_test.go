package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/backup"
	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/kongsim/fleet"
	"github.com/upshift-dev/upshift/internal/kongsim/kongcli"
	"github.com/upshift-dev/upshift/internal/testenv"
	"github.com/upshift-dev/upshift/plan"
)

// The crash matrix: for each strategy, each step of its table and each
// failpoint phase, a child process (this test binary, TestCrashChild) runs
// the engine and exits at the failpoint (code 42) as a kill -9 would stop
// it; a second child runs to the end. The Kong nodes live in this (parent)
// process behind internal/kongsim/fleet's control server, and the plans' hooks are
// real curl commands, so they survive the child's death. The end state must
// equal an uninterrupted run's; no completed restore is repeated; every
// intent is closed by an outcome or a recovered event.

const envCrashPlan = "UPSHIFT_CRASH_PLAN" // set only for the child

// TestCrashChild is the child: it applies the plan in $UPSHIFT_CRASH_PLAN
// with the journal in $UPSHIFT_CRASH_JOURNAL and prints the condition.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(envCrashPlan)
	if path == "" {
		t.Skip("the crash matrix's child process; run by TestCrashMatrix")
	}
	set, diags := plan.NewParser().LoadPaths(path)
	if diags.HasErrors() || len(set.Plans) != 1 {
		fmt.Printf("CRASH-CHILD plan: %v\n", diags)
		os.Exit(3)
	}
	store, err := OpenDir(os.Getenv("UPSHIFT_CRASH_JOURNAL"), DirOptions{})
	if err != nil {
		fmt.Printf("CRASH-CHILD journal: %v\n", err)
		os.Exit(3)
	}
	e, err := New(Config{Plan: set.Plans[0], Store: store, Holder: "crash-child", Drain: -1, RetryBase: 50 * time.Millisecond,
		PollInterval: 50 * time.Millisecond, WaitTimeout: 20 * time.Second, LeaseTTL: 15 * time.Second})
	if err != nil {
		fmt.Printf("CRASH-CHILD engine: %v\n", err)
		os.Exit(3)
	}
	out, err := e.Apply(context.Background())
	if err != nil {
		fmt.Printf("CRASH-CHILD apply: %v\n", err)
		os.Exit(3)
	}
	fmt.Printf("CRASH-CHILD %s %s\n", out.Condition.Reason, out.Condition.Message)
	os.Exit(0)
}

// crashLockTimeout is the crash plans' kong --lock-timeout (seconds): the
// TTL of Kong's migrations lock row, which a runner killed half way
// leaves behind (Kong's default, 60 s, would make each such case wait a
// minute).
const crashLockTimeout = "3"

// crashWorld is one strategy's world for one matrix case.
type crashWorld struct {
	strategy   string
	fleet      *fleet.Fleet
	ng         *testenv.NginxProc
	planPath   string
	journalDir string
	store      *DirStore
	nodes      []string // the fleet's node names, for the end state
	dsns       []string // the databases, X's first (none for rolling)
	dsnY       string   // the database Y serves from ("" for rolling)
	runLog     string   // kongsim kong's run log (KONGSIM_RUN_LOG)
}

// crashBlocks are the blocks both crash plans share: nginx traffic with a
// one-step rollout, the key-auth check, and a rolling node.
var crashBlocks = template.Must(template.New("blocks").Parse(`{{define "traffic"}}  traffic "nginx" {
    upstream_file = "{{.Upstream}}"
    upstream      = "kong"
    test          = {{.Test}}
    reload        = {{.Reload}}
    pid_file      = "{{.PidFile}}"
  }
  rollout {
    step {
      weight = 100
      pause  = "1s"
    }
  }{{end}}{{define "check"}}  check "key_auth_rejects_anonymous" {
    request { path = "/orders" }
    expect { status = 401 }
  }{{end}}{{define "node"}}    node "{{.Name}}" {
      admin_url  = "http://{{.C.AdminListen}}"
      status_url = "http://{{.C.StatusListen}}"
      proxy_url  = "http://{{.C.ProxyListen}}"
      start      = {{.Start}}
      stop       = {{.Stop}}
    }{{end}}`))

var crashPlan = template.Must(template.Must(crashBlocks.Clone()).New("p").Parse(`upgrade "crash" {
  cluster  = "crash"
  strategy = "{{.S}}"
  mode     = "traditional"
  approve_in_advance = [{{.Approve}}]
{{- if .Ack}}
  acknowledge = [{{.Ack}}]
{{- end}}
  from {
    version    = "{{.From}}"
    admin_url  = "http://{{.X.AdminListen}}"
    status_url = "http://{{.X.StatusListen}}"
    proxy_url  = "http://{{.X.ProxyListen}}"
    database { dsn = "{{.DSNX}}" }
    start = {{.XStart}}
    stop  = {{.XStop}}
  }
  to {
    version    = "{{.To}}"
    admin_url  = "http://{{.Y.AdminListen}}"
    status_url = "http://{{.Y.StatusListen}}"
    proxy_url  = "http://{{.Y.ProxyListen}}"
{{- if .DSNY}}
    database { dsn = "{{.DSNY}}" }
{{- end}}
    kong  = ["env", "KONG_VERSION={{.To}}", "KONGSIM_RUN_LOG={{.RunLog}}", "{{.Kong}}", "--lock-timeout", "{{.LockTimeout}}"]
    start = {{.YStart}}
    stop  = {{.YStop}}
  }
  backup {
    dir        = "{{.Backups}}"
    verify     = true
    verify_dsn = "{{.Verify}}"
  }
{{- if .Traffic}}
{{template "traffic" .}}
{{- end}}
{{template "check"}}
}
`))

func newCrashWorld(t testing.TB, strategy string) *crashWorld {
	t.Helper()
	if strategy == "rolling" {
		return newRollingCrashWorld(t)
	}
	ctx := context.Background()
	pg := testenv.Postgres(t)
	// A hop where every step acts: up runs migrations and leaves
	// ai-proxy's 001_360_to_370 pending for finish (blue-green needs it
	// acknowledged: UP007). 3.6.x's up leaves nothing pending.
	from, to := "3.6.1", "3.7.1"
	dsnX := pg.NewDatabase(t)
	dsnY := ""
	if strategy == "dual_cluster" {
		dsnY = pg.NewDatabase(t)
	}
	if code, out, errOut, err := kongsim.Migrate(ctx, dsnX, from, "bootstrap"); err != nil || code != 0 {
		t.Fatalf("bootstrap: %d %v %s %s", code, err, out, errOut)
	}
	w := &crashWorld{strategy: strategy, fleet: fleet.New(nil), journalDir: t.TempDir(), nodes: []string{"x", "y"},
		dsns: []string{dsnX}, dsnY: dsnX, runLog: filepath.Join(t.TempDir(), "kong-runs.log")}
	if dsnY != "" {
		w.dsns, w.dsnY = append(w.dsns, dsnY), dsnY
	}
	t.Cleanup(func() { _ = w.fleet.Close() })
	if err := w.fleet.Add("x", kongsim.Config{Version: from, DSN: dsnX, DBUpdateFrequency: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	ycfg := kongsim.Config{Version: to, DSN: dsnX, DBUpdateFrequency: 100 * time.Millisecond}
	if dsnY != "" {
		ycfg.DSN = dsnY
	}
	if strategy == "in_place" {
		xc, _ := w.fleet.Config("x")
		ycfg.AdminListen, ycfg.ProxyListen, ycfg.StatusListen = xc.AdminListen, xc.ProxyListen, xc.StatusListen
	}
	if err := w.fleet.Add("y", ycfg); err != nil {
		t.Fatal(err)
	}
	if _, err := w.fleet.Serve(); err != nil {
		t.Fatal(err)
	}
	if err := w.fleet.Start(ctx, "x"); err != nil {
		// A free port taken between its choice and the bind by a
		// process that does not reserve through internal/freeport: the
		// case cannot run as planned.
		t.Fatal(err)
	}
	admin, _, _ := w.fleet.URLs("x")
	crashSeed(t, admin, true)
	xc, _ := w.fleet.Config("x")
	yc, _ := w.fleet.Config("y")
	vars := map[string]any{"S": strategy, "From": from, "To": to, "X": xc, "Y": yc, "DSNX": dsnX, "DSNY": dsnY,
		"XStart": hclList(w.fleet.Hook("x", "start")), "XStop": hclList(w.fleet.Hook("x", "stop")),
		"YStart": hclList(w.fleet.Hook("y", "start")), "YStop": hclList(w.fleet.Hook("y", "stop")),
		"Kong": kongsimKong(t), "LockTimeout": crashLockTimeout, "Backups": filepath.Join(t.TempDir(), "backups"), "Verify": pg.AdminDSN(),
		"Approve": `"decommission"`, "Traffic": strategy != "in_place", "RunLog": w.runLog, "Ack": ""}
	switch strategy {
	case "blue_green":
		vars["Approve"], vars["Ack"] = `"finish", "decommission"`, `"UP007"`
	case "in_place":
		vars["Approve"] = `"stop_current", "decommission"`
	}
	if strategy != "in_place" {
		w.ng = testenv.Nginx(t, testenv.NginxConfig{Servers: []testenv.NginxServer{{Addr: xc.ProxyListen, Weight: 1}, {Addr: yc.ProxyListen, Down: true}}})
		vars["Upstream"], vars["Test"], vars["Reload"], vars["PidFile"] = w.ng.UpstreamFile(), hclList(w.ng.TestCommand()), hclList(w.ng.ReloadCommand()), w.ng.PidFile()
	}
	var b bytes.Buffer
	if err := crashPlan.Execute(&b, vars); err != nil {
		t.Fatal(err)
	}
	w.writePlan(t, b.String())
	return w
}

// writePlan lints src, writes it where the children read it and opens
// the journal directory.
func (w *crashWorld) writePlan(t testing.TB, src string) {
	t.Helper()
	w.planPath = filepath.Join(t.TempDir(), "crash.upshift.hcl")
	if err := os.WriteFile(w.planPath, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	lintedPlan(t, src)
	st, err := OpenDir(w.journalDir, DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	w.store = st
}

var rollingCrashPlan = template.Must(template.Must(crashBlocks.Clone()).New("r").Parse(`upgrade "crash" {
  cluster  = "crash"
  strategy = "rolling"
  mode     = "dbless"
  approve_in_advance = ["decommission"]
  from {
    version = "3.8.0"
{{- range .From}}
{{template "node" .}}
{{- end}}
  }
  to {
    version = "3.9.1"
{{- range .To}}
{{template "node" .}}
{{- end}}
  }
  backup {
    dir = "{{.Backups}}"
  }
{{template "traffic" .}}
{{template "check"}}
}
`))

// newRollingCrashWorld: two DB-less X nodes (3.8.0) with their declarative
// configuration, two DB-less Y nodes (3.9.1) that start empty: a Y node
// left running by a crash before its configuration was loaded is up with
// an empty configuration and must not count as done.
func newRollingCrashWorld(t testing.TB) *crashWorld {
	t.Helper()
	ctx := context.Background()
	w := &crashWorld{strategy: "rolling", fleet: fleet.New(nil), journalDir: t.TempDir(), nodes: []string{"x1", "x2", "y1", "y2"}}
	t.Cleanup(func() { _ = w.fleet.Close() })
	conf := fleet.SampleDeclarative(crashUpstream())
	type node struct {
		Name, Start, Stop string
		C                 kongsim.Config
	}
	var from, to []node
	for _, n := range w.nodes {
		cfg := kongsim.Config{Version: "3.9.1", Database: "off"}
		if n[0] == 'x' {
			cfg = kongsim.Config{Version: "3.8.0", Database: "off", DeclarativeConfig: conf}
		}
		if err := w.fleet.Add(n, cfg); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.fleet.Serve(); err != nil {
		t.Fatal(err)
	}
	var servers []testenv.NginxServer
	for _, n := range w.nodes {
		c, _ := w.fleet.Config(n)
		nd := node{Name: n, C: c, Start: hclList(w.fleet.Hook(n, "start")), Stop: hclList(w.fleet.Hook(n, "stop"))}
		if n[0] == 'x' {
			if err := w.fleet.Start(ctx, n); err != nil {
				t.Fatal(err)
			}
			from = append(from, nd)
			servers = append(servers, testenv.NginxServer{Addr: c.ProxyListen, Weight: 1})
		} else {
			to = append(to, nd)
			servers = append(servers, testenv.NginxServer{Addr: c.ProxyListen, Down: true})
		}
	}
	w.ng = testenv.Nginx(t, testenv.NginxConfig{Servers: servers})
	var b bytes.Buffer
	if err := rollingCrashPlan.Execute(&b, map[string]any{"From": from, "To": to, "Backups": filepath.Join(t.TempDir(), "backups"),
		"Upstream": w.ng.UpstreamFile(), "Test": hclList(w.ng.TestCommand()), "Reload": hclList(w.ng.ReloadCommand()), "PidFile": w.ng.PidFile()}); err != nil {
		t.Fatal(err)
	}
	w.writePlan(t, b.String())
	return w
}

// child runs the engine in a child process; failpoint "" runs to the end.
func (w *crashWorld) child(t *testing.T, failpoint string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envCrashPlan+"="+w.planPath, "UPSHIFT_CRASH_JOURNAL="+w.journalDir,
		EnvFailpoint+"="+failpoint, EnvPauseScale+"=0")
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("child: %v", err)
		}
		code = ee.ExitCode()
	}
	return code, string(out)
}

// ran reports whether the journal has an intent for step.
func (w *crashWorld) ran(t *testing.T, step string) bool {
	recs, err := w.store.Records(context.Background(), "crash", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Kind == KindIntent && r.Step == step {
			return true
		}
	}
	return false
}

// steps lists the plan's step names (a preview of the fresh world).
func (w *crashWorld) steps(t *testing.T) []string {
	t.Helper()
	set, _ := plan.NewParser().LoadPaths(w.planPath)
	e, err := New(Config{Plan: set.Plans[0]})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := e.Preview(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range pv.Steps {
		out = append(out, s.Name)
	}
	return out
}

// endState summarises what the matrix compares with an uninterrupted run,
// measured from outside the engine: the engine's condition, which nodes
// run and their versions, each database's schema_meta (executed and
// pending migrations), the split nginx serves (by requests), Y's content
// fingerprint (its database's, or each DB-less Y node's configuration) and
// how many times `kong migrations finish` was started.
func (w *crashWorld) endState(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	set, _ := plan.NewParser().LoadPaths(w.planPath)
	e, err := New(Config{Plan: set.Plans[0], Store: w.store})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := e.Preview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o := pv.Observed
	s := "condition=" + string(pv.Condition.Reason)
	for _, n := range w.nodes {
		s += fmt.Sprintf(" %s_running=%v", n, w.fleet.Running(n))
	}
	if o.To != nil {
		s += fmt.Sprintf(" y=%s/%v", o.To.Version, o.To.Ready)
	}
	for _, n := range o.ToNodes {
		s += fmt.Sprintf(" %s=%s/%v", n.Name, n.Version, n.Ready)
	}
	nonePending := true
	for i, dsn := range w.dsns {
		st, err := kong.ReadSchema(ctx, dsn)
		if err != nil {
			t.Fatalf("schema_meta of database %d: %v", i, err)
		}
		// Every subsystem's executed and pending migrations, as a hash
		// (the pending ones also by name, to read a difference).
		h := sha256.New()
		executed, pending := 0, []string{}
		for _, r := range st.Rows {
			fmt.Fprintf(h, "%s executed=%v pending=%v\n", r.Subsystem, r.Executed, r.Pending)
			executed += len(r.Executed)
			for _, m := range r.Pending {
				pending = append(pending, r.Subsystem+"/"+m)
			}
		}
		s += fmt.Sprintf(" db%d=%x/executed:%d/pending:%v", i, h.Sum(nil)[:6], executed, pending)
		nonePending = nonePending && len(pending) == 0
	}
	if w.ng != nil {
		s += " nginx_serves=" + w.servedSplit(t)
	}
	if w.dsnY != "" {
		fp, err := (&backup.Driver{Options: backup.Options{DSN: w.dsnY}}).Fingerprint(ctx)
		if err != nil {
			t.Fatalf("Y's fingerprint: %v", err)
		}
		s += " y_fingerprint=" + short(fp.Hash)
	}
	for _, n := range w.nodes {
		if n[0] != 'y' || !strings.HasPrefix(w.strategy, "rolling") || !w.fleet.Running(n) {
			continue
		}
		admin, _, _ := w.fleet.URLs(n)
		c, err := kong.New(kong.Options{AdminURL: admin})
		if err != nil {
			t.Fatal(err)
		}
		fp, err := (&backup.Driver{Options: backup.Options{Admin: c}}).Fingerprint(ctx)
		if err != nil {
			t.Fatalf("%s's fingerprint: %v", n, err)
		}
		s += fmt.Sprintf(" %s_fingerprint=%s", n, short(fp.Hash))
	}
	completed := w.finishRuns(t, true)
	if completed == 0 && nonePending && w.finishRuns(t, false) > 0 {
		// A finish killed after its last commit (SIGPIPE at its closing
		// print, once the upshift that started it is gone) did the work
		// and logged no end: nothing is pending, so it completed.
		completed = 1
	}
	s += fmt.Sprintf(" finish_completed=%d", completed)
	return s
}

// servedSplit sends 40 requests through nginx, each on a new connection
// (so that a current worker answers), and counts the Kong versions that
// answered: what nginx really routes.
func (w *crashWorld) servedSplit(t *testing.T) string {
	t.Helper()
	by := map[string]int{}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for range 40 {
		resp, err := client.Get(w.ng.URL() + "/health")
		if err != nil {
			by["error"]++
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		by[viaVersion(resp)]++
	}
	return fmt.Sprint(by)
}

// finishRuns counts the runs of `kong migrations finish` in kongsim
// kong's run log: those that ran to their end with exit 0 (completed), or
// all that were started (a run killed half way, e.g. by SIGPIPE when the
// upshift that started it was killed, has a start and no end).
func (w *crashWorld) finishRuns(t *testing.T, completed bool) int {
	t.Helper()
	b, err := os.ReadFile(w.runLog)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	finish := map[string]bool{} // pids of finish runs
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 4 && f[0] == "start" && strings.Contains(" "+strings.Join(f[2:], " ")+" ", " migrations finish "):
			finish[f[1]] = true
			if !completed {
				n++
			}
		case len(f) == 3 && f[0] == "end" && finish[f[1]] && f[2] == "0" && completed:
			n++
		}
	}
	return n
}

// crashUpstream is the service all crash worlds proxy to: one server, so
// that the service's URL, part of Y's fingerprint, is the same in every
// world.
var crashUpstream = sync.OnceValue(func() string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	return srv.URL // lives as long as the test process
})

// crashSeed creates the sample configuration on X with fixed IDs, so
// that Y's content fingerprint is the same in every world: the service,
// routes /health and /orders, key-auth on /orders, a consumer and its
// key, and (withRateLimiting) a rate-limiting plugin with a redis policy
// (3.6's nested redis record).
func crashSeed(t testing.TB, adminURL string, withRateLimiting bool) {
	t.Helper()
	ctx := context.Background()
	c, err := gokong.NewClient(&adminURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := func(n int) *string { return gokong.String(fmt.Sprintf("00000000-0000-4000-8000-%012d", n)) }
	svc, err := c.Services.Create(ctx, &gokong.Service{ID: id(1), Name: gokong.String("orders"), URL: gokong.String(crashUpstream())})
	if err != nil {
		t.Fatalf("seed service: %v", err)
	}
	if _, err := c.Routes.Create(ctx, &gokong.Route{ID: id(2), Name: gokong.String("health"), Paths: gokong.StringSlice("/health"), Service: svc}); err != nil {
		t.Fatalf("seed route: %v", err)
	}
	r, err := c.Routes.Create(ctx, &gokong.Route{ID: id(3), Name: gokong.String("orders"), Paths: gokong.StringSlice("/orders"), Service: svc})
	if err != nil {
		t.Fatalf("seed route: %v", err)
	}
	if _, err := c.Plugins.Create(ctx, &gokong.Plugin{ID: id(4), Name: gokong.String("key-auth"), Route: r}); err != nil {
		t.Fatalf("seed key-auth: %v", err)
	}
	cons, err := c.Consumers.Create(ctx, &gokong.Consumer{ID: id(5), Username: gokong.String("alice")})
	if err != nil {
		t.Fatalf("seed consumer: %v", err)
	}
	if _, err := c.KeyAuths.Create(ctx, cons.ID, &gokong.KeyAuth{ID: id(6), Key: gokong.String(fleet.SampleKey)}); err != nil {
		t.Fatalf("seed key: %v", err)
	}
	if withRateLimiting {
		// Kong 3.6 moved the redis settings into config.redis; before it
		// they are flat fields (the rehearsal's world starts at 3.5).
		conf := gokong.Configuration{"minute": 100000, "policy": "redis", "redis": map[string]any{"host": "redis.internal", "port": 6379}}
		root, err := c.Root(ctx)
		if err != nil {
			t.Fatalf("seed: GET /: %v", err)
		}
		if v, _ := root["version"].(string); kongrelease.MustParse(v).Compare(kongrelease.MustParse("3.6.0")) < 0 {
			conf = gokong.Configuration{"minute": 100000, "policy": "redis", "redis_host": "redis.internal", "redis_port": 6379}
		}
		if _, err := c.Plugins.Create(ctx, &gokong.Plugin{ID: id(7), Name: gokong.String("rate-limiting"), Config: conf}); err != nil {
			t.Fatalf("seed rate-limiting: %v", err)
		}
	}
}

// checkJournal: seqs increase by one; every intent is closed by an
// outcome or followed by a recovered event; no completed restore repeated.
func (w *crashWorld) checkJournal(t *testing.T) {
	t.Helper()
	recs, err := w.store.Records(context.Background(), "crash", 0)
	if err != nil {
		t.Fatal(err)
	}
	closed := map[int64]bool{}
	recovered := map[string]bool{}
	restores := 0
	for i, r := range recs {
		if r.Seq != int64(i+1) {
			t.Errorf("record %d has seq %d", i, r.Seq)
		}
		switch {
		case r.Kind == KindOutcome:
			closed[r.IntentSeq] = true
			if r.Step == "restore" && r.Result == ResultOK && !strings.HasPrefix(r.Output, "unchanged") {
				restores++
			}
		case r.Kind == KindEvent && r.Event == EventRecovered:
			recovered[r.Details["intent_seq"]] = true
		}
	}
	for _, r := range recs {
		if r.Kind == KindIntent && !closed[r.Seq] && !recovered[fmt.Sprint(r.Seq)] {
			t.Errorf("intent %d (%s) neither closed nor recovered", r.Seq, r.Step)
		}
	}
	if restores > 1 {
		t.Errorf("a completed restore was repeated (%d restores that changed the database)", restores)
	}
}

// crashPhases are the failpoints the matrix sets in a step. In the
// default matrix (CI), for every step that acts (all but guard, preflight,
// preflight_y, checks and pause_*, which only observe or wait): "after" (done, outcome not
// recorded: the case recovery must observe); "during" in every step that
// runs a child process (a hook, kong, nginx's test and reload: the
// failpoint fires once the child has started, and the child keeps
// running; the stop hooks of stop_from and decommission only in the full
// matrix: a curl to the fleet acts like "after"); "before" (an intent,
// nothing done) in the points of no return (migrations_finish,
// decommission), where an intent changes what the guard does.
// UPSHIFT_CRASH_FULL=1 adds "before" and "after" in every step and
// "during" in the stop hooks.
func crashPhases(step string, full bool) []Phase {
	base, _, _ := strings.Cut(step, ":") // rolling: start_to:y1
	observes := base == "guard" || base == "preflight" || base == "preflight_y" || base == "checks" || strings.HasPrefix(base, "pause_")
	var ph []Phase
	if full || !observes {
		ph = append(ph, PhaseAfter)
	}
	switch {
	case base == "migrations_up", base == "migrations_finish", base == "start_to", strings.HasPrefix(base, "traffic_"),
		full && (base == "stop_from" || base == "decommission"):
		ph = append(ph, PhaseDuring)
	}
	if full || base == "migrations_finish" || base == "decommission" {
		ph = append(ph, PhaseBefore)
	}
	return ph
}

// crashNotApplicable lists the matrix's cases whose failpoint cannot fire,
// with the reason. Any other case whose failpoint does not fire fails.
var crashNotApplicable = map[string]string{}

// TestCrashMatrix: see the top of this file. Every case's failpoint must
// fire (or the case be listed in crashNotApplicable); the end state is
// compared with an uninterrupted run's, measured from outside (endState).
func TestCrashMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash matrix runs two child processes per case")
	}
	testenv.NeedBinary(t, "curl", "curl") // the plans' start/stop hooks
	start := time.Now()
	defer func() { t.Logf("crash matrix: %s", time.Since(start).Round(time.Second)) }()
	for _, strategy := range crashStrategies() {
		ref := newCrashWorld(t, strategy)
		if code, out := ref.child(t, ""); code != 0 || !strings.Contains(out, "CRASH-CHILD Converged") {
			t.Fatalf("%s uninterrupted: exit %d\n%s", strategy, code, out)
		}
		want := ref.endState(t)
		t.Logf("%s uninterrupted: %s", strategy, want)
		if n := ref.finishRuns(t, false); strategy != "rolling" && n != 1 {
			t.Errorf("%s uninterrupted: kong migrations finish started %d times, want 1", strategy, n)
		}
		steps := ref.steps(t)
		_ = ref.fleet.Close()
		full := os.Getenv("UPSHIFT_CRASH_FULL") != ""
		for _, st := range steps {
			for _, ph := range crashPhases(st, full) {
				name := fmt.Sprintf("%s/%s:%s", strategy, st, ph)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					w := newCrashWorld(t, strategy)
					code, out := w.child(t, st+":"+string(ph))
					fired := code == FailpointExitCode
					why, na := crashNotApplicable[name]
					switch {
					case fired && na:
						t.Errorf("failpoint fired, but the case is listed as not applicable (%s)", why)
					case !fired && !na:
						t.Fatalf("failpoint %s:%s did not fire (exit %d); list the case in crashNotApplicable with the reason if it cannot\n%s", st, ph, code, out)
					case !fired && code != 0:
						t.Fatalf("first run: exit %d\n%s", code, out)
					}
					if node, ok := strings.CutPrefix(st, "start_to:"); ok && ph == PhaseDuring && fired {
						w.emptyNodeNotReady(t, node)
					}
					code, out = w.resume(t)
					if strings.Contains(out, "CRASH-CHILD "+ReasonMigrationInDoubt) {
						// Kong's runner died with apply, part way: its lock
						// row is left and its SQL may have committed without
						// schema_meta knowing, so the engine stops for a
						// person instead of running it again (docs/engine.md,
						// "Evidence before destruction"). Only a crash while
						// kong ran may end here. The person inspects, runs
						// the same command by hand, and the run goes on.
						cmd, isMig := strings.CutPrefix(st, "migrations_")
						if !isMig || ph != PhaseDuring || !fired {
							t.Fatalf("after a crash at %s:%s (fired %v): MigrationInDoubt where kong was not running\n%s", st, ph, fired, out)
						}
						w.kongByHand(t, cmd)
						code, out = w.resume(t)
					}
					if code != 0 || !strings.Contains(out, "CRASH-CHILD Converged") {
						t.Fatalf("after the crash: exit %d\n%s", code, out)
					}
					if got := w.endState(t); got != want {
						t.Errorf("end state after a crash at %s:%s (fired %v)\n got %s\nwant %s", st, ph, fired, got, want)
					}
					if n := w.finishRuns(t, false); n > 1 {
						t.Logf("kong migrations finish started %d times (runs killed half way are started again)", n)
					}
					w.checkJournal(t)
				})
			}
		}
	}
}

// kongByHand runs Y's `kong migrations cmd` on the database Y serves
// from, as the person a MigrationInDoubt stall asks for would after
// checking the data, through the same kongsim kong and run log as the
// plan's (a manual finish counts in finishRuns).
func (w *crashWorld) kongByHand(t *testing.T, cmd string) {
	t.Helper()
	db, err := kong.ParseDSN(w.dsnY)
	if err != nil {
		t.Fatal(err)
	}
	// The dead runner's lock row lives for its lock timeout; Kong answers
	// "another node is performing database changes" (exit 0) until then,
	// and the person runs the command again.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c := exec.Command(kongsimKong(t), "migrations", cmd, "--lock-timeout", crashLockTimeout)
		c.Env = append(append(os.Environ(), "KONG_VERSION=3.7.1", kongcli.EnvRunLog+"="+w.runLog), db.Env()...)
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("kong migrations %s by hand: %v\n%s", cmd, err, out)
		}
		if !strings.Contains(string(out), "another node is performing database changes") {
			t.Logf("kong migrations %s by hand:\n%s", cmd, out)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kong migrations %s by hand: the dead runner's lock outlived 30s:\n%s", cmd, out)
		}
		time.Sleep(500 * time.Millisecond) // poll until the lock row's TTL has passed
	}
}

// resume runs a child to the end. The dead child's lease is taken over at
// once (its process is gone: issue 10, finding 11); a refusal for the lease
// (a holder this host cannot judge dead) is retried until a deadline.
func (w *crashWorld) resume(t *testing.T) (int, string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out := w.child(t, "")
		if code == 0 || !strings.Contains(out, "lease") || time.Now().After(deadline) {
			return code, out
		}
	}
}

// TestCrashAfterSharedMigrationsKeepsBaseline (issue 10, finding 3):
// blue-green on 3.6.1 → 3.7.1 crashed after migrations_up's action and
// before its outcome, where the drift guard's new baseline is recorded:
// the resumed run must take the migrated configuration as the baseline
// (schema_meta shows up done, no entity added or removed) and converge;
// with an entity added while it was down, it must still stop on the drift.
func TestCrashAfterSharedMigrationsKeepsBaseline(t *testing.T) {
	testenv.NeedBinary(t, "curl", "curl") // the plans' start/stop hooks
	t.Run("no admin write", func(t *testing.T) {
		t.Parallel()
		w := newCrashWorld(t, "blue_green")
		if code, out := w.child(t, "migrations_up:after"); code != FailpointExitCode {
			t.Fatalf("failpoint did not fire: exit %d\n%s", code, out)
		}
		if code, out := w.resume(t); code != 0 || !strings.Contains(out, "CRASH-CHILD Converged") {
			t.Fatalf("after the crash: exit %d\n%s", code, out)
		}
		w.checkJournal(t)
	})
	t.Run("admin write", func(t *testing.T) {
		t.Parallel()
		w := newCrashWorld(t, "blue_green")
		if code, out := w.child(t, "migrations_up:after"); code != FailpointExitCode {
			t.Fatalf("failpoint did not fire: exit %d\n%s", code, out)
		}
		admin, _, _ := w.fleet.URLs("x")
		c, err := gokong.NewClient(&admin, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Consumers.Create(context.Background(), &gokong.Consumer{Username: gokong.String("bob")}); err != nil {
			t.Fatal(err)
		}
		if code, out := w.resume(t); code != 0 || !strings.Contains(out, "CRASH-CHILD DriftDetected") {
			t.Fatalf("after the crash and an admin write: exit %d, want a stall on the drift\n%s", code, out)
		}
	})
}

// emptyNodeNotReady: the start hook the dead child left running starts
// the DB-less node with no configuration; it must answer 503 on
// /status/ready (so the restarted engine cannot take it as started).
func (w *crashWorld) emptyNodeNotReady(t *testing.T, node string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !w.fleet.Running(node) {
		if time.Now().After(deadline) {
			t.Fatalf("the start hook of %s did not finish after the crash", node)
		}
		time.Sleep(20 * time.Millisecond) // polling the fleet, with a deadline
	}
	_, _, status := w.fleet.URLs(node)
	if code, err := httpGet(status + "/status/ready"); code != http.StatusServiceUnavailable {
		t.Fatalf("%s up with an empty configuration: /status/ready = %d %v, want 503", node, code, err)
	}
}

// crashStrategies: UPSHIFT_CRASH_STRATEGIES (comma-separated) narrows the
// matrix for local runs; all four by default.
func crashStrategies() []string {
	if v := os.Getenv("UPSHIFT_CRASH_STRATEGIES"); v != "" {
		return strings.Split(v, ",")
	}
	return []string{"dual_cluster", "in_place", "blue_green", "rolling"}
}

// waitUnit is a second, the unit of the tests' wait timeouts.
func (w *crashWorld) waitUnit() time.Duration { return time.Second }
