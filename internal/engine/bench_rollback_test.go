package engine

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// BenchmarkRollbackSpeed measures, with nginx and with HAProxy in front of
// a dual-cluster upgrade, the time from a failed measurement (the
// kong_metrics analysis judging Y, which fails 20% of its routed
// requests, worse than X during the 50% pause) to 100% of traffic on X
// as the load balancer routes it: the first request from which on every
// request a probe sends through the load balancer is answered by X.
// Target < 2 s. The engine runs with its default poll interval and retry
// backoff, as `upshift apply` does. nginx_y_hangs: Y's Admin and Status
// APIs hang from the failed measurement on (a sick Y): the pass that
// starts the rollback bounds its reads of Y (urgent.go; 15 s without).
//
//	go test -run '^$' -bench RollbackSpeed -benchtime 1x ./internal/engine/
func BenchmarkRollbackSpeed(b *testing.B) {
	for _, lb := range []string{"nginx", "haproxy", "nginx_y_hangs"} {
		b.Run(lb, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				b.StopTimer()
				d, before := rollbackSpeedOnce(b, lb)
				total += d
				fmt.Printf("rollback speed %s: %s from the failed measurement to 100%% of requests on X (%s of it before rollback_traffic began)\n",
					lb, d.Round(time.Millisecond), before.Round(time.Millisecond))
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-X/op")
		})
	}
}

// rollbackSpeedOnce runs one upgrade that fails its analysis at 50% and
// returns the time from the failed measurement to all requests on X, and
// the part of it before the rollback_traffic step began (journal,
// observation, decision).
func rollbackSpeedOnce(b *testing.B, lb string) (time.Duration, time.Duration) {
	b.Helper()
	ctx := context.Background()
	w := newDualWorld(b)
	enablePrometheus(b, w.sim.node("x").AdminURL())
	url := w.ng.URL()
	src := rollbackSpeedPlan(w)
	if lb == "haproxy" {
		h := testenv.HAProxy(b, testenv.HAProxyConfig{Servers: []testenv.HAProxyServer{
			{Name: "x", Addr: w.sim.cfg("x").ProxyListen, Weight: 100}, {Name: "y", Addr: w.sim.cfg("y").ProxyListen, Weight: 0}}})
		url = h.URL()
		src = trafficBlock.ReplaceAllString(src, fmt.Sprintf(`  traffic "haproxy" {
    socket       = %q
    backend      = %q
    from_servers = ["x"]
    to_servers   = ["y"]
  }
`, h.Socket(), h.Backend()))
	}
	var failedAt, stepAt time.Time
	var mu sync.Mutex
	e := engineFor(b, lintedPlan(b, src), w.sim, w.store, func(c *Config) {
		// What `upshift apply` runs with.
		c.PollInterval, c.RetryBase, c.Drain = 0, 0, 300*time.Millisecond
		for i, a := range c.Drivers.Analyses {
			c.Drivers.Analyses[i] = &timedAnalysis{Analysis: a, failed: func() {
				mu.Lock()
				defer mu.Unlock()
				if failedAt.IsZero() {
					failedAt = time.Now()
					if lb == "nginx_y_hangs" {
						// A sick Y whose Admin and Status APIs stop answering.
						w.sim.node("y").Faults().Hang("admin", -1)
						w.sim.node("y").Faults().Hang("status", -1)
					}
				}
			}}
		}
		prev := c.Progress
		c.Progress = func(p Progress) {
			// Y turns sick once its staging checks passed, as traffic
			// starts to move.
			if p.Step == "traffic_50" && p.Phase == PhaseStart {
				w.sim.node("y").Faults().FailRoutedRate(500, 0.2)
			}
			if p.Step == "rollback_traffic" && p.Phase == PhaseStart {
				mu.Lock()
				stepAt = time.Now()
				mu.Unlock()
			}
			prev(p)
		}
	})
	pr := startProbe(url + "/health")
	out, err := e.Apply(ctx)
	answers := pr.stop()
	if err != nil || out.Condition.Reason != ReasonGateFailed || !contains(out.Ran, "rollback_traffic") {
		b.Fatalf("apply: %+v %v (ran %v)", out.Condition, err, out.Ran)
	}
	mu.Lock()
	t0, ts := failedAt, stepAt
	mu.Unlock()
	if t0.IsZero() {
		b.Fatal("no failed measurement was seen")
	}
	// The first request after the last one X did not answer.
	var t1 time.Time
	var seenY bool
	for _, a := range answers {
		if a.start.Before(t0) {
			continue
		}
		switch {
		case !a.fromX:
			t1, seenY = time.Time{}, true
		case t1.IsZero():
			t1 = a.start
		}
	}
	if t1.IsZero() {
		b.Fatalf("after the failed measurement no request the probe sent ended on X (%d answers)", len(answers))
	}
	// Where the time went: the journal's records from the failure on.
	if recs, err := w.store.Records(ctx, "dual-e2e", 0); err == nil {
		var steps []string
		for _, r := range recs {
			if r.Time.After(t0) {
				steps = append(steps, fmt.Sprintf("%s %s%s +%s", r.Kind, r.Step, r.Event, r.Time.Sub(t0).Round(time.Millisecond)))
			}
		}
		b.Logf("%s: journal after the failed measurement: %s", lb, strings.Join(steps, ", "))
	}
	if !seenY {
		b.Logf("no request after the failed measurement went to Y: the figure is the probe's resolution")
	}
	return t1.Sub(t0), ts.Sub(t0)
}

