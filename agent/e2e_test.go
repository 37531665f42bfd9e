package agent_test

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

	"github.com/upshift-dev/upshift/agent"
	"github.com/upshift-dev/upshift/agent/gitsource"
	"github.com/upshift-dev/upshift/agent/leader"
	"github.com/upshift-dev/upshift/agent/webhook"
	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/kongsim/fleet"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestGitOpsEndToEnd is issue 6's story on a real git server, real
// PostgreSQL, kongsim nodes started and stopped by curl hooks, and nginx,
// with a load through nginx the whole time:
//  1. commit a dual-cluster plan: the agent upgrades until a rollout pause;
//  2. git revert: the agent rolls back (all traffic to X, Y stopped);
//  3. commit the plan again: it converges up to the decommission approval;
//  4. commit approve = ["decommission"]: X is decommissioned.
//
// No request through nginx fails.
// gitopsWorld is the end-to-end setup: PostgreSQL, kongsim X (3.8.0,
// seeded) and Y (3.9.1) in a fleet behind curl hooks, nginx in front, a
// load through nginx, and a git server holding the plans repository.
type gitopsWorld struct {
	ctx      context.Context
	pg       *testenv.PG
	f        *fleet.Fleet
	ng       *testenv.NginxProc
	g        *testenv.GitSrv
	work     string
	planFile func(extra string) string
	push     func(files map[string]string, msg string) string
	stopLoad context.CancelFunc
	loadDone chan testenv.LoadResult
}

