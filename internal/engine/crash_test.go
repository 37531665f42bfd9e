package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/upshift-dev/upshift/internal/testenv"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/kongsim/fleet"
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
		PollInterval: 50 * time.Millisecond, WaitTimeout: 20 * time.Second, LeaseTTL: time.Second})
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

// crashWorld is one strategy's world for one matrix case.
type crashWorld struct {
	strategy   string
	fleet      *fleet.Fleet
	ng         *testenv.NginxProc
	planPath   string
	journalDir string
	store      *DirStore
	nodes      []string // the fleet's node names, for the end state
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
  approve  = [{{.Approve}}]
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
    kong  = ["env", "KONG_VERSION={{.To}}", "{{.Kong}}"]
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
	from, to := "3.8.0", "3.9.1"
	if strategy == "blue_green" {
		from = "3.9.0"
	}
	dsnX := pg.NewDatabase(t)
	dsnY := ""
	if strategy == "dual_cluster" {
		dsnY = pg.NewDatabase(t)
	}
	if code, out, errOut, err := kongsim.Migrate(ctx, dsnX, from, "bootstrap"); err != nil || code != 0 {
		t.Fatalf("bootstrap: %d %v %s %s", code, err, out, errOut)
	}
	w := &crashWorld{strategy: strategy, fleet: fleet.New(nil), journalDir: t.TempDir(), nodes: []string{"x", "y"}}
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
		// A free port taken by another process between its choice and
		// the bind: the case cannot run as planned.
		t.Fatal(err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(up.Close)
	admin, _, _ := w.fleet.URLs("x")
	if err := fleet.Seed(ctx, admin, up.URL); err != nil {
		t.Fatal(err)
	}
	xc, _ := w.fleet.Config("x")
	yc, _ := w.fleet.Config("y")
	vars := map[string]any{"S": strategy, "From": from, "To": to, "X": xc, "Y": yc, "DSNX": dsnX, "DSNY": dsnY,
		"XStart": hclList(w.fleet.Hook("x", "start")), "XStop": hclList(w.fleet.Hook("x", "stop")),
		"YStart": hclList(w.fleet.Hook("y", "start")), "YStop": hclList(w.fleet.Hook("y", "stop")),
		"Kong": kongsimKong(t), "Backups": filepath.Join(t.TempDir(), "backups"), "Verify": pg.AdminDSN(),
		"Approve": `"decommission"`, "Traffic": strategy != "in_place"}
	switch strategy {
	case "blue_green":
		vars["Approve"] = `"finish", "decommission"`
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
  approve  = ["decommission"]
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
	conf := fleet.SampleDeclarative(upstream(t))
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

// endState summarises what the matrix compares with an uninterrupted run.
func (w *crashWorld) endState(t *testing.T) string {
	t.Helper()
	set, _ := plan.NewParser().LoadPaths(w.planPath)
	e, err := New(Config{Plan: set.Plans[0], Store: w.store})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := e.Preview(context.Background())
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
	if o.Traffic != nil {
		s += fmt.Sprintf(" traffic=%d/%d", o.Traffic.From, o.Traffic.To)
	}
	db := o.ToDatabase
	if db == nil {
		db = o.FromDatabase
	}
	if db != nil && db.ForTo != nil {
		s += fmt.Sprintf(" db_new=%d db_pending=%d", len(db.ForTo.New), len(db.ForTo.Pending))
	}
	return s
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

// TestCrashMatrix: see the top of this file. Every step of the four
// strategies is crashed "after" (done, outcome not recorded:
// the case recovery must observe); steps that run a child process also
// "during" (the child keeps running); "before" (an intent, nothing done)
// for the first step, the migrations and the decommission.
func TestCrashMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash matrix runs two child processes per case")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	start := time.Now()
	defer func() { t.Logf("crash matrix: %s", time.Since(start).Round(time.Second)) }()
	for _, strategy := range crashStrategies() {
		ref := newCrashWorld(t, strategy)
		if code, out := ref.child(t, ""); code != 0 || !strings.Contains(out, "CRASH-CHILD Converged") {
			t.Fatalf("%s uninterrupted: exit %d\n%s", strategy, code, out)
		}
		want := ref.endState(t)
		steps := ref.steps(t)
		_ = ref.fleet.Close()
		// "before" leaves an intent and nothing done, the same for every
		// step: it is run for the first step, the migrations and the
		// decommission; "during" and "after" for every step.
		// "during" fires only in steps that start a child process (hooks,
		// kong); elsewhere it would be an uninterrupted run.
		phases := map[string][]Phase{}
		for _, st := range steps {
			phases[st] = []Phase{PhaseAfter}
			base, _, _ := strings.Cut(st, ":") // rolling: start_to:y1
			switch base {
			case "migrations_up", "migrations_finish", "start_to", "stop_from", "decommission":
				phases[st] = append(phases[st], PhaseDuring)
			}
			switch st {
			case "guard", "migrations_up", "decommission":
				phases[st] = append(phases[st], PhaseBefore)
			}
		}
		for _, st := range steps {
			for _, ph := range phases[st] {
				name := fmt.Sprintf("%s/%s:%s", strategy, st, ph)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					w := newCrashWorld(t, strategy)
					code, out := w.child(t, st+":"+string(ph))
					fired := code == FailpointExitCode
					t.Logf("failpoint %s:%s fired: %v", st, ph, fired)
					if !fired && (code != 0 || ph != PhaseDuring && w.ran(t, st)) {
						// Only "during" may not fire (a step without a child
						// process), or a step the run observed done.
						t.Fatalf("first run: exit %d\n%s", code, out)
					}
					if node, ok := strings.CutPrefix(st, "start_to:"); ok && ph == PhaseDuring && fired {
						w.emptyNodeNotReady(t, node)
					}
					// The dead child's lease lives until its TTL (1s): the
					// restart is refused until then, as a restarted agent's
					// would be; retry with a deadline.
					deadline := time.Now().Add(20 * time.Second)
					for {
						code, out = w.child(t, "")
						if code == 0 || !strings.Contains(out, "lease") || time.Now().After(deadline) {
							break
						}
					}
					if code != 0 || !strings.Contains(out, "CRASH-CHILD Converged") {
						t.Fatalf("after the crash: exit %d\n%s", code, out)
					}
					if got := w.endState(t); got != want {
						t.Errorf("end state after a crash at %s:%s (fired %v)\n got %s\nwant %s", st, ph, fired, got, want)
					}
					w.checkJournal(t)
				})
			}
		}
	}
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
