package engine

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/kongsim/fleet"
	"github.com/upshift-dev/upshift/internal/notify"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// Issue 11's "Done when", end to end under load through nginx: the
// README's analysis (compare = "kong_metrics", error_rate_margin = 0.005)
// judges a healthy Y as passing at every step including 100%, and a sick
// one as failing at the first step where Y serves traffic; every Y node is
// judged before traffic moves; a Y that dies mid-pause fails the pause;
// low traffic and an agent restart mid-pause keep the verdicts right.
// Pauses are a few seconds and the analysis measures every second.

// gatesAnalysis is the README's analysis block, measuring every second,
// and its rollback { on_gate_failure = true }.
const gatesAnalysis = `  analysis "y_not_worse_than_x" {
    compare           = "kong_metrics"
    error_rate_margin = 0.005
    interval          = "1s"
  }
  rollback { on_gate_failure = true }
`

// analysisWith is gatesAnalysis with more analysis attributes (each line
// indented and ended).
func analysisWith(attrs string) string {
	return strings.Replace(gatesAnalysis, "  }\n", attrs+"  }\n", 1)
}

// sickAnalysis judges only windows of at least 40 requests of each side
// (the window grows up to 20 s for them): one in 20 of a 5%-sick Y's
// requests fails, so each judged window holds two failures however slowly
// the load runs (with min_requests = 1 a 2 s window at 10% of 100
// requests/s may hold none).
var sickAnalysis = analysisWith("    min_requests      = 40\n    max_window        = \"20s\"\n")

// The README's rollback block alone (no analysis: only Y's health gates).
const onGateFailure = "  rollback { on_gate_failure = true }\n"

var rolloutBlock = regexp.MustCompile(`(?s)  rollout \{.*?\n  \}\n`)

// withRollout replaces src's rollout with one step per weight, each
// pausing pause.
func withRollout(t testing.TB, src, pause string, weights ...int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("  rollout {\n")
	for _, w := range weights {
		fmt.Fprintf(&b, "    step {\n      weight = %d\n      pause  = %q\n    }\n", w, pause)
	}
	b.WriteString("  }\n")
	if !rolloutBlock.MatchString(src) {
		t.Fatal("the plan has no rollout block to replace")
	}
	return rolloutBlock.ReplaceAllLiteralString(src, b.String())
}

// gateWorld is one strategy's world as these tests drive it.
type gateWorld struct {
	sim      *sim
	ng       *testenv.NginxProc
	store    *DirStore
	plan     string   // the plan's name
	xv, yv   string   // X's and Y's Kong versions
	ys       []string // Y's sim nodes
	weights  []int    // rollout weights
	pause    string   // each rollout step's pause
	src      func(extra string) string
	afterAll string // the reason a healthy run stops with
}

// planSrc renders the world's plan with extra and its rollout.
func (w *gateWorld) planSrc(t testing.TB, extra string) string {
	return withRollout(t, w.src(extra), w.pause, w.weights...)
}

func (w *gateWorld) firstTraffic() string { return "traffic_" + strconv.Itoa(w.weights[0]) }
func (w *gateWorld) firstPause() string   { return "pause_" + strconv.Itoa(w.weights[0]) }
func (w *gateWorld) secondTraffic() string {
	return "traffic_" + strconv.Itoa(w.weights[1])
}

