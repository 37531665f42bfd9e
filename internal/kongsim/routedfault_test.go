package kongsim

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kong/go-kong/kong"
)

// TestFailRoutedIsCounted: FailRouted answers routed requests with a 5xx
// that Kong generates, and the prometheus plugin (status_code_metrics on)
// counts them with source="kong"; Fail("proxy") answers before Kong's log
// phase and is not counted.
func TestFailRoutedIsCounted(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(up.Close)
	n := startNode(t, Config{Version: "3.9.1", DSN: bootstrapped(t, "3.9.1")})
	c := client(t, n)
	ctx := context.Background()
	svc, err := c.Services.Create(ctx, &kong.Service{Name: kong.String("orders"), URL: kong.String(up.URL)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Routes.Create(ctx, &kong.Route{Name: kong.String("orders"), Paths: kong.StringSlice("/orders"), Service: svc}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Plugins.Create(ctx, &kong.Plugin{Name: kong.String("prometheus"), Config: kong.Configuration{"status_code_metrics": true}}); err != nil {
		t.Fatal(err)
	}

	n.Faults().FailRouted(500, 3)
	n.Faults().Fail("proxy", 503, 1) // taken first, before routing: not counted
	codes := map[int]int{}
	for range 6 {
		resp, err := http.Get(n.ProxyURL() + "/orders")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[503] != 1 || codes[500] != 3 || codes[200] != 2 {
		t.Fatalf("status codes %v, want one 503, three 500 and two 200", codes)
	}
	resp, err := http.Get(n.AdminURL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	var kong500, svc200, any503 bool
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "kong_http_requests_total{") {
			continue
		}
		kong500 = kong500 || (strings.Contains(line, `code="500"`) && strings.Contains(line, `source="kong"`) && strings.HasSuffix(line, " 3"))
		svc200 = svc200 || (strings.Contains(line, `code="200"`) && strings.Contains(line, `source="service"`) && strings.HasSuffix(line, " 2"))
		any503 = any503 || strings.Contains(line, `code="503"`)
	}
	if !kong500 || !svc200 || any503 {
		t.Errorf("metrics: kong 500 ×3 %v, service 200 ×2 %v, a 503 counted %v; got:\n%s", kong500, svc200, any503, body)
	}
}

// TestFailRoutedRate: FailRoutedRate fails exactly that share of routed
// requests (every 20th at 0.05), after FailRouted's next-n rules, leaves
// unrouted requests alone, and stops at FailRoutedRate(_, 0).
func TestFailRoutedRate(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(up.Close)
	n := startNode(t, Config{Version: "3.9.1", Database: "off"})
	cfg := `{"_format_version":"3.0","services":[{"name":"orders","url":"` + up.URL + `","routes":[{"name":"orders","paths":["/orders"]}]}],` +
		`"plugins":[{"name":"prometheus","config":{"status_code_metrics":true}}]}`
	if err := client(t, n).ReloadDeclarativeRawConfig(context.Background(), strings.NewReader(cfg), true, true); err != nil {
		t.Fatal(err)
	}
	get := func(path string) int {
		t.Helper()
		resp, err := http.Get(n.ProxyURL() + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}

	n.Faults().FailRoutedRate(502, 0.05)
	n.Faults().FailRouted(500, 2)
	var failedAt []int
	codes := map[int]int{}
	for i := 1; i <= 202; i++ {
		c := get("/orders")
		codes[c]++
		if c == 502 {
			failedAt = append(failedAt, i-2) // numbered after the two FailRouted ones
		}
	}
	if codes[500] != 2 || codes[502] != 10 || codes[200] != 190 {
		t.Fatalf("status codes %v, want two 500 (FailRouted first), ten 502 and 190 200", codes)
	}
	for k, at := range failedAt {
		if at != 20*(k+1) {
			t.Fatalf("502 at routed requests %v, want every 20th", failedAt)
		}
	}
	if c := get("/nowhere"); c != 404 {
		t.Errorf("unrouted request: %d, want 404 (the rate applies to routed requests only)", c)
	}
	n.Faults().FailRoutedRate(502, 0)
	for range 40 {
		if c := get("/orders"); c != 200 {
			t.Fatalf("after FailRoutedRate(502, 0): %d, want 200", c)
		}
	}
}
