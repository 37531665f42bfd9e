package analysis

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestCompareMissingInputs: kong_metrics's inputs on one side. Without the
// plugin: the fix names status_code_metrics (and latency_metrics for the
// p99 margin). With the plugin configured and no request served yet: no
// series, yet nothing missing. Series present: nothing asked of the
// plugin. An unreadable /metrics or plugin list is missing, not present.
func TestCompareMissingInputs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	up := startUpstream(t)
	bare, withPlugin := startKong(t, "3.9.1", up, false), startKong(t, "3.9.1", up, true)
	c := newCompare(t, bare, withPlugin, "3.9.1", "3.9.1") // X: no plugin; Y: plugin, p99 margin set
	plugin := func(p PrometheusPlugin, err error) func(context.Context) (PrometheusPlugin, error) {
		return func(context.Context) (PrometheusPlugin, error) { return p, err }
	}
	join := func(s []string) string { return strings.Join(s, "\n") }

	got := join(c.MissingInputs(ctx, InputSide{Plugin: plugin(PrometheusPlugin{}, nil)}))
	for _, want := range []string{"X exposes no kong_http_requests_total series", "enable it with status_code_metrics = true",
		"X exposes no kong_request_latency_ms (p99_latency_margin) series", "enable it with latency_metrics = true"} {
		if !strings.Contains(got, want) {
			t.Errorf("X without the plugin: %q lacks %q", got, want)
		}
	}
	got = join(c.MissingInputs(ctx, InputSide{Plugin: plugin(PrometheusPlugin{Enabled: true, LatencyMetrics: true}, nil)}))
	if !strings.Contains(got, "enabled with status_code_metrics = false; set status_code_metrics = true") || strings.Contains(got, "latency") {
		t.Errorf("X's plugin without status_code_metrics: %q", got)
	}
	got = join(c.MissingInputs(ctx, InputSide{}))
	if !strings.Contains(got, "configuration cannot be read") {
		t.Errorf("X without series and no plugin reader: %q, want the configuration named unreadable", got)
	}

	// Y: configured, nothing served yet (no series): nothing missing.
	if got := c.MissingInputs(ctx, InputSide{To: true, Plugin: plugin(PrometheusPlugin{Enabled: true, StatusCodeMetrics: true, LatencyMetrics: true}, nil)}); len(got) != 0 {
		t.Errorf("Y configured, no request yet: %q", got)
	}
	// Y has served: the series are there, the plugin is not asked.
	send(t, withPlugin, 3)
	asked := false
	if got := c.MissingInputs(ctx, InputSide{To: true, Plugin: func(context.Context) (PrometheusPlugin, error) {
		asked = true
		return PrometheusPlugin{}, errors.New("not to be asked")
	}}); len(got) != 0 || asked {
		t.Errorf("Y with series: %q (plugin asked %v)", got, asked)
	}
	// Y's metrics unreadable: missing.
	_ = withPlugin.Stop()
	if got := join(c.MissingInputs(ctx, InputSide{To: true})); !strings.Contains(got, "Y's metrics cannot be read") {
		t.Errorf("Y stopped: %q", got)
	}
}

// TestPrometheusMissingInputs: the query must return a number for X,
// with {version} and {side} replaced; Y is not checked (it has served
// nothing before its first traffic step).
func TestPrometheusMissingInputs(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var queries []string
	answer := `{"status":"success","data":{"resultType":"vector","result":[]}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		queries = append(queries, r.Form.Get("query"))
		a := answer
		mu.Unlock()
		_, _ = w.Write([]byte(a))
	}))
	t.Cleanup(srv.Close)
	margin := 0.01
	g, err := NewPrometheus(PrometheusConfig{Name: "error_rate", URL: srv.URL, Margin: &margin, FromVersion: "3.8.0", ToVersion: "3.9.1",
		Query: `sum(rate(kong_http_requests_total{version="{version}",side="{side}",code=~"5.."}[1m]))`})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got := strings.Join(g.MissingInputs(ctx, InputSide{}), "\n")
	if !strings.Contains(got, "returns no data for X") {
		t.Errorf("empty vector: %q", got)
	}
	mu.Lock()
	if len(queries) != 1 || !strings.Contains(queries[0], `version="3.8.0",side="from"`) {
		t.Errorf("queries sent: %q", queries)
	}
	answer = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}`
	mu.Unlock()
	if got := g.MissingInputs(ctx, InputSide{}); len(got) != 1 {
		t.Errorf("NaN: %q, want no data", got)
	}
	mu.Lock()
	answer = `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.5"]}]}}`
	mu.Unlock()
	if got := g.MissingInputs(ctx, InputSide{}); len(got) != 0 {
		t.Errorf("a sample above max is data, not a missing input: %q", got)
	}
	mu.Lock()
	answer = `{"status":"error","errorType":"bad_data","error":"parse error"}`
	mu.Unlock()
	if got := strings.Join(g.MissingInputs(ctx, InputSide{}), ""); !strings.Contains(got, "cannot be evaluated") {
		t.Errorf("a failing query: %q", got)
	}
	if got := g.MissingInputs(ctx, InputSide{To: true}); len(got) != 0 {
		t.Errorf("Y: %q, want nothing checked", got)
	}
}