// prometheusPlugin enables the prometheus plugin globally on the Admin
// API at admin with status_code_metrics (the README's analysis reads Kong's
// 5xx share from it).
func prometheusPlugin(t testing.TB, admin string) {
	t.Helper()
	c, err := gokong.NewClient(&admin, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Plugins.Create(context.Background(), &gokong.Plugin{Name: gokong.String("prometheus"),
		Config: gokong.Configuration{"status_code_metrics": true}}); err != nil {
		t.Fatalf("prometheus plugin: %v", err)
	}
}

// gateDual: dual-cluster 3.8.0 → 3.9.1 with the prometheus plugin on X's
// database (Y gets it with the restore); rollout 10, 50, 100.
func gateDual(t testing.TB) *gateWorld {
	d := newDualWorld(t)
	prometheusPlugin(t, d.sim.node("x").AdminURL())
	return &gateWorld{sim: d.sim, ng: d.ng, store: d.store, plan: "dual-e2e", xv: "3.8.0", yv: "3.9.1", ys: []string{"y"},
		weights: []int{10, 50, 100}, pause: "2s", src: d.planSrc, afterAll: ReasonAwaitingApproval}
}

// gateBlueGreen: blue-green 3.6.1 → 3.7.1 on one database with the
// prometheus plugin; rollout 50, 100.
func gateBlueGreen(t testing.TB) *gateWorld {
	b := newBGWorld(t)
	prometheusPlugin(t, b.sim.node("x").AdminURL())
	return &gateWorld{sim: b.sim, ng: b.ng, store: b.store, plan: "bg", xv: "3.6.1", yv: "3.7.1", ys: []string{"y"},
		weights: []int{50, 100}, pause: "3s", src: func(extra string) string { return b.planSrc(`["sim", "stop", "x"]`, extra) },
		afterAll: ReasonAwaitingApproval}
}

// gateRolling: DB-less rolling with two X and two Y nodes; X's
// declarative configuration enables the prometheus plugin, and Y's nodes
// load X's configuration; rollout 50, 100.
func gateRolling(t testing.TB) *gateWorld {
	r := newPromRollingWorld(t)
	return &gateWorld{sim: r.sim, ng: r.ng, store: r.store, plan: "edge-rolling", xv: "3.8.0", yv: "3.9.1", ys: []string{"y1", "y2"},
		weights: []int{50, 100}, pause: "3s", src: r.planSrc, afterAll: ReasonAwaitingApproval}
}

// newPromRollingWorld is newRollingWorld with the prometheus plugin in
// X's declarative configuration.
func newPromRollingWorld(t testing.TB) *rollingWorld {
	w := &rollingWorld{sim: newSim(t), backupDir: t.TempDir()}
	conf := append(fleet.SampleDeclarative(upstream(t)), "plugins:\n- name: prometheus\n  config:\n    status_code_metrics: true\n"...)
	for _, n := range []string{"x1", "x2"} {
		w.sim.add(n, kongsim.Config{Version: "3.8.0", Database: "off", DeclarativeConfig: conf})
		if err := w.sim.start(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"y1", "y2"} {
		w.sim.add(n, kongsim.Config{Version: "3.9.1", Database: "off"})
	}
	w.ng = testenv.Nginx(t, testenv.NginxConfig{Servers: []testenv.NginxServer{
		{Addr: w.sim.cfg("x1").ProxyListen, Weight: 1}, {Addr: w.sim.cfg("x2").ProxyListen, Weight: 1},
		{Addr: w.sim.cfg("y1").ProxyListen, Down: true}, {Addr: w.sim.cfg("y2").ProxyListen, Down: true}}})
	st, err := OpenDir(t.TempDir(), DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	w.store = st
	return w
}

// gateLoad sends rate requests/s through nginx to /health until the
// returned stop is called (rate 0: no load at all).
func gateLoad(ng *testenv.NginxProc, rate int) (stop func() testenv.LoadResult) {
	if rate == 0 {
		return func() testenv.LoadResult { return testenv.LoadResult{By: map[string]int{}} }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan testenv.LoadResult, 1)
	go func() {
		done <- testenv.Load{URL: ng.URL() + "/health", Rate: rate, Workers: min(4, rate), Duration: 5 * time.Minute, Classify: viaVersion}.Run(ctx, nil)
	}()
	var once sync.Once
	var res testenv.LoadResult
	return func() testenv.LoadResult {
		once.Do(func() {
			cancel()
			res = <-done
		})
		return res
	}
}

// lbServes sends n requests through nginx, one after another, and counts
// them by the version of Kong that answered ("?CODE" for an answer without
// Kong's Via header, "error" for a transport error).
func lbServes(t testing.TB, ng *testenv.NginxProc, n int) map[string]int {
	t.Helper()
	by := map[string]int{}
	client := &http.Client{Timeout: 5 * time.Second}
	for range n {
		resp, err := client.Get(ng.URL() + "/health")
		if err != nil {
			by["error"]++
			continue
		}
		by[viaVersion(resp)]++
		resp.Body.Close()
	}
	return by
}

// onProgress adds f to the engine's progress callback.
func onProgress(f func(Progress)) func(*Config) {
	return func(c *Config) {
		orig := c.Progress
		c.Progress = func(p Progress) {
			if orig != nil {
				orig(p)
			}
			f(p)
		}
	}
}

// measurementEvents are the journal's measurement events (issue 11's
// contract: one per measurement taken during a pause), by step.
func measurementEvents(t testing.TB, s Store, plan string) map[string][]Record {
	t.Helper()
	recs, err := s.Records(context.Background(), plan, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]Record{}
	for _, r := range recs {
		if r.Kind == KindEvent && r.Event == EventMeasurement {
			out[r.Details["step"]] = append(out[r.Details["step"]], r)
		}
	}
	return out
}

// failedGates are the gates the journal's failed gate events name.
func failedGates(t testing.TB, s Store, plan string) []string {
	t.Helper()
	recs, err := s.Records(context.Background(), plan, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if r.Kind == KindEvent && r.Event == EventGate && r.Details["result"] == "failed" {
			out = append(out, r.Details["gate"])
		}
	}
	return out
}

// outcomeOf is the last outcome recorded for step.
func outcomeOf(t testing.TB, s Store, plan, step string) (Record, bool) {
	t.Helper()
	recs, err := s.Records(context.Background(), plan, 0)
	if err != nil {
		t.Fatal(err)
	}
	var last Record
	var found bool
	for _, r := range recs {
		if r.Kind == KindOutcome && r.Step == step {
			last, found = r, true
		}
	}
	return last, found
}

var percent = regexp.MustCompile(`(\d+(?:\.\d+)?)%`)

// namesRates reports whether msg names a Y rate of at least lo percent
// and an X rate below hi percent.
func namesRates(msg string, lo, hi float64) bool {
	var high, low bool
	for _, m := range percent.FindAllStringSubmatch(msg, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		high = high || v >= lo
		low = low || v < hi
	}
	return high && low
}

// decimal parses a measurement detail; NaN when empty or not a number.
func decimal(s string) float64 {
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

var gateWorlds = []struct {
	name string
	new  func(testing.TB) *gateWorld
}{{"dual_cluster", gateDual}, {"blue_green", gateBlueGreen}, {"rolling", gateRolling}}

// TestGatesHealthyYPassesEveryStep: with the README's analysis, a healthy
// Y passes every pause including the one at 100% (where X serves nothing
// and Y is judged against X's baseline), under 100 requests/s through
// nginx with no failed request at the client. Each pause's last
// measurement is journaled as passed.
func TestGatesHealthyYPassesEveryStep(t *testing.T) {
	t.Parallel()
	for _, tc := range gateWorlds {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := tc.new(t)
			stopLoad := gateLoad(w.ng, 100)
			defer stopLoad()
			out, err := engineFor(t, lintedPlan(t, w.planSrc(t, gatesAnalysis)), w.sim, w.store).Apply(context.Background())
			if err != nil || out.Condition.Reason != w.afterAll {
				t.Fatalf("apply: %+v %v ran %v", out.Condition, err, out.Ran)
			}
			last := "pause_100"
			if !contains(out.Ran, last) || contains(out.Ran, "rollback_traffic") {
				t.Fatalf("ran %v: want every pause through %s and no rollback", out.Ran, last)
			}
			ms := measurementEvents(t, w.store, w.plan)
			for _, wt := range w.weights {
				step := "pause_" + strconv.Itoa(wt)
				if o, ok := outcomeOf(t, w.store, w.plan, step); !ok || o.Result != ResultOK {
					t.Errorf("%s: outcome %+v", step, o)
				}
				evs := ms[step]
				if len(evs) == 0 {
					t.Errorf("%s: no measurement event in the journal", step)
					continue
				}
				if r := evs[len(evs)-1].Details; r["result"] != "passed" || r["analysis"] != "y_not_worse_than_x" {
					t.Errorf("%s: last measurement %v, want y_not_worse_than_x passed", step, r)
				}
			}
			if evs := ms[last]; len(evs) > 0 {
				if d := evs[len(evs)-1].Details; d["against"] != "baseline" {
					t.Errorf("%s: the last measurement compares against %q, want X's baseline (X serves nothing at 100%%): %v", last, d["against"], d)
				}
			}
			res := stopLoad()
			t.Logf("%s: %d requests through nginx, %d failed, by version %v", tc.name, res.Requests, res.Failed, res.By)
			if res.Failed != 0 || res.By[w.yv] == 0 {
				t.Errorf("load: %d failed of %d (%v) %v", res.Failed, res.Requests, res.By, res.Errors)
			}
		})
	}
}

// TestGatesSickYRollsBackAtFirstStep: once the first traffic step is done,
// 5% of Y's routed requests fail (Kong answers 500 itself, as when a plugin
// fails). The README's analysis, judging windows of at least 40 requests
// (sickAnalysis), fails the first pause, where Y serves traffic for the
// first time: traffic goes back to X (observed through
// nginx), the second traffic step never runs, and the outcome names the
// measured rates.
func TestGatesSickYRollsBackAtFirstStep(t *testing.T) {
	t.Parallel()
	for _, tc := range gateWorlds {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := tc.new(t)
			stopLoad := gateLoad(w.ng, 100)
			defer stopLoad()
			sick := onProgress(func(p Progress) {
				if p.Step == w.firstTraffic() && p.Phase == PhaseDone {
					for _, y := range w.ys {
						w.sim.node(y).Faults().FailRoutedRate(500, 0.05)
					}
				}
			})
			var mu sync.Mutex
			told := map[string]notify.Event{} // notifications.md: the failed gate's figures; an automatic rollback
			tell := func(c *Config) {
				c.Notify = sinkFunc(func(ev notify.Event) { mu.Lock(); told[ev.Event] = ev; mu.Unlock() })
			}
			out, err := engineFor(t, lintedPlan(t, w.planSrc(t, sickAnalysis)), w.sim, w.store, sick, tell).Apply(context.Background())
			if err != nil || out.Condition.Reason != ReasonGateFailed {
				t.Fatalf("apply: %+v %v ran %v", out.Condition, err, out.Ran)
			}
			mu.Lock()
			if g := told[notify.GateFailed]; g.Step != w.firstPause() || decimal(g.Measured["y_error_rate"]) <= decimal(g.Measured["x_error_rate"]) {
				t.Errorf("gate_failed notification %+v: want %s with the measured rates", g, w.firstPause())
			}
			if rb := told[notify.RolledBack]; !strings.Contains(rb.Message, "automatically, after a failed gate") {
				t.Errorf("rolled_back notification %+v: want an automatic rollback", rb)
			}
			mu.Unlock()
			if !contains(out.Ran, "rollback_traffic") || contains(intents(t, w.store, w.plan), w.secondTraffic()) {
				t.Fatalf("ran %v: want a rollback before %s", out.Ran, w.secondTraffic())
			}
			if g := failedGates(t, w.store, w.plan); len(g) != 1 || g[0] != w.firstPause() {
				t.Errorf("failed gates %v, want %s alone", g, w.firstPause())
			}
			t.Logf("outcome: %s", out.Condition.Message)
			if !namesRates(out.Condition.Message, 1, 1) {
				t.Errorf("the outcome does not name Y's measured rate (≥ 1%%) and X's (< 1%%): %q", out.Condition.Message)
			}
			var failed bool
			for _, m := range measurementEvents(t, w.store, w.plan)[w.firstPause()] {
				d := m.Details
				if d["result"] == "failed" && decimal(d["y_error_rate"]) > decimal(d["x_error_rate"]) && decimal(d["y_requests"]) > 0 {
					failed = true
				}
			}
			if !failed {
				t.Errorf("no failed measurement with Y's error rate above X's journaled for %s", w.firstPause())
			}
			res := stopLoad()
			t.Logf("%s: %d requests through nginx, %d failed (Y's 5%%), by version %v", tc.name, res.Requests, res.Failed, res.By)
			if by := lbServes(t, w.ng, 20); by[w.xv] != 20 {
				t.Errorf("after the rollback nginx routes %v, want all 20 requests to X (%s)", by, w.xv)
			}
		})
	}
}

