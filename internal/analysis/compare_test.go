package analysis

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/kongsim"
)

func newCompare(t *testing.T, x, y *kongsim.Node, xv, yv string) *Compare {
	t.Helper()
	margin, lat := 0.005, 50*time.Millisecond
	c, err := NewCompare(CompareConfig{Name: "y_not_worse_than_x",
		From:            MetricsSide{URLs: []string{x.AdminURL() + "/metrics"}, Version: xv},
		To:              MetricsSide{URLs: []string{y.StatusURL() + "/metrics"}, Version: yv},
		ErrorRateMargin: &margin, P99LatencyMargin: &lat, Policy: Policy{MinRequests: 20}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func measureCompare(t *testing.T, c *Compare) Result {
	t.Helper()
	r, err := c.Measure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v", r)
	return r
}

// X on 2.8 (kong_http_status, kong_latency{type="request"}) against Y on
// 3.9 (kong_http_requests_total, kong_request_latency_ms).
func TestCompareAcrossTheRename(t *testing.T) {
	ctx := context.Background()
	upX, upY := startUpstream(t), startUpstream(t)
	x, y := startKong(t, "2.8.5", upX, true), startKong(t, "3.9.1", upY, true)
	send(t, x, 5) // before the window: not counted
	c := newCompare(t, x, y, "2.8.5", "3.9.1")

	// Equal behaviour passes.
	if err := c.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	send(t, x, 60)
	send(t, y, 60)
	r := measureCompare(t, c)
	if !r.OK() || !strings.Contains(r.Value, "5xx X 0.00% of 60, Y 0.00% of 60") || !strings.Contains(r.Value, "p99") {
		t.Errorf("equal sides: %+v", r)
	}

	// kongsim injects 5xx on Y: a new window sees Y's 5xx and fails.
	if err := c.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	send(t, x, 50)
	y.Faults().FailRouted(500, 50)
	if bad := send(t, y, 50); bad != 50 {
		t.Fatalf("%d of 50 requests on Y answered 5xx, want all", bad)
	}
	r = measureCompare(t, c)
	if r.Outcome != Failed || !strings.Contains(r.Reason, "Y's error rate 100.00% exceeds X's 0.00%") {
		t.Errorf("Y failing: %+v", r)
	}

	// No requests in the window: no data, never a pass.
	if err := c.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	r = measureCompare(t, c)
	if r.Outcome != Inconclusive || !strings.Contains(r.Reason, "X served 0 requests") {
		t.Errorf("empty window: %+v", r)
	}
}

func TestCompareWithoutMetricsIsNoData(t *testing.T) {
	ctx := context.Background()
	x, y := startKong(t, "3.9.1", startUpstream(t), true), startKong(t, "3.9.1", startUpstream(t), false)
	c := newCompare(t, x, y, "3.9.1", "3.9.1")
	if err := c.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	send(t, x, 30)
	send(t, y, 30)
	r := measureCompare(t, c)
	if r.Outcome != Inconclusive || !strings.Contains(r.Reason, "Y exposes no kong_http_requests_total") {
		t.Errorf("metrics off on Y: %+v", r)
	}

	// Without Begin, and with an unreachable side.
	c2 := newCompare(t, x, y, "3.9.1", "3.9.1")
	if r := measureCompare(t, c2); r.Outcome != Inconclusive || !strings.Contains(r.Reason, "Begin was not called") {
		t.Errorf("no Begin: %+v", r)
	}
	y.Stop()
	if err := c2.Begin(ctx); err == nil {
		t.Error("Begin with Y stopped succeeded")
	}
	if r := measureCompare(t, c2); r.Outcome != Inconclusive || r.FromUnreadable || !strings.Contains(r.Reason, "could not be scraped") {
		t.Errorf("Y stopped: %+v", r)
	}
}

func TestP99FromBuckets(t *testing.T) {
	// 100 observations: 50 ≤ 25ms, 98 ≤ 50ms, 100 ≤ 80ms: rank 99 falls
	// halfway in (50, 80].
	w := windowStats{latencyCount: 100, buckets: map[float64]float64{25: 50, 50: 98, 80: 100, 100: 100}}
	if ms, inf, ok := w.p99(); !ok || inf || ms != 65 {
		t.Errorf("p99 = %v %v %v, want 65", ms, inf, ok)
	}
	// Past the last finite bucket: the last bound, flagged.
	w = windowStats{latencyCount: 100, buckets: map[float64]float64{25: 10, 50: 20}}
	if ms, inf, ok := w.p99(); !ok || !inf || ms != 50 {
		t.Errorf("p99 in +Inf = %v %v %v", ms, inf, ok)
	}
	if _, _, ok := (windowStats{}).p99(); ok {
		t.Error("p99 of an empty window")
	}
	// 2.8's finer buckets against 3.x's: both judged on the shared bounds.
	fine := windowStats{latencyCount: 10, buckets: map[float64]float64{1: 10, 2: 10, 25: 10, 50: 10}}
	coarse := windowStats{latencyCount: 10, buckets: map[float64]float64{25: 10, 50: 10, 80: 10}}
	f, c := commonBuckets(fine, coarse)
	pf, _, _ := f.p99()
	pc, _, _ := c.p99()
	if pf != pc || len(f.buckets) != 2 {
		t.Errorf("common buckets: p99 %v vs %v, buckets %v", pf, pc, f.buckets)
	}
	if d := counterDelta(10, 3, true); d != 3 {
		t.Errorf("delta across a reset = %v, want 3", d)
	}
}

// At 100% on Y, X serves nothing: Y is judged against X's baseline, and
// without one the window is no data (never a pass). Y serving fewer than
// min_requests is no data too.
func TestCompareAgainstBaseline(t *testing.T) {
	ctx := context.Background()
	x, y := startKong(t, "3.8.0", startUpstream(t), true), startKong(t, "3.9.1", startUpstream(t), true)
	c := newCompare(t, x, y, "3.8.0", "3.9.1")
	if err := c.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	send(t, y, 40)
	r := measureCompare(t, c)
	if r.Outcome != Inconclusive || !r.NoData || !strings.Contains(r.Reason, "X served 0 requests") || !strings.Contains(r.Reason, "no baseline") {
		t.Errorf("no baseline: %+v", r)
	}
	if r.Details["y_requests"] != "40" || r.Details["x_requests"] != "0" || r.Details["against"] != "window" {
		t.Errorf("no baseline details: %v", r.Details)
	}

	c.SetBaseline(Baseline{Requests: 500, ErrorRate: 0.002, P99Ms: 20, HasP99: true, Steps: 2})
	r = measureCompare(t, c)
	if !r.OK() || r.Details["against"] != "baseline" || r.Details["x_requests"] != "500" || r.Details["x_error_rate"] != "0.002" ||
		!strings.Contains(r.Value, "X's baseline 0.20% of 500, Y 0.00% of 40") || !strings.Contains(r.Reason, "against X's baseline from 2 earlier pause(s)") {
		t.Errorf("healthy Y against the baseline: %+v %v", r, r.Details)
	}

	// 5 of 45 of Y's requests fail: 11% against the baseline's 0.2%.
	y.Faults().FailRouted(500, 5)
	send(t, y, 5)
	r = measureCompare(t, c)
	if r.Outcome != Failed || r.Details["against"] != "baseline" || !strings.Contains(r.Reason, "Y's error rate 11.11% exceeds X's 0.20%") {
		t.Errorf("failing Y against the baseline: %+v", r)
	}

	// Y with too little traffic: no data, whatever the baseline says.
	if err := c.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	send(t, y, 3)
	if r := measureCompare(t, c); r.OK() || !r.NoData || !strings.Contains(r.Reason, "Y served 3 requests") {
		t.Errorf("Y under min_requests: %+v", r)
	}

	// X that cannot be read says nothing about Y: marked, not no data.
	x.Stop()
	if r := measureCompare(t, c); r.OK() || r.NoData || !r.FromUnreadable || !strings.Contains(r.Reason, "scrape failed: X:") {
		t.Errorf("X unreadable: %+v", r)
	}
}

// Y's counters add up over its nodes; when one node is the outlier the
// value names each node's share.
func TestCompareNodeBreakdown(t *testing.T) {
	ctx := context.Background()
	x := startKong(t, "3.9.1", startUpstream(t), true)
	y1, y2 := startKong(t, "3.9.1", startUpstream(t), true), startKong(t, "3.9.1", startUpstream(t), true)
	margin := 0.01
	c, err := NewCompare(CompareConfig{Name: "errors",
		From:            MetricsSide{URLs: []string{x.StatusURL() + "/metrics"}, Version: "3.9.1"},
		To:              MetricsSide{URLs: []string{y1.StatusURL() + "/metrics", y2.StatusURL() + "/metrics"}, Version: "3.9.1", Names: []string{"y1", "y2"}},
		ErrorRateMargin: &margin})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	send(t, x, 40)
	send(t, y1, 20)
	send(t, y2, 20)
	r := measureCompare(t, c)
	if !r.OK() || strings.Contains(r.Value, "per Y node") || r.Details["y_requests"] != "40" {
		t.Errorf("healthy nodes: %+v", r)
	}
	y2.Faults().FailRouted(500, 10)
	send(t, y2, 10)
	r = measureCompare(t, c)
	if r.Outcome != Failed || !strings.Contains(r.Value, "per Y node: y1 0.00% of 20, y2 33.33% of 30 (outlier: y2)") || r.Details["y_requests"] != "50" {
		t.Errorf("y2 failing: %+v", r)
	}
}
