package testenv

import (
	"context"
	"strings"
	"testing"
)

func TestHAProxySetWeight(t *testing.T) {
	t.Parallel()
	a, b := backend(t, "a"), backend(t, "b")
	h := HAProxy(t, HAProxyConfig{Servers: []HAProxyServer{{Name: "a", Addr: a, Weight: 90}, {Name: "b", Addr: b, Weight: 10}}})
	checkSplit(t, h.URL(), byBackendHeader, 0.90)

	// Weights change under load through the runtime API, without a reload.
	var progress LoadProgress
	results := make(chan LoadResult, 1)
	go func() {
		results <- Load{URL: h.URL() + "/", Rate: 400, Classify: byBackendHeader}.Run(context.Background(), &progress)
	}()
	if !waitProgress(&progress, 200, results) {
		t.Fatal("load ended before 200 requests")
	}
	for _, cmd := range []string{"set weight kong/a 10", "set weight kong/b 90"} {
		out, err := h.Command(cmd)
		if err != nil || strings.TrimSpace(out) != "" {
			t.Fatalf("%s: %q, %v", cmd, out, err)
		}
	}
	res := <-results
	t.Logf("load during weight change: %d requests (%.0f req/s), %d failed, by backend %v", res.Requests, res.Rate(), res.Failed, res.By)
	if res.Failed != 0 {
		t.Errorf("%d failed requests, first: %s", res.Failed, strings.Join(res.Errors, "; "))
	}
	out, err := h.Command("get weight kong/a")
	if err != nil || !strings.HasPrefix(out, "10 ") {
		t.Errorf("get weight kong/a = %q, %v; want 10 (initial 90)", out, err)
	}
	checkSplit(t, h.URL(), byBackendHeader, 0.10)

	if out, _ := h.Command("set weight kong/nosuch 1"); !strings.Contains(out, "No such server") {
		t.Errorf("set weight on an unknown server answered %q", out)
	}
}