// TestGatesSecondYNodeFailsItsCheck: rolling with two Y nodes, the second
// of which answers 500 to every routed request (its key_auth_accepts_a_key
// check fails; it is ready all the same). The rollout stops before any
// traffic moves to Y: no traffic step runs, nginx routes no request to a Y
// node, and the outcome names y2.
func TestGatesSecondYNodeFailsItsCheck(t *testing.T) {
	t.Parallel()
	w := gateRolling(t)
	stopLoad := gateLoad(w.ng, 100)
	defer stopLoad()
	e := engineFor(t, lintedPlan(t, w.planSrc(t, gatesAnalysis)), w.sim, w.store, func(c *Config) {
		orig := c.Drivers.Hooks
		c.Drivers.Hooks = hookFunc(func(ctx context.Context, argv []string) (string, error) {
			out, err := orig.Run(ctx, argv)
			if err == nil && strings.Join(argv, " ") == "sim start y2" {
				w.sim.node("y2").Faults().FailRouted(500, -1)
			}
			return out, err
		})
	})
	out, err := e.Apply(context.Background())
	if err != nil || out.Condition.Type != ConditionStalled {
		t.Fatalf("apply: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	t.Logf("outcome: %s: %s (ran %v)", out.Condition.Reason, out.Condition.Message, out.Ran)
	y2 := w.sim.cfg("y2").ProxyListen
	if !strings.Contains(out.Condition.Message, "y2") && !strings.Contains(out.Condition.Message, y2) {
		t.Errorf("the outcome does not name y2 (%s): %q", y2, out.Condition.Message)
	}
	for _, s := range intents(t, w.store, w.plan) {
		if strings.HasPrefix(s, "traffic_") {
			t.Fatalf("a traffic step ran: %v", intents(t, w.store, w.plan))
		}
	}
	res := stopLoad()
	t.Logf("rolling: %d requests through nginx, %d failed, by version %v", res.Requests, res.Failed, res.By)
	if res.Failed != 0 || res.By[w.yv] != 0 || res.By[w.xv] != res.Requests {
		t.Errorf("load: %d failed of %d, by version %v: want every request answered by X (%s)", res.Failed, res.Requests, res.By, w.xv)
	}
	pv, err := e.Preview(context.Background())
	if err != nil || pv.Observed.Traffic == nil || pv.Observed.Traffic.From != 100 {
		t.Errorf("traffic after the stop: %+v %v", pv, err)
	}
}

// TestGatesYKilledMidPause: dual-cluster at 50%, Y is killed a second into
// the pause and its start hook fails from then on. With the README's analysis and without any analysis (Y's
// health is always a gate), the pause fails, traffic returns to X
// (observed through nginx: every request answered by X) and Y is stopped.
func TestGatesYKilledMidPause(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, extra string }{{"readme_analysis", gatesAnalysis}, {"no_analysis", onGateFailure}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := gateDual(t)
			w.pause = "4s"
			stopLoad := gateLoad(w.ng, 100)
			defer stopLoad()
			var waits atomic.Int32
			kill := onProgress(func(p Progress) {
				if p.Step == "pause_50" && p.Phase == PhaseWait {
					if waits.Add(1) == 2 {
						// As in the crash trial: Y dies and its
						// start hook fails from then on.
						w.sim.mu.Lock()
						w.sim.failStart["y"] = true
						w.sim.mu.Unlock()
						if err := w.sim.stop("y"); err != nil {
							t.Errorf("kill Y: %v", err)
						}
					}
				}
			})
			out, err := engineFor(t, lintedPlan(t, w.planSrc(t, tc.extra)), w.sim, w.store, kill).Apply(context.Background())
			t.Logf("outcome: %+v ran %v", out.Condition, out.Ran)
			if err != nil || out.Condition.Reason != ReasonGateFailed {
				t.Fatalf("apply: %+v %v ran %v", out.Condition, err, out.Ran)
			}
			if n := waits.Load(); n < 2 {
				t.Fatalf("Y was not killed mid-pause (pause_50 reported %d waits)", n)
			}
			if g := failedGates(t, w.store, w.plan); len(g) != 1 || g[0] != "pause_50" {
				t.Errorf("failed gates %v, want pause_50", g)
			}
			if !contains(out.Ran, "rollback_traffic") || contains(intents(t, w.store, w.plan), "traffic_100") {
				t.Fatalf("ran %v: want a rollback and no traffic_100", out.Ran)
			}
			res := stopLoad()
			t.Logf("load through nginx: %d requests, %d failed, by version %v", res.Requests, res.Failed, res.By)
			if by := lbServes(t, w.ng, 20); by[w.xv] != 20 {
				t.Errorf("after the failed pause nginx routes %v, want all 20 requests to X (%s)", by, w.xv)
			}
		})
	}
}

