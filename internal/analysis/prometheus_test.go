package analysis

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// startPrometheus is testenv.Prometheus (Debian's prometheus scraping
// target every second).
func startPrometheus(t *testing.T, target string) string { return testenv.Prometheus(t, target) }

func promGate(t *testing.T, base, query string, max float64) *Prometheus {
	t.Helper()
	p, err := NewPrometheus(PrometheusConfig{Name: "error_rate", URL: base, Query: query, Max: &max, Interval: time.Second, Failures: 1})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pollUntil measures g until cond holds on a result (Prometheus needs a
// scrape or two to see new counters), failing after 20s.
func pollUntil(t *testing.T, g interface {
	Measure(context.Context) (Result, error)
}, what string, cond func(Result) bool) Result {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := g.Measure(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if cond(r) {
			t.Logf("%v", r)
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: last result %v", what, r)
		}
		<-tick.C
	}
}

// The error-rate query of a real plan, on Y's counters. "or vector(0)"
// keeps the numerator present while no 5xx has happened: without it, a
// healthy Y has no 5xx series and the ratio is no data.
const errorRate = `(sum(kong_http_requests_total{code=~"5.."}) or vector(0)) / sum(kong_http_requests_total)`

func TestPrometheusGate(t *testing.T) {
	up := startUpstream(t)
	y := startKong(t, "3.9.1", up, true)
	u, _ := url.Parse(y.StatusURL())
	prom := startPrometheus(t, u.Host)

	// No data: Y has served nothing, so the counter has no series yet.
	g := promGate(t, prom, errorRate, 0.01)
	r, err := g.Measure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Outcome != Inconclusive || !strings.Contains(r.Reason, "no data") {
		t.Errorf("before any request: %v, want no data", r)
	}

	// A healthy Y: passes once Prometheus has scraped the requests.
	send(t, y, 50)
	r = pollUntil(t, g, "the gate to see Y's 50 requests", func(r Result) bool { return r.Outcome != Inconclusive })
	if !r.OK() || r.Value != "0" {
		t.Errorf("healthy Y: %v", r)
	}

	// kongsim injects 5xx on Y (Kong-generated, counted by its prometheus
	// plugin with source="kong"): 50 of 100 requests, far above 1%.
	y.Faults().FailRouted(500, 50)
	if bad := send(t, y, 50); bad != 50 {
		t.Fatalf("%d of 50 requests on Y answered 5xx, want all", bad)
	}
	r = pollUntil(t, g, "the gate to fail on Y's 5xx", func(r Result) bool { return r.Outcome == Failed })
	if r.Value != "0.5" || !strings.Contains(r.Reason, "0.5 is above max 0.01") {
		t.Errorf("failing Y: %v", r)
	}

	// No data, spelled two ways: an empty vector and NaN.
	for q, want := range map[string]string{
		`sum(kong_http_requests_total{service="nosuch"})`: "empty vector",
		`vector(0) / vector(0)`:                           "returned NaN",
	} {
		r, err := promGate(t, prom, q, 1).Measure(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r.Outcome != Inconclusive || r.OK() || !strings.Contains(r.Reason, want) {
			t.Errorf("%s: %v, want no data (%s)", q, r, want)
		}
	}
	// Prometheus refuses the query: inconclusive with its error.
	r, _ = promGate(t, prom, `sum(`, 1).Measure(context.Background())
	if r.Outcome != Inconclusive || !strings.Contains(r.Reason, "bad_data") {
		t.Errorf("bad query: %v", r)
	}
	// A range vector is not a gate's answer.
	r, _ = promGate(t, prom, `kong_http_requests_total[5s]`, 1).Measure(context.Background())
	if r.Outcome != Inconclusive || !strings.Contains(r.Reason, "matrix") {
		t.Errorf("matrix result: %v", r)
	}
}

func TestPrometheusErrorsAndBounds(t *testing.T) {
	// A server that is not Prometheus, and one that is down.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("query") == "min" {
			_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"route":"a"},"value":[1,"0.2"]},{"metric":{"route":"b"},"value":[1,"0.9"]}]}}`)
			return
		}
		w.WriteHeader(502)
		_, _ = io.WriteString(w, "<html>bad gateway</html>")
	}))
	t.Cleanup(srv.Close)
	r, _ := promGate(t, srv.URL, "up", 1).Measure(context.Background())
	if r.Outcome != Inconclusive || !strings.Contains(r.Reason, "HTTP 502") {
		t.Errorf("non-Prometheus answer: %v", r)
	}
	min := 0.5
	p, _ := NewPrometheus(PrometheusConfig{Name: "n", URL: srv.URL, Query: "min", Min: &min})
	r, _ = p.Measure(context.Background())
	if r.Outcome != Failed || !strings.Contains(r.Reason, `0.2 on {route="a"} is below min 0.5`) || strings.Contains(r.Reason, `route="b"`) {
		t.Errorf("min bound: %v", r)
	}
	srv.Close()
	r, _ = promGate(t, srv.URL, "up", 1).Measure(context.Background())
	if r.Outcome != Inconclusive || !strings.Contains(r.Reason, "did not answer") {
		t.Errorf("down: %v", r)
	}
	for _, cfg := range []PrometheusConfig{
		{URL: "prometheus:9090", Query: "up", Max: &min},
		{URL: "http://p:9090", Query: " ", Max: &min},
		{URL: "http://p:9090", Query: "up"},
	} {
		if _, err := NewPrometheus(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
