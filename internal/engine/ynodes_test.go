package engine

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/kongsim/fleet"
)

// Every Y node is judged (issue 11): staging checks on each Y proxy,
// readiness of each Y node before each traffic step, Y's health probed
// during every pause, and a Y node that restarted checked again before it
// gets more traffic. What the tests believe is what nginx routes, not the
// engine's own record.

// servedBy sends 40 requests through nginx at url, each on a new
// connection, and counts the Kong versions that answered.
func servedBy(t *testing.T, url string) map[string]int {
	t.Helper()
	by := map[string]int{}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for range 40 {
		resp, err := client.Get(url + "/health")
		if err != nil {
			by["error"]++
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		by[viaVersion(resp)]++
	}
	return by
}

// gateEvents lists the journal's gate events as "gate: message".
func gateEvents(t *testing.T, s Store, plan string) []string {
	t.Helper()
	recs, err := s.Records(context.Background(), plan, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if r.Kind == KindEvent && r.Event == EventGate {
			out = append(out, r.Details["gate"]+": "+r.Details["message"])
		}
	}
	return out
}

// stepOutput is the output of the step's last ok or failed outcome.
func stepOutput(t *testing.T, s Store, plan, step string) (string, Result) {
	t.Helper()
	recs, err := s.Records(context.Background(), plan, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out string
	var res Result
	for _, r := range recs {
		if r.Kind == KindOutcome && r.Step == step {
			out, res = r.Output, r.Result
		}
	}
	return out, res
}

// onPauseTick calls f (once) at the pause step's nth tick (1-based): the
// pause's wait line comes before its probes, so f acts mid-pause.
func onPauseTick(step string, n int64, f func()) func(*Config) {
	return func(c *Config) {
		orig := c.Progress
		var ticks atomic.Int64
		c.Progress = func(pr Progress) {
			orig(pr)
			if pr.Step == step && pr.Phase == PhaseWait && pr.Remaining > 0 && ticks.Add(1) == n {
				f()
			}
		}
	}
}

// TestRollingSecondYNodeFailsItsChecks: y2's proxy answers the staging
// check's routed request with 500 (y1's passes): the rollout stops at y2's start,
// before any traffic moves. Under load through nginx, no request is ever
// answered by Y, and nginx still routes everything to X afterwards.
func TestRollingSecondYNodeFailsItsChecks(t *testing.T) {
	t.Parallel()
	w := newRollingWorld(t)
	stopLoad := w.load()
	defer stopLoad()
	e := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store, func(c *Config) {
		orig := c.Drivers.Hooks
		c.Drivers.Hooks = hookFunc(func(ctx context.Context, argv []string) (string, error) {
			out, err := orig.Run(ctx, argv)
			if err == nil && strings.Join(argv, " ") == "sim start y2" {
				w.sim.node("y2").Faults().FailRouted(500, 1000)
			}
			return out, err
		})
	})
	out, err := e.Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonGateFailed {
		t.Fatalf("apply: %+v %v (ran %v)", out.Condition, err, out.Ran)
	}
	gates := strings.Join(gateEvents(t, w.store, "edge-rolling"), "\n")
	// key-auth answers 401 itself: only the request that reaches the
	// route fails on y2.
	if !strings.HasPrefix(gates, "start_to:y2: check failed: key_auth_accepts_a_key on Y node y2") || strings.Contains(gates, "node y1") {
		t.Errorf("gate events: %s", gates)
	}
	res := stopLoad()
	if res.By["3.9.1"] != 0 || res.By["3.8.0"] == 0 {
		t.Errorf("nginx routed requests to Y: %v (%d requests, %d failed)", res.By, res.Requests, res.Failed)
	}
	if by := servedBy(t, w.ng.URL()); by["3.8.0"] != 40 {
		t.Errorf("after the rollback nginx routes %v, want all 40 to X", by)
	}
}

// TestRollingRestartedYNodeCheckedAgain: y1 restarts between pause_50 and
// traffic_100 (node_id kept, as Kong keeps it in its prefix; pids.master
// changes) and its proxy now fails the staging checks: traffic_100 checks
// it again, names the restart, and the rollout rolls back instead of
// sending it more traffic. Also: the checks step reports every check on
// every Y node.
func TestRollingRestartedYNodeCheckedAgain(t *testing.T) {
	t.Parallel()
	w := newRollingWorld(t)
	restart := restartY1AfterPause50(t, w, true)
	out, err := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store, restart).Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonGateFailed {
		t.Fatalf("apply: %+v %v (ran %v)", out.Condition, err, out.Ran)
	}
	checks, _ := stepOutput(t, w.store, "edge-rolling", "checks")
	for _, want := range []string{"key_auth_rejects_anonymous on Y node y1", "key_auth_accepts_a_key on Y node y1",
		"key_auth_rejects_anonymous on Y node y2", "key_auth_accepts_a_key on Y node y2"} {
		if !strings.Contains(checks, want+" (") {
			t.Errorf("checks step output lacks %q:\n%s", want, checks)
		}
	}
	tr, res := stepOutput(t, w.store, "edge-rolling", "traffic_100")
	if res != ResultFailed || !strings.Contains(tr, "Y node y1 restarted (node_id/pids.master ") || !strings.Contains(tr, "key_auth_rejects_anonymous on Y node y1 (") {
		t.Errorf("traffic_100: %s\n%s", res, tr)
	}
	if gates := gateEvents(t, w.store, "edge-rolling"); len(gates) != 1 || !strings.HasPrefix(gates[0], "traffic_100: Y node y1 restarted") {
		t.Errorf("gate events: %q", gates)
	}
	if by := servedBy(t, w.ng.URL()); by["3.8.0"] != 40 {
		t.Errorf("after the rollback nginx routes %v, want all 40 to X", by)
	}
}