// TestGatesLowTraffic: 1 request/s through nginx (dual-cluster, 4 s
// pauses): a healthy Y passes at 10%, where it gets a request about every
// 10 s (the window grows, up to max_window, until both sides have one), and
// at 100% against X's baseline; a Y whose routed requests all fail is
// rolled back at 50%; with no traffic at all the analysis never passes on no data
// (the default policy fails the pause at its end).
func TestGatesLowTraffic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		rate    int
		weights []int
		attrs   string // more analysis attributes
		sick    bool
		reason  string
	}{
		{"healthy_1rps_window_grows_at_10", 1, []int{10, 100}, `    max_window        = "30s"` + "\n", false, ReasonAwaitingApproval},
		{"sick_1rps", 1, []int{50, 100}, "", true, ReasonGateFailed},
		{"no_traffic", 0, []int{50, 100}, "", false, ReasonGateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := gateDual(t)
			w.weights, w.pause = tc.weights, "4s"
			stopLoad := gateLoad(w.ng, tc.rate)
			defer stopLoad()
			sick := onProgress(func(p Progress) {
				if tc.sick && p.Step == w.firstTraffic() && p.Phase == PhaseDone {
					w.sim.node("y").Faults().FailRouted(500, -1)
				}
			})
			extra := analysisWith(tc.attrs)
			out, err := engineFor(t, lintedPlan(t, w.planSrc(t, extra)), w.sim, w.store, sick).Apply(context.Background())
			t.Logf("outcome: %+v ran %v", out.Condition, out.Ran)
			if err != nil || out.Condition.Reason != tc.reason {
				t.Fatalf("apply: %+v %v ran %v, want %s", out.Condition, err, out.Ran, tc.reason)
			}
			passedAll := contains(out.Ran, "pause_100") && !contains(out.Ran, "rollback_traffic")
			if passedAll != (tc.reason == ReasonAwaitingApproval) {
				t.Fatalf("ran %v", out.Ran)
			}
			if tc.reason == ReasonGateFailed {
				if g := failedGates(t, w.store, w.plan); len(g) != 1 || g[0] != w.firstPause() {
					t.Errorf("failed gates %v, want %s", g, w.firstPause())
				}
			}
			// Each verdict for its own reason: the sick Y on its measured
			// rate, no traffic on no data.
			if tc.sick && !namesRates(out.Condition.Message, 50, 1) {
				t.Errorf("the sick Y's rollback does not name its measured rate: %q", out.Condition.Message)
			}
			if tc.rate == 0 && !strings.Contains(out.Condition.Message, "no data") {
				t.Errorf("without traffic the outcome does not say there was no data: %q", out.Condition.Message)
			}
			for step, evs := range measurementEvents(t, w.store, w.plan) {
				for _, m := range evs {
					d := m.Details
					t.Logf("%s: %s %s X %s requests, Y %s requests, against %s", step, d["analysis"], d["result"], d["x_requests"], d["y_requests"], d["against"])
					if d["result"] == "passed" && !(decimal(d["y_requests"]) >= 1) {
						t.Errorf("%s: a measurement passed without a request to Y: %v", step, d)
					}
				}
			}
			res := stopLoad()
			t.Logf("%d requests through nginx, %d failed, by version %v", res.Requests, res.Failed, res.By)
			if !tc.sick && res.Failed != 0 {
				t.Errorf("load: %d failed of %d %v", res.Failed, res.Requests, res.Errors)
			}
		})
	}
}