// trafficBlock is the dual world's nginx traffic block.
var trafficBlock = regexp.MustCompile(`(?s)  traffic "nginx" \{.*?\n  \}\n`)

// rollbackSpeedPlan is the dual world's plan with the README's
// kong_metrics analysis measured every second and a long pause at 50%.
func rollbackSpeedPlan(w *dualWorld) string {
	src := w.planSrc(`  analysis "y_not_worse_than_x" {
    compare           = "kong_metrics"
    error_rate_margin = 0.005
    interval          = "1s"
  }`)
	return regexp.MustCompile(`(?s)  rollout \{.*?\n  \}\n`).ReplaceAllString(src, `  rollout {
    step {
      weight = 50
      pause  = "2m"
    }
    step {
      weight = 100
      pause  = "1s"
    }
  }
`)
}

// enablePrometheus turns the prometheus plugin on globally with
// status_code_metrics and latency_metrics, as the kong_metrics analysis
// needs.
func enablePrometheus(t testing.TB, adminURL string) {
	t.Helper()
	c, err := gokong.NewClient(&adminURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Plugins.Create(context.Background(), &gokong.Plugin{Name: gokong.String("prometheus"),
		Config: gokong.Configuration{"status_code_metrics": true, "latency_metrics": true}}); err != nil {
		t.Fatalf("enable prometheus: %v", err)
	}
}

// timedAnalysis calls failed when a measurement does not pass.
type timedAnalysis struct {
	Analysis
	failed func()
}

func (a *timedAnalysis) Measure(ctx context.Context) (GateResult, error) {
	res, err := a.Analysis.Measure(ctx)
	if err == nil && !res.OK() {
		a.failed()
	}
	return res, err
}

// probe sends requests through a load balancer from two workers, each at
// most every 5 ms, and records which side answered each (X: 3.8.0 in Via,
// status 200). Bounded: it stops at stop or after 10 minutes.
type probe struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	answers []probeAnswer
}

type probeAnswer struct {
	start time.Time
	fromX bool
}

func startProbe(url string) *probe {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	p := &probe{cancel: cancel}
	client := &http.Client{Timeout: 5 * time.Second}
	for range 2 {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				start := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := client.Do(req)
				fromX := false
				if err == nil {
					fromX = resp.StatusCode == http.StatusOK && viaVersion(resp) == "3.8.0"
					_ = resp.Body.Close()
				}
				if ctx.Err() != nil {
					return
				}
				p.mu.Lock()
				p.answers = append(p.answers, probeAnswer{start, fromX})
				p.mu.Unlock()
			}
		}()
	}
	return p
}

// stop ends the probe and returns its answers in the order they started.
func (p *probe) stop() []probeAnswer {
	p.cancel()
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := append([]probeAnswer(nil), p.answers...)
	slices.SortFunc(out, func(a, b probeAnswer) int { return a.start.Compare(b.start) })
	return out
}