// restartY1AfterPause50 restarts y1 when pause_50 is done, with its
// configuration (as a DB-less node started with declarative_config) and
// the same node_id; when fail, its proxy then answers routed requests 500.
func restartY1AfterPause50(t *testing.T, w *rollingWorld, fail bool) func(*Config) {
	w.sim.mu.Lock()
	c := w.sim.cfgs["y1"]
	c.DeclarativeConfig, c.NodeID = fleet.SampleDeclarative(upstream(t)), "7f6c1d52-3a8e-4b59-9a51-0c2d1e4f5a61"
	w.sim.cfgs["y1"] = c
	w.sim.mu.Unlock()
	return func(c *Config) {
		orig := c.Progress
		c.Progress = func(pr Progress) {
			orig(pr)
			if pr.Step != "pause_50" || pr.Phase != PhaseDone {
				return
			}
			if err := w.sim.stop("y1"); err != nil {
				t.Error(err)
			}
			if err := w.sim.start(context.Background(), "y1"); err != nil {
				t.Error(err)
			}
			waitStatus(t, "http://"+w.sim.cfg("y1").StatusListen+"/status/ready", 200)
			if fail {
				w.sim.node("y1").Faults().FailRouted(500, 1000)
			}
		}
	}
}

// TestRollingRestartedYNodePassesAgain: y1 restarts healthy between
// pause_50 and traffic_100: traffic_100 names the restart, its checks
// pass again, and the rollout goes on: nginx routes everything to Y.
func TestRollingRestartedYNodePassesAgain(t *testing.T) {
	t.Parallel()
	w := newRollingWorld(t)
	out, err := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store, restartY1AfterPause50(t, w, false)).Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval {
		t.Fatalf("apply: %+v %v (ran %v)", out.Condition, err, out.Ran)
	}
	tr, res := stepOutput(t, w.store, "edge-rolling", "traffic_100")
	if res != ResultOK || !strings.Contains(tr, "Y node y1 restarted (node_id/pids.master ") || !strings.Contains(tr, "key_auth_accepts_a_key on Y node y1 (") || strings.Contains(tr, "failed") {
		t.Errorf("traffic_100: %s\n%s", res, tr)
	}
	if by := servedBy(t, w.ng.URL()); by["3.9.1"] != 40 {
		t.Errorf("nginx routes %v, want all 40 to Y", by)
	}
}

// TestYRestartedMidPauseCheckedAgain: Y restarts between two probes of
// the 10% pause and answers again, ready: the pause reports the restart
// once and passes; traffic_50 names it and runs Y's checks again before
// moving traffic; the rollout goes on to 100% on Y.
func TestYRestartedMidPauseCheckedAgain(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	src := strings.Replace(w.planSrc(""), `pause  = "300ms"`, `pause  = "3s"`, 1)
	var infos []string
	restart := func(c *Config) {
		orig := c.Progress
		var ticks atomic.Int64
		c.Progress = func(pr Progress) {
			orig(pr)
			if pr.Step != "pause_10" {
				return
			}
			if pr.Phase == PhaseInfo {
				infos = append(infos, pr.Message)
			}
			if pr.Phase == PhaseWait && pr.Remaining > 0 && ticks.Add(1) == 2 {
				if err := w.sim.stop("y"); err != nil {
					t.Error(err)
				}
				if err := w.sim.start(context.Background(), "y"); err != nil {
					t.Error(err)
				}
				waitStatus(t, "http://"+w.sim.cfg("y").StatusListen+"/status/ready", 200)
			}
		}
	}
	out, err := engineFor(t, lintedPlan(t, src), w.sim, w.store, restart).Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval {
		t.Fatalf("apply: %+v %v (ran %v)", out.Condition, err, out.Ran)
	}
	if len(infos) != 1 || !strings.HasPrefix(infos[0], "Y restarted (node_id/pids.master ") {
		t.Errorf("pause_10's reports: %q", infos)
	}
	tr, res := stepOutput(t, w.store, "dual-e2e", "traffic_50")
	if res != ResultOK || !strings.Contains(tr, "Y restarted (node_id/pids.master ") || !strings.Contains(tr, "key_auth_accepts_a_key on Y (") {
		t.Errorf("traffic_50: %s\n%s", res, tr)
	}
	if by := servedBy(t, w.ng.URL()); by["3.9.1"] != 40 {
		t.Errorf("nginx routes %v, want all 40 to Y", by)
	}
}