// TestGatesAgentRestartMidPause: the engine is stopped (its context
// cancelled) in the middle of a pause, and a second engine applies the same
// plan on the same journal. A healthy Y stopped at 100%, where only X's
// baseline can judge it, passes after the restart; a sick Y (5% of its
// routed requests fail; sickAnalysis) stopped during the first pause still
// fails that pause after the restart, and traffic goes back to X.
func TestGatesAgentRestartMidPause(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, at string
		sick     bool
	}{{"healthy_at_100", "pause_100", false}, {"sick_at_10", "pause_10", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := gateDual(t)
			w.pause = "3s"
			stopLoad := gateLoad(w.ng, 100)
			defer stopLoad()
			analysis := gatesAnalysis
			if tc.sick {
				analysis = sickAnalysis
			}
			p := lintedPlan(t, w.planSrc(t, analysis))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var waits atomic.Int32
			first := onProgress(func(pr Progress) {
				if tc.sick && pr.Step == "traffic_10" && pr.Phase == PhaseDone {
					w.sim.node("y").Faults().FailRoutedRate(500, 0.05)
				}
				if pr.Step == tc.at && pr.Phase == PhaseWait {
					if waits.Add(1) == 2 {
						cancel()
					}
				}
			})
			out, err := engineFor(t, p, w.sim, w.store, first).Apply(ctx)
			if err != nil || out.Condition.Reason != ReasonInterrupted || !strings.Contains(out.Condition.Message, tc.at) {
				t.Fatalf("first engine: %+v %v ran %v, want interrupted during %s", out.Condition, err, out.Ran, tc.at)
			}
			out, err = engineFor(t, p, w.sim, w.store).Apply(context.Background())
			t.Logf("after the restart: %+v ran %v", out.Condition, out.Ran)
			if err != nil || len(out.Ran) == 0 || out.Ran[0] != tc.at {
				t.Fatalf("second engine: %+v %v ran %v, want it to go on at %s", out.Condition, err, out.Ran, tc.at)
			}
			res := stopLoad()
			t.Logf("load through nginx: %d requests, %d failed, by version %v", res.Requests, res.Failed, res.By)
			if !tc.sick {
				if out.Condition.Reason != ReasonAwaitingApproval || contains(out.Ran, "rollback_traffic") {
					t.Fatalf("a healthy Y after the restart: %+v ran %v", out.Condition, out.Ran)
				}
				evs := measurementEvents(t, w.store, w.plan)[tc.at]
				if len(evs) == 0 || evs[len(evs)-1].Details["result"] != "passed" || evs[len(evs)-1].Details["against"] != "baseline" {
					t.Errorf("%s's measurements after the restart: %v, want the last passed against X's baseline", tc.at, evs)
				}
				if res.Failed != 0 {
					t.Errorf("load: %d failed of %d %v", res.Failed, res.Requests, res.Errors)
				}
				return
			}
			if out.Condition.Reason != ReasonGateFailed || !contains(out.Ran, "rollback_traffic") || contains(intents(t, w.store, w.plan), "traffic_50") {
				t.Fatalf("a sick Y after the restart: %+v ran %v", out.Condition, out.Ran)
			}
			if g := failedGates(t, w.store, w.plan); len(g) != 1 || g[0] != tc.at {
				t.Errorf("failed gates %v, want %s", g, tc.at)
			}
			if by := lbServes(t, w.ng, 20); by[w.xv] != 20 {
				t.Errorf("after the rollback nginx routes %v, want all 20 requests to X (%s)", by, w.xv)
			}
		})
	}
}