func newGitOpsWorld(t *testing.T, ctx context.Context) *gitopsWorld {
	t.Helper()
	testenv.NeedBinary(t, "curl", "curl") // the plan's start/stop hooks
	pg := testenv.Postgres(t)
	dsnX, dsnY := pg.NewDatabase(t), pg.NewDatabase(t)
	if code, out, errOut, err := kongsim.Migrate(ctx, dsnX, "3.8.0", "bootstrap"); err != nil || code != 0 {
		t.Fatalf("bootstrap: %d %v %s %s", code, err, out, errOut)
	}
	f := fleet.New(nil)
	t.Cleanup(func() { _ = f.Close() })
	for name, cfg := range map[string]kongsim.Config{"x": {Version: "3.8.0", DSN: dsnX}, "y": {Version: "3.9.1", DSN: dsnY}} {
		cfg.DBUpdateFrequency = 100 * time.Millisecond
		if err := f.Add(name, cfg); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.Serve(); err != nil {
		t.Fatal(err)
	}
	if err := f.Start(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(up.Close)
	xAdmin, _, _ := f.URLs("x")
	if err := fleet.Seed(ctx, xAdmin, up.URL); err != nil {
		t.Fatal(err)
	}
	xc, _ := f.Config("x")
	yc, _ := f.Config("y")
	ng := testenv.Nginx(t, testenv.NginxConfig{Servers: []testenv.NginxServer{{Addr: xc.ProxyListen, Weight: 1}, {Addr: yc.ProxyListen, Down: true}}})

	lctx, stopLoad := context.WithCancel(ctx)
	t.Cleanup(stopLoad)
	loadDone := make(chan testenv.LoadResult, 1)
	go func() {
		loadDone <- testenv.Load{URL: ng.URL() + "/health", Rate: 50, Workers: 4, Duration: 3 * time.Minute}.Run(lctx, nil)
	}()

	// One backup.dir for every commit of the plan: a dir that changes
	// with each commit hides the run's backup from the next pass.
	backups := filepath.Join(t.TempDir(), "backups")
	planFile := func(extra string) string {
		return fmt.Sprintf(`upgrade "prod-3-9" {
  cluster  = "prod"
  strategy = "dual_cluster"
  mode     = "traditional"
  from {
    version    = "3.8.0"
    admin_url  = "http://%s"
    status_url = "http://%s"
    proxy_url  = "http://%s"
    database { dsn = %q }
    start = %s
    stop  = %s
  }
  to {
    version    = "3.9.1"
    admin_url  = "http://%s"
    status_url = "http://%s"
    proxy_url  = "http://%s"
    database { dsn = %q }
    kong  = ["env", "KONG_VERSION=3.9.1", %q]
    start = %s
    stop  = %s
  }
  backup {
    dir        = %q
    verify     = true
    verify_dsn = %q
  }
  traffic "nginx" {
    upstream_file = %q
    upstream      = "kong"
    test          = %s
    reload        = %s
    pid_file      = %q
  }
  check "key_auth_rejects_anonymous" {
    request { path = "/orders" }
    expect { status = 401 }
  }
  rollout {
    step {
      weight = 10
      pause  = "6s"
    }
    step {
      weight = 100
      pause  = "1s"
    }
  }
%s}
`, xc.AdminListen, xc.StatusListen, xc.ProxyListen, dsnX, list(f.Hook("x", "start")), list(f.Hook("x", "stop")),
			yc.AdminListen, yc.StatusListen, yc.ProxyListen, dsnY, kongBin(t), list(f.Hook("y", "start")), list(f.Hook("y", "stop")),
			backups, pg.AdminDSN(), ng.UpstreamFile(), list(ng.TestCommand()), list(ng.ReloadCommand()), ng.PidFile(), extra)
	}

	g := testenv.GitServer(t)
	work, _ := g.NewRepo(t, "plans", map[string]string{"README.md": "plans\n"})
	push := func(files map[string]string, msg string) string {
		c := g.CommitFiles(t, work, files, msg)
		g.Git(t, work, "push", "--quiet", "origin", "main")
		return c
	}
	return &gitopsWorld{ctx: ctx, pg: pg, f: f, ng: ng, g: g, work: work, planFile: planFile, push: push, stopLoad: stopLoad, loadDone: loadDone}
}

func (w *gitopsWorld) load() testenv.LoadResult {
	w.stopLoad()
	return <-w.loadDone
}

// startAgent runs an agent on the world's repository, with its own
// journal directory, until the test ends.
func (gw *gitopsWorld) startAgent(t *testing.T, ctx context.Context, holder string) (*agent.Agent, *engine.DirStore) {
	t.Helper()
	src, err := gitsource.Open(gitsource.Config{URL: gw.g.RepoURL("plans"), Path: "plans", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	store, err := engine.OpenDir(t.TempDir(), engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	a, err := agent.New(agent.Config{Source: src, Store: store, Interval: 200 * time.Millisecond, Holder: holder,
		Engine: func(c *engine.Config) {
			c.Drain, c.RetryBase, c.PollInterval, c.WaitTimeout = 300*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond, 30*time.Second
		}})
	if err != nil {
		t.Fatal(err)
	}
	actx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	t.Cleanup(func() { stop(); <-done })
	return a, store
}

// haNode is one agent of a pair on one PostgreSQL journal: its own store
// on the shared database, its own clone of the plans, its elector and its
// HTTP server (status, controls and, with a webhook secret, /webhook).
type haNode struct {
	id    string
	a     *agent.Agent
	el    *leader.Elector
	store engine.Store
	url   string
	// stop ends the agent, then its server and its store (a crash or a
	// restart); the test's cleanup calls it too.
	stop func()
}

// haOptions is what the pair's tests vary.
type haOptions struct {
	dsn, repoURL  string
	interval      time.Duration
	adminToken    string
	webhookSecret string               // "": no /webhook
	engine        func(*engine.Config) // nil: the engine's defaults
}

// startHANode runs an agent with RunWithLeader until stop or the test's
// end.
func startHANode(t *testing.T, ctx context.Context, o haOptions, id string) *haNode {
	t.Helper()
	store, err := engine.OpenPostgres(ctx, o.dsn)
	if err != nil {
		t.Fatal(err)
	}
	src, err := gitsource.Open(gitsource.Config{URL: o.repoURL, Path: "plans", Dir: t.TempDir()})
	if err != nil {
		_ = store.Close()
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Source: src, Store: store, Interval: o.interval, Holder: "agent " + id,
		AdminToken: o.adminToken, Engine: o.engine})
	if err != nil {
		_ = store.Close()
		t.Fatal(err)
	}
	mux := a.Handler()
	if o.webhookSecret != "" {
		wh, err := webhook.Handler(webhook.Config{GitHubSecret: o.webhookSecret, Branch: "main",
			Trigger: func(ev webhook.Event) error { return a.RequestPoll(ctx, ev.Provider, ev.After, ev.Delivery) }})
		if err != nil {
			_ = store.Close()
			t.Fatal(err)
		}
		mux.Handle("POST /webhook", wh)
	}
	el, err := leader.New(leader.Config{DSN: o.dsn, ID: id, Check: 200 * time.Millisecond})
	if err != nil {
		_ = store.Close()
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	actx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.RunWithLeader(actx, el) }()
	var once sync.Once
	n := &haNode{id: id, a: a, el: el, store: store, url: srv.URL, stop: func() {
		once.Do(func() {
			cancel()
			<-done
			srv.Close()
			_ = store.Close()
		})
	}}
	t.Cleanup(n.stop)
	return n
}

// electLeader waits until one of a and b leads.
func electLeader(t *testing.T, a, b *haNode) (lead, follower *haNode) {
	t.Helper()
	waitFor(t, "a leader", 30*time.Second, func() bool {
		switch {
		case a.el.IsLeader():
			lead, follower = a, b
		case b.el.IsLeader():
			lead, follower = b, a
		}
		return lead != nil
	})
	t.Logf("leader %s, follower %s", lead.id, follower.id)
	return lead, follower
}

// fastEngine is the world's engine timings for the pair: short drains,
// retries and polls, a 3 s lease so that a cut leader's lease lapses soon.
func fastEngine(c *engine.Config) {
	c.Drain, c.RetryBase, c.PollInterval, c.WaitTimeout, c.LeaseTTL = 300*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond, 30*time.Second, 3*time.Second
}

func TestGitOpsEndToEnd(t *testing.T) {
	// 6 minutes: at a load average of 36 on 2 cores the four phases took
	// over 3 (each wait keeps its own 90 s bound).
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	gw := newGitOpsWorld(t, ctx)
	f, ng, g, work, planFile, push := gw.f, gw.ng, gw.g, gw.work, gw.planFile, gw.push
	a, store := gw.startAgent(t, ctx, "agent-e2e")

	plan := func() agent.PlanStatus {
		for _, p := range a.Status(ctx).Plans {
			if p.Name == "prod-3-9" {
				return p
			}
		}
		return agent.PlanStatus{}
	}
	waitFor := func(what string, cond func(agent.PlanStatus) bool) agent.PlanStatus {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			p := plan()
			if cond(p) {
				return p
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: plan %+v", what, p.Condition)
			}
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: %v", what, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}

	// 1. Merge the plan: the agent upgrades until the first rollout pause.
	c1 := push(map[string]string{"plans/prod.upshift.hcl": planFile("")}, "upgrade prod to 3.9.1")
	waitFor("the rollout pause at 10%", func(p agent.PlanStatus) bool { return p.Running && p.Step == "pause_10" })
	if !f.Running("y") {
		t.Fatal("Y is not running during the rollout")
	}
	// 2. Revert the commit while it pauses: the agent rolls back.
	g.Git(t, work, "revert", "--no-edit", c1)
	g.Git(t, work, "push", "--quiet", "origin", "main")
	p := waitFor("the rollback", func(p agent.PlanStatus) bool { return !p.Running && p.Condition.Reason == engine.ReasonRolledBack })
	if f.Running("y") || !f.Running("x") {
		t.Fatalf("after the revert: x running %v, y running %v", f.Running("x"), f.Running("y"))
	}
	if w := weights(t, ng.UpstreamFile()); !strings.Contains(w, "Split: from 100% / to 0%") {
		t.Fatalf("upstream after the revert:\n%s", w)
	}
	t.Logf("after the revert: %s", p.Condition.Message)

	// 3. Commit the plan again: a new run converges to the decommission gate.
	push(map[string]string{"plans/prod.upshift.hcl": planFile("")}, "upgrade prod to 3.9.1, again")
	p = waitFor("the decommission gate", func(p agent.PlanStatus) bool {
		return !p.Running && p.Condition.Reason == engine.ReasonAwaitingApproval
	})
	// The status names the item and how to give it, and marks the step.
	if !strings.Contains(p.Condition.Message, `add "decommission" to approve = [...] in a new commit`) {
		t.Errorf("at the gate the condition does not say how to approve: %s", p.Condition.Message)
	}
	state := "no such step"
	for _, s := range p.Steps {
		if s.Name == "decommission" && s.NoReturn {
			state = s.State
		}
	}
	if state != "approval" {
		t.Errorf("at the gate the point of no return decommission is %q, want approval", state)
	}
	if !f.Running("y") || !f.Running("x") {
		t.Fatal("at the gate both clusters should run")
	}
	// 4. Approve the decommission in a later commit.
	push(map[string]string{"plans/prod.upshift.hcl": planFile("  approve = [\"decommission\"]\n")}, "approve the decommission")
	waitFor("the decommission", func(p agent.PlanStatus) bool { return !p.Running && p.Condition.Reason == engine.ReasonConverged })
	if f.Running("x") {
		t.Fatal("X still runs after the decommission")
	}
	res := gw.load()
	t.Logf("load through nginx: %d requests, %d failed", res.Requests, res.Failed)
	if res.Failed != 0 {
		t.Errorf("%d requests failed: %v", res.Failed, res.Errors)
	}
	// Every journal record of the plan's actions names a commit.
	recs, _ := store.Records(ctx, "prod-3-9", 0)
	for _, r := range recs {
		if r.Kind == engine.KindIntent && (r.Commit == "" || r.Author == "") {
			t.Errorf("intent without commit/author: %+v", r)
			break
		}
	}
}

func list(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func weights(t *testing.T, file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// kongBin builds kongsim's kong CLI (the plan's to.kong) into a temp dir.
func kongBin(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "kong")
	if out, err := exec.Command("go", "build", "-o", p, "github.com/upshift-dev/upshift/internal/kongsim/cmd/kongsim-kong").CombinedOutput(); err != nil {
		t.Fatalf("build kongsim's kong: %v\n%s", err, out)
	}
	return p
}

// TestGitOpsConsentAfterTheGate: approve = ["decommission"] merged with
// the plan is no consent: the agent stops at the gate, and a later commit
// that keeps the item does not count either. The item counts once it is
// removed (the agent records the gate without it) and added back in a
// later commit.
func TestGitOpsConsentAfterTheGate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	gw := newGitOpsWorld(t, ctx)
	f, planFile, push := gw.f, gw.planFile, gw.push
	_, store := gw.startAgent(t, ctx, "agent-consent")

	// gate waits until the journal records the run stopped at the
	// decommission gate at commit c, and returns whether approve listed
	// the item then.
	gate := func(c string) string {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			recs, err := store.Records(ctx, "prod-3-9", 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.Event == engine.EventAwaitingApproval && r.Commit == c && r.Details["approve"] == "decommission" {
					return r.Details["listed"]
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no awaiting_approval record at commit %s", c)
			}
			select {
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	approve := "  approve = [\"decommission\"]\n"
	// Merged with the item: the run stops at the gate all the same.
	c1 := push(map[string]string{"plans/prod.upshift.hcl": planFile(approve)}, "upgrade prod to 3.9.1, decommission approved up front")
	if listed := gate(c1); listed != "1" || !f.Running("x") {
		t.Fatalf("at the gate: listed %q, X running %v", listed, f.Running("x"))
	}
	// A later commit that keeps the item (and changes the plan): no consent.
	c2 := push(map[string]string{"plans/prod.upshift.hcl": "# reviewed\n" + strings.Replace(planFile(approve), `pause  = "1s"`, `pause  = "2s"`, 1)}, "keep the approval")
	if listed := gate(c2); listed != "1" || !f.Running("x") {
		t.Fatalf("after a commit keeping the item: listed %q, X running %v", listed, f.Running("x"))
	}
	// Removed, then added back in a later commit: consent.
	c3 := push(map[string]string{"plans/prod.upshift.hcl": planFile("")}, "remove the approval written before the gate")
	if listed := gate(c3); listed != "" || !f.Running("x") {
		t.Fatalf("after removing the item: listed %q, X running %v", listed, f.Running("x"))
	}
	push(map[string]string{"plans/prod.upshift.hcl": planFile(approve)}, "approve the decommission")
	deadline := time.Now().Add(90 * time.Second)
	for f.Running("x") {
		if time.Now().After(deadline) {
			t.Fatal("X still runs after the decommission was approved after the gate")
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if res := gw.load(); res.Failed != 0 {
		t.Errorf("%d of %d requests failed: %v", res.Failed, res.Requests, res.Errors)
	}
}