// TestYKilledMidPauseRollsBack: a dual-cluster plan with no analysis
// block; Y is killed in the middle of the 10% pause: the pause fails on
// Y's health (a gate event names it), the rollout rolls back, and nginx
// routes everything to X again.
func TestYKilledMidPauseRollsBack(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	stopLoad := w.load()
	defer stopLoad()
	src := strings.Replace(w.planSrc(""), `pause  = "300ms"`, `pause  = "20s"`, 1)
	kill := onPauseTick("pause_10", 2, func() {
		if err := w.sim.stop("y"); err != nil {
			t.Error(err)
		}
	})
	out, err := engineFor(t, lintedPlan(t, src), w.sim, w.store, kill).Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonGateFailed || !contains(out.Ran, "rollback_traffic") {
		t.Fatalf("apply: %+v %v (ran %v)", out.Condition, err, out.Ran)
	}
	gates := gateEvents(t, w.store, "dual-e2e")
	if len(gates) != 1 || !strings.HasPrefix(gates[0], "pause_10: Y's health during the pause: Y not reachable") {
		t.Errorf("gate events: %q", gates)
	}
	if contains(intents(t, w.store, "dual-e2e"), "traffic_50") {
		t.Error("traffic_50 ran after Y died")
	}
	if by := servedBy(t, w.ng.URL()); by["3.8.0"] != 40 {
		t.Errorf("after the rollback nginx routes %v, want all 40 to X", by)
	}
	res := stopLoad()
	t.Logf("load: %d requests, %d failed, by version %v", res.Requests, res.Failed, res.By)
}

// TestYDownAfterPauseRollsBack: Y dies just after the 10% pause passed
// (nothing watches it then): the next decision would start it again;
// instead the start step finds it down while it carries traffic, a failed
// gate, and traffic goes back to X.
func TestYDownAfterPauseRollsBack(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	kill := func(c *Config) {
		orig := c.Progress
		c.Progress = func(pr Progress) {
			orig(pr)
			if pr.Step == "pause_10" && pr.Phase == PhaseDone {
				if err := w.sim.stop("y"); err != nil {
					t.Error(err)
				}
			}
		}
	}
	out, err := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store, kill).Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonGateFailed || !contains(out.Ran, "rollback_traffic") {
		t.Fatalf("apply: %+v %v (ran %v)", out.Condition, err, out.Ran)
	}
	gates := gateEvents(t, w.store, "dual-e2e")
	if len(gates) != 1 || !strings.HasPrefix(gates[0], "start_to: Y went down (not reachable") || !strings.HasSuffix(gates[0], "while it gets 10% of traffic") {
		t.Errorf("gate events: %q", gates)
	}
	if hooks := strings.Join(w.sim.hookCalls(), ","); strings.Count(hooks, "sim start y") != 1 {
		t.Errorf("Y's start hook ran again under traffic: %s", hooks)
	}
	if by := servedBy(t, w.ng.URL()); by["3.8.0"] != 40 {
		t.Errorf("after the rollback nginx routes %v, want all 40 to X", by)
	}
}

// TestXDownMidPauseStalls: X goes down in the middle of the 10% pause (and
// this run did not stop it): the plan stalls with SideDown, and traffic
// is not sent back onto the dead X (nginx's split stays 90/10).
func TestXDownMidPauseStalls(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	src := strings.Replace(w.planSrc(""), `pause  = "300ms"`, `pause  = "20s"`, 1)
	down := onPauseTick("pause_10", 2, func() {
		if err := w.sim.stop("x"); err != nil {
			t.Error(err)
		}
	})
	e := engineFor(t, lintedPlan(t, src), w.sim, w.store, down)
	out, err := e.Apply(context.Background())
	// The pause saw it (before, X down was only found at the next step).
	if err != nil || out.Condition.Type != ConditionStalled || out.Condition.Reason != ReasonSideDown || !strings.HasPrefix(out.Condition.Message, "pause_10: during the pause: X does not answer") {
		t.Fatalf("apply: %+v %v (ran %v)", out.Condition, err, out.Ran)
	}
	if contains(out.Ran, "rollback_traffic") || len(gateEvents(t, w.store, "dual-e2e")) != 0 {
		t.Errorf("X's fault was taken for a failed gate: ran %v", out.Ran)
	}
	wt, err := e.drv.Router.Weights(context.Background())
	if err != nil || wt != (Weights{From: 90, To: 10}) {
		t.Errorf("nginx's split: %s %v, want 90/10", wt, err)
	}
	// A second apply stalls the same way: the pause is not run again.
	out, err = engineFor(t, lintedPlan(t, src), w.sim, w.store).Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonSideDown || len(out.Ran) != 0 {
		t.Errorf("second apply: %+v %v (ran %v)", out.Condition, err, out.Ran)
	}
}

