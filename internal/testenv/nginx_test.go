package testenv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// backend is an HTTP server that names itself in the X-Backend header.
func backend(t *testing.T, name string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		_, _ = w.Write([]byte(name + "\n"))
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u.Host
}

func byBackendHeader(r *http.Response) string { return r.Header.Get("X-Backend") }

func TestNginxSplitAndReload(t *testing.T) {
	t.Parallel()
	testWeightedReload(t, backend(t, "a"), backend(t, "b"), byBackendHeader)
}

// testWeightedReload checks nginx in front of two backends (host:port) whose
// responses classify names "a" and "b": 90/10 split, then a rewrite to
// 10/90 with reloads under load with zero failures, then the new split. Any
// two backends can be passed, e.g. two kongsim nodes.
func testWeightedReload(t *testing.T, a, b string, classify func(*http.Response) string) {
	ng := Nginx(t, NginxConfig{Servers: []NginxServer{{Addr: a, Weight: 90}, {Addr: b, Weight: 10}}})
	checkSplit(t, ng.URL(), classify, 0.90)

	// Under load: 50/50 a quarter in, 10/90 halfway, each with a reload.
	// 800 requests (2 s at 400/s), with room for a machine that stalls:
	// the steps below wait for 200 and 400 of them.
	load := Load{URL: ng.URL() + "/", Rate: 400, Count: 800, Duration: 20 * time.Second, Classify: classify}
	var progress LoadProgress
	results := make(chan LoadResult, 1)
	go func() { results <- load.Run(context.Background(), &progress) }()
	steps := []struct {
		after int
		wa    int
		wb    int
	}{{200, 50, 50}, {400, 10, 90}}
	for _, s := range steps {
		if !waitProgress(&progress, s.after, results) {
			t.Fatalf("load ended before %d requests", s.after)
		}
		if err := ng.WriteUpstream(NginxServer{Addr: a, Weight: s.wa}, NginxServer{Addr: b, Weight: s.wb}); err != nil {
			t.Fatal(err)
		}
		if err := ng.Reload(); err != nil {
			t.Fatalf("reload to %d/%d: %v", s.wa, s.wb, err)
		}
	}
	res := <-results
	t.Logf("load during reloads: %d requests in %v (%.0f req/s), %d failed, by backend %v",
		res.Requests, res.Elapsed.Round(1e6), res.Rate(), res.Failed, res.By)
	if res.Failed != 0 {
		t.Errorf("%d failed requests during reloads, first: %s", res.Failed, strings.Join(res.Errors, "; "))
	}
	checkSplit(t, ng.URL(), classify, 0.10)
}

// waitProgress blocks until the load has completed n requests; false when
// the load ended first (its result is put back for the caller).
func waitProgress(p *LoadProgress, n int, results chan LoadResult) bool {
	select {
	case <-p.Reached(n):
		return true
	case r := <-results:
		results <- r
		return r.Requests >= n
	}
}

// checkSplit sends 1,000 requests and wants the share answered by "a"
// within ±5 points of wantA.
func checkSplit(t *testing.T, url string, classify func(*http.Response) string, wantA float64) {
	t.Helper()
	res := Load{URL: url + "/", Rate: 2000, Duration: 30 * time.Second, Workers: 4, Count: 1000, Classify: classify}.Run(context.Background(), nil)
	if res.Failed != 0 {
		t.Fatalf("%d of %d requests failed: %s", res.Failed, res.Requests, strings.Join(res.Errors, "; "))
	}
	share := float64(res.By["a"]) / float64(res.Requests)
	t.Logf("split over %d requests: %v (a: %.1f%%, want %.0f%% ± 5)", res.Requests, res.By, 100*share, 100*wantA)
	if share < wantA-0.05 || share > wantA+0.05 {
		t.Errorf("backend a answered %.1f%% of requests, want %.0f%% ± 5", 100*share, 100*wantA)
	}
}

// TestNginxBadUpstream: a refused upstream file makes Test and Reload fail
// and leaves the running configuration serving.
func TestNginxBadUpstream(t *testing.T) {
	t.Parallel()
	a := backend(t, "a")
	ng := Nginx(t, NginxConfig{Servers: []NginxServer{{Addr: a}}})
	if err := ng.Test(); err != nil {
		t.Fatalf("Test on the generated configuration: %v", err)
	}
	if err := os.WriteFile(ng.UpstreamFile(), []byte("upstream kong { server 127.0.0.1:1 weight=0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ng.Test(); err == nil {
		t.Error("Test accepted weight=0")
	}
	if err := ng.Reload(); err == nil {
		t.Error("Reload accepted weight=0")
	}
	checkSplit(t, ng.URL(), byBackendHeader, 1.0)
}
