package analysis

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// X's baseline: each pause's last same-window measurement, weighted by
// X's requests; baseline measurements and windows where X served too
// little do not count.
func TestBaselineFrom(t *testing.T) {
	ev := []map[string]string{
		{"step": "pause_10", "against": "window", "x_requests": "10", "x_error_rate": "0.5", "x_p99_ms": "900"}, // superseded by the pause's last
		{"step": "pause_10", "against": "window", "x_requests": "300", "x_error_rate": "0.01", "x_p99_ms": "40"},
		{"step": "pause_50", "against": "window", "x_requests": "100", "x_error_rate": "0.05", "x_p99_ms": "80"},
		{"step": "pause_90", "against": "window", "x_requests": "3", "x_error_rate": "1"}, // too little X
		{"step": "pause_100", "against": "baseline", "x_requests": "400", "x_error_rate": "0.02"},
	}
	b := BaselineFrom(ev, 5)
	if b.Requests != 400 || b.Steps != 2 || !b.HasP99 || b.HasValue {
		t.Fatalf("baseline %+v", b)
	}
	if want := (300*0.01 + 100*0.05) / 400; !near(b.ErrorRate, want) {
		t.Errorf("error rate %v, want %v", b.ErrorRate, want)
	}
	if want := (300*40 + 100*80) / 400.0; !near(b.P99Ms, want) {
		t.Errorf("p99 %v, want %v", b.P99Ms, want)
	}
	if b := BaselineFrom(nil, 1); b.Requests != 0 || b.HasValue || b.Steps != 0 {
		t.Errorf("no events: %+v", b)
	}
	v := BaselineFrom([]map[string]string{
		{"step": "pause_10", "against": "window", "x_value": "0.2", "y_value": "0.1"},
		{"step": "pause_50", "against": "window", "x_value": "0.4"},
		{"step": "pause_100", "against": "baseline", "x_value": "9"},
	}, 1)
	if !v.HasValue || !near(v.Value, 0.3) || v.Steps != 2 {
		t.Errorf("side query baseline %+v", v)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// fakeProm answers each query from a table (an empty vector when the
// query is not in it), counting the queries it saw.
type fakeProm struct {
	mu      sync.Mutex
	answers map[string]string
	seen    []string
}

func (f *fakeProm) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.FormValue("query")
		f.mu.Lock()
		f.seen = append(f.seen, q)
		v, ok := f.answers[q]
		f.mu.Unlock()
		if !ok {
			_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
			return
		}
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"`+v+`"]}]}}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (f *fakeProm) set(q, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v == "" {
		delete(f.answers, q)
		return
	}
	f.answers[q] = v
}

// A side query runs once per side, {version} and {side} replaced; Y is
// judged against X in the same query, against X's baseline when X's side
// has no data, and is no data without a baseline or without Y's data.
func TestPrometheusSides(t *testing.T) {
	const q = `sum(rate(kong_http_requests_total{code=~"5..",version="{version}",side="{side}"}[1m]))`
	qx := `sum(rate(kong_http_requests_total{code=~"5..",version="3.8.0",side="from"}[1m]))`
	qy := `sum(rate(kong_http_requests_total{code=~"5..",version="3.9.1",side="to"}[1m]))`
	f := &fakeProm{answers: map[string]string{qx: "0.01", qy: "0.015"}}
	margin := 0.01
	p, err := NewPrometheus(PrometheusConfig{Name: "y_vs_x", URL: f.start(t), Query: q, Margin: &margin, FromVersion: "3.8.0", ToVersion: "3.9.1"})
	if err != nil {
		t.Fatal(err)
	}
	measure := func() Result {
		t.Helper()
		r, err := p.Measure(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%v %v", r, r.Details)
		return r
	}
	r := measure()
	if !r.OK() || r.Details["against"] != "window" || r.Details["x_value"] != "0.01" || r.Details["y_value"] != "0.015" {
		t.Errorf("Y within the margin of X: %v %v", r, r.Details)
	}
	f.set(qy, "0.03")
	if r := measure(); r.Outcome != Failed || !strings.Contains(r.Reason, "exceeds X's 0.01 by more than the margin 0.01") {
		t.Errorf("Y above X by more than the margin: %v", r)
	}
	// X serves nothing (100% on Y): no data without a baseline...
	f.set(qx, "")
	if r := measure(); r.Outcome != Inconclusive || !r.NoData || !strings.Contains(r.Reason, "no data: X:") || !strings.Contains(r.Reason, "no baseline") {
		t.Errorf("X without data, no baseline: %v", r)
	}
	// ...and judged against X's baseline with one.
	p.SetBaseline(Baseline{Value: 0.025, HasValue: true, Steps: 2})
	if r := measure(); !r.OK() || r.Details["against"] != "baseline" || r.Details["x_value"] != "0.025" || !strings.Contains(r.Reason, "baseline") {
		t.Errorf("against the baseline: %v %v", r, r.Details)
	}
	f.set(qy, "0.05")
	if r := measure(); r.Outcome != Failed || r.Details["against"] != "baseline" {
		t.Errorf("Y worse than the baseline: %v", r)
	}
	// Y has no data: never a pass, whatever X has.
	f.set(qy, "")
	if r := measure(); r.OK() || !r.NoData || !strings.Contains(r.Reason, "no data: Y:") {
		t.Errorf("Y without data: %v", r)
	}
	// Configuration: a placeholder needs margin, margin needs one.
	for _, cfg := range []PrometheusConfig{
		{URL: "http://p:9090", Query: q, Max: &margin},
		{URL: "http://p:9090", Query: "up", Margin: &margin},
		{URL: "http://p:9090", Query: q, Margin: &margin, Policy: Policy{OnNoData: "pass"}},
	} {
		if _, err := NewPrometheus(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