// rollingStepsEngine is an engine on a rolling plan with two Y nodes whose
// addresses nothing listens on (its steps' checks read only the state).
func rollingStepsEngine(t *testing.T) *Engine {
	t.Helper()
	dir := t.TempDir()
	node := func(name string, port int) string {
		return fmt.Sprintf("    node %q {\n      admin_url = \"http://127.0.0.1:%d\"\n      proxy_url = \"http://127.0.0.1:%d\"\n    }\n", name, port, port+1)
	}
	src := fmt.Sprintf(`upgrade "steps" {
  cluster  = "edge"
  strategy = "rolling"
  mode     = "dbless"
  acknowledge = ["UP020", "UP021"]
  from {
    version = "3.8.0"
%s  }
  to {
    version = "3.9.1"
%s%s  }
  backup { dir = %q }
  traffic "nginx" {
    upstream_file = %q
    upstream      = "kong"
    reload        = ["true"]
  }
  rollout {
    step {
      weight = 100
      pause  = "1s"
    }
  }
}
`, node("x1", 1001), node("y1", 1011), node("y2", 1021), dir, dir+"/upstream.conf")
	p := lintedPlan(t, src)
	drv, err := buildDrivers(p, os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Plan: p, Drivers: drv})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestTrafficStepNeedsEveryYNodeReady: before a traffic step moves
// traffic onto Y, every Y node must be observed ready, not only the first.
func TestTrafficStepNeedsEveryYNodeReady(t *testing.T) {
	t.Parallel()
	e := rollingStepsEngine(t)
	var st *step
	for _, s := range e.table() {
		if s.name == "traffic_100" {
			st = &s
		}
	}
	if st == nil || st.check == nil {
		t.Fatal("no traffic_100 step with a check")
	}
	ready := NodeFacts{Reachable: true, Version: "3.9.1", Ready: true}
	y1, y2 := ready, ready
	y1.Name, y2.Name = "y1", "y2"
	y2.Ready, y2.ReadyReason = false, "no configuration loaded"
	s := &state{p: e.plan, h: readHistory(nil, ""), obs: Observed{ToNodes: []NodeFacts{y1, y2}, Traffic: &TrafficFacts{From: 100}}}
	if got := st.check(s); !strings.Contains(got, "Y node y2: not ready: no configuration loaded") || strings.Contains(got, "y1") {
		t.Errorf("check with y2 not ready: %q", got)
	}
	s.obs.ToNodes[1] = ready
	s.obs.ToNodes[1].Name = "y2"
	if got := st.check(s); got != "" {
		t.Errorf("check with both ready: %q", got)
	}
}

// TestYRestartsFromIdentities: a node is restarted when its node_id or
// its pids.master changed since the identity recorded with its passing
// checks; a node with no record or not answering is not called restarted.
func TestYRestartsFromIdentities(t *testing.T) {
	t.Parallel()
	at := func(name, id string, pid int) NodeFacts {
		return NodeFacts{Name: name, Reachable: true, NodeID: id, MasterPID: pid}
	}
	before := Observed{ToNodes: []NodeFacts{at("y1", "a", 10), at("y2", "b", 20), at("y3", "c", 30)}}
	h := &history{ok: map[string]Record{
		"start_to:y1": {Seq: 3, Details: map[string]string{identityKey: "y1=a/1"}},
		"checks":      {Seq: 5, Details: map[string]string{identityKey: identities(yNodes(before))}},
	}}
	now := Observed{ToNodes: []NodeFacts{at("y1", "a", 11), at("y2", "b2", 20), {Name: "y3"}, at("y4", "d", 40)}}
	got := strings.Join(yRestarts(checkedIdentities(h), now), "; ")
	want := "Y node y1 restarted (node_id/pids.master a/10 → a/11); Y node y2 restarted (node_id/pids.master b/20 → b2/20)"
	if got != want {
		t.Errorf("restarts:\n got %s\nwant %s", got, want)
	}
	if got := yRestarts(checkedIdentities(h), before); len(got) != 0 {
		t.Errorf("no restart: %q", got)
	}
}
