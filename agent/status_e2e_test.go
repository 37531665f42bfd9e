package agent_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/agent"
	"github.com/upshift-dev/upshift/agent/gitsource"
	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestGitOpsStatusHistory follows the status through a rollout and a
// rollback on the gitops world (kongsim X and Y behind nginx, a real git
// server): at the rollout's 10% pause the status shows the plan's versions
// and the split nginx routes; while the rollback stops Y (held by a gate
// file in Y's stop hook) it shows a rollback in progress and the split
// back on X; afterwards the whole run's history from run_started; and an
// agent started again on the same journal says the removed plan was
// rolled back.
func TestGitOpsStatusHistory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	gw := newGitOpsWorld(t, ctx)
	store, err := engine.OpenDir(t.TempDir(), engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	// X measures its own error rate and latency (kong_metrics), so that
	// the pause journals measurements for the chart.
	xAdmin, _, _ := gw.f.URLs("x")
	resp, err := http.PostForm(xAdmin+"/plugins", url.Values{"name": {"prometheus"}, "config.status_code_metrics": {"true"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("enable prometheus on X: %s", resp.Status)
	}
	a, stopAgent := startAgentOn(t, ctx, gw, "agent-status", store)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()

	// Y's stop hook waits for a file: the test looks at the status while
	// the rollback is inside rollback_stop_to (bounded: 2 minutes).
	gate := filepath.Join(t.TempDir(), "release")
	yStop := list(gw.f.Hook("y", "stop"))
	held := list([]string{"sh", "-c", `i=0; while [ ! -e "$0" ] && [ $i -lt 2400 ]; do i=$((i+1)); sleep 0.05; done; exec "$@"`, gate}) // argv of the hook follows
	held = strings.TrimSuffix(held, "]") + ", " + strings.TrimPrefix(yStop, "[")
	planText := func() string {
		src := gw.planFile(`  analysis "y_not_worse_than_x" {
    compare           = "kong_metrics"
    error_rate_margin = 0.05
    min_requests      = 1
    interval          = "1s"
    max_window        = "20m"
  }
`)
		src = strings.Replace(src, `pause  = "6s"`, `pause  = "10m"`, 1)
		// Y's stop is the second stop list (X's comes first).
		i := strings.LastIndex(src, "stop  = "+yStop)
		if i < 0 {
			t.Fatalf("no Y stop hook in the plan:\n%s", src)
		}
		return src[:i] + "stop  = " + held + src[i+len("stop  = "+yStop):]
	}

	status := func(a *agent.Agent) agent.PlanStatus {
		for _, p := range a.Status(ctx).Plans {
			if p.Name == "prod-3-9" {
				return p
			}
		}
		return agent.PlanStatus{}
	}
	poll := func(a *agent.Agent, what string, cond func(agent.PlanStatus) bool) agent.PlanStatus {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			p := status(a)
			if cond(p) {
				return p
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s: plan %+v step %q traffic %+v", what, p.Condition, p.Step, p.Traffic)
			}
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: %v", what, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	split := func(p agent.PlanStatus) string {
		if p.Traffic == nil {
			return "-"
		}
		return strconv.Itoa(p.Traffic.From) + "/" + strconv.Itoa(p.Traffic.To)
	}

	// 1. The rollout pauses at 10%: versions and the split nginx routes.
	c1 := gw.push(map[string]string{"plans/prod.upshift.hcl": planText()}, "upgrade prod to 3.9.1")
	// observedAfter: the status's observation was made after step's
	// outcome (its time in the journal): it must show what the step did.
	observedAfter := func(p agent.PlanStatus, step string) bool {
		for _, s := range p.Steps {
			if s.Name == step && !s.At.IsZero() {
				return p.ObservedAt.After(s.At)
			}
		}
		return false
	}
	stateOf := func(p agent.PlanStatus, step string) string {
		for _, s := range p.Steps {
			if s.Name == step {
				return s.State
			}
		}
		return ""
	}
	// The pipeline's view is observed at each step's end; the split and
	// the versions every second.
	p := poll(a, "the pause at 10%, observed after traffic_10", func(p agent.PlanStatus) bool {
		return p.Running && p.Step == "pause_10" && observedAfter(p, "traffic_10") && stateOf(p, "traffic_10") == "done"
	})
	if p.From != "3.8.0" || p.To != "3.9.1" || split(p) != "90/10" {
		t.Errorf("at pause_10: versions %q → %q, split %s; want 3.8.0 → 3.9.1, 90/10", p.From, p.To, split(p))
	}
	if w := weights(t, gw.ng.UpstreamFile()); !strings.Contains(w, "Split: from 90% / to 10%") {
		t.Fatalf("nginx's upstream at pause_10:\n%s", w)
	}
	if p.X == nil || p.X.Version != "3.8.0" || p.X.Health != "ready" || p.Y == nil || p.Y.Version != "3.9.1" || p.Y.Health != "ready" {
		t.Errorf("at pause_10: X %+v, Y %+v; want both ready at their versions", p.X, p.Y)
	}
	states := map[string]string{}
	for _, s := range p.Steps {
		states[s.Name] = s.State
	}
	if states["pause_10"] != "running" || states["traffic_10"] != "done" || states["traffic_100"] != "pending" {
		t.Errorf("at pause_10, the pipeline: %v", states)
	}
	p = poll(a, "a measurement of the pause", func(p agent.PlanStatus) bool { return len(p.Measurements) > 0 })
	if m := p.Measurements[0]; m.Step != "pause_10" || m.Analysis != "y_not_worse_than_x" || m.Details["x_error_rate"] == "" && m.Details["y_error_rate"] == "" {
		t.Errorf("a measurement: %+v", m)
	}
	if h := p.TrafficHistory; !slices.ContainsFunc(h, func(s agent.SplitPoint) bool { return s.Source == "journal" && s.Step == "traffic_10" && s.To == 10 }) ||
		h[len(h)-1].To != 10 {
		t.Errorf("traffic history at pause_10: %+v", h)
	}
	start := time.Now()
	body := a.Status(ctx)
	took := time.Since(start)
	js, _ := json.Marshal(body)
	t.Logf("status at pause_10: %s, %d bytes of JSON (%d journal records, %d measurements)", took.Round(time.Microsecond), len(js), len(p.Journal), len(p.Measurements))
	dom := renderPage(t, ctx, srv.URL)
	pageHas(t, "at pause_10", dom, `data-condition="Progressing/StepsPending"`, `data-split="90/10"`, `data-step="pause_10" data-state="running"`,
		`data-step="traffic_10" data-state="done"`, `data-series="Y share"`, `data-series="Y"`, ">run_started<", ">traffic_10<", "3.9.1", `data-health="ready"`)

	// 2. Revert: the rollback moves traffic back to X, then waits in Y's stop.
	gw.g.Git(t, gw.work, "revert", "--no-edit", c1)
	gw.g.Git(t, gw.work, "push", "--quiet", "origin", "main")
	p = poll(a, "the rollback inside rollback_stop_to", func(p agent.PlanStatus) bool {
		return p.Running && p.Step == "rollback_stop_to" && observedAfter(p, "rollback_traffic")
	})
	if split(p) != "100/0" {
		t.Errorf("during the rollback: split %s, want 100/0", split(p))
	}
	if p.Condition.Type != engine.ConditionProgressing || p.Condition.Reason != engine.ReasonRollingBack || p.Direction != "rollback" {
		t.Errorf("during the rollback: condition %+v, direction %q", p.Condition, p.Direction)
	}
	dom = renderPage(t, ctx, srv.URL)
	pageHas(t, "during the rollback", dom, `data-condition="Progressing/RollingBack"`, `data-split="100/0"`, `data-step="rollback_stop_to" data-state="running"`,
		`data-step="rollback_traffic" data-state="done"`, ">rollback_traffic<", ">run_started<", ">traffic_10<")
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p = poll(a, "the rollback to finish", func(p agent.PlanStatus) bool {
		return !p.Running && p.Condition.Reason == engine.ReasonRolledBack
	})
	var steps []string
	for _, j := range p.Journal {
		steps = append(steps, j.Kind+":"+j.What)
	}
	for _, want := range []string{"event:run_started", "outcome:traffic_10", "outcome:pause_10", "outcome:rollback_traffic", "outcome:rollback_stop_to", "event:rolled_back"} {
		if !slices.Contains(steps, want) {
			t.Errorf("the status's journal lacks %s: %v", want, steps)
		}
	}

	// 3. Another agent on the same journal: the removed plan was rolled back.
	stopAgent()
	b, _ := startAgentOn(t, ctx, gw, "agent-status-2", store)
	// Before its first poll an agent shows the journal's plans from the
	// journal alone: wait for the poll that reconciles the repository.
	poll(b, "the restarted agent's first poll", func(agent.PlanStatus) bool { return b.Status(ctx).Head != "" })
	p = status(b)
	if p.Condition.Reason != engine.ReasonRolledBack {
		t.Errorf("after a restart: %+v, want RolledBack from the journal", p.Condition)
	}
	if res := gw.load(); res.Failed != 0 {
		t.Errorf("%d of %d requests failed: %v", res.Failed, res.Requests, res.Errors)
	}
}

// startAgentOn runs an agent on the world's repository with the journal
// store given, until stop (or the test's end).
func startAgentOn(t *testing.T, ctx context.Context, gw *gitopsWorld, holder string, store engine.Store) (*agent.Agent, func()) {
	t.Helper()
	src, err := gitsource.Open(gitsource.Config{URL: gw.g.RepoURL("plans"), Path: "plans", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{Source: src, Store: store, Interval: 200 * time.Millisecond, Holder: holder,
		Engine: func(c *engine.Config) {
			c.Drain, c.RetryBase, c.PollInterval, c.WaitTimeout = 300*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond, 30*time.Second
		}})
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return a, stop
}

// renderPage loads the status page in headless Chromium and returns the
// DOM its script built (the page polls the API; virtual time lets it).
func renderPage(t *testing.T, ctx context.Context, base string) string {
	t.Helper()
	bin := testenv.NeedBinary(t, "chromium", "chromium")
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=3000", "--dump-dom", base+"/").Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	i, j := strings.Index(string(out), "<body"), strings.Index(string(out), "<script")
	if i < 0 || j < i {
		t.Fatalf("no rendered plans in the page:\n%s", out)
	}
	return string(out[i:j]) // what the script rendered, not its own text
}

func pageHas(t *testing.T, when, dom string, wants ...string) {
	t.Helper()
	bad := false
	for _, w := range wants {
		if !strings.Contains(dom, w) {
			t.Errorf("%s: the page lacks %s", when, w)
			bad = true
		}
	}
	if bad {
		t.Logf("DOM %s:\n%s", when, dom)
	}
}
