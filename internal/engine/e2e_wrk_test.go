package engine

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// The zero-failure runs of dual-cluster and rolling with wrk (which never
// retries) through HAProxy, whose weights the engine changes over the
// runtime API: the same worlds as the nginx tests, with the plan's
// traffic block pointed at HAProxy instead.

var (
	wrkRequests = regexp.MustCompile(`(?m)^\s*(\d+) requests in`)
	wrkErrors   = regexp.MustCompile(`(?m)^\s*(Socket errors: .*|Non-2xx or 3xx responses: \d+)$`)
)

var nginxTraffic = regexp.MustCompile(`(?s)  traffic "nginx" \{.*?\n  \}\n`)

// withHAProxy replaces src's nginx traffic block with h's.
func withHAProxy(t *testing.T, src string, h *testenv.HAProxyProc, from, to []string) string {
	t.Helper()
	block := fmt.Sprintf("  traffic \"haproxy\" {\n    socket       = %q\n    backend      = %q\n    from_servers = %s\n    to_servers   = %s\n  }\n",
		h.Socket(), h.Backend(), hclList(from), hclList(to))
	if !nginxTraffic.MatchString(src) {
		t.Fatal("the plan has no nginx traffic block to replace")
	}
	return nginxTraffic.ReplaceAllLiteralString(src, block)
}

// underWrk runs wrk against url for d while apply runs, and fails the test
// on any socket error or non-2xx/3xx answer. It returns wrk's request count.
func underWrk(t *testing.T, url string, d time.Duration, apply func() (Outcome, error)) (int, Outcome) {
	t.Helper()
	wrk := testenv.NeedBinary(t, "wrk", "wrk")
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, wrk, "-t2", "-c16", fmt.Sprintf("-d%ds", int(d.Seconds())), "--timeout", "5s", url)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	res, err := apply()
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("wrk: %v\n%s", err, out.String())
	}
	m := wrkRequests.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no request count in wrk's output:\n%s", out.String())
	}
	n, _ := strconv.Atoi(m[1])
	if errs := wrkErrors.FindAllString(out.String(), -1); len(errs) > 0 || n == 0 {
		t.Errorf("wrk saw failures: %v\n%s", errs, out.String())
	}
	return n, res
}

func TestDualClusterHAProxyUnderWrk(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	h := testenv.HAProxy(t, testenv.HAProxyConfig{Servers: []testenv.HAProxyServer{
		{Name: "x", Addr: w.sim.cfg("x").ProxyListen, Weight: 100}, {Name: "y", Addr: w.sim.cfg("y").ProxyListen, Weight: 0}}})
	src := withHAProxy(t, w.planSrc(`  approve_in_advance = ["decommission"]`), h, []string{"x"}, []string{"y"})
	e := engineFor(t, lintedPlan(t, src), w.sim, w.store, func(c *Config) { c.Drain = time.Second })
	n, res := underWrk(t, h.URL()+"/health", 12*time.Second, func() (Outcome, error) { return e.Apply(context.Background()) })
	if res.Condition.Reason != ReasonConverged || w.sim.node("x") != nil {
		t.Fatalf("apply: %+v ran %v (X running %v)", res.Condition, res.Ran, w.sim.node("x") != nil)
	}
	t.Logf("wrk through HAProxy during the dual-cluster upgrade: %d requests, steps %v", n, res.Ran)
}

func TestRollingHAProxyUnderWrk(t *testing.T) {
	t.Parallel()
	w := newRollingWorld(t)
	var servers []testenv.HAProxyServer
	for _, n := range []string{"x1", "x2", "y1", "y2"} {
		weight := 100
		if n[0] == 'y' {
			weight = 0
		}
		servers = append(servers, testenv.HAProxyServer{Name: n, Addr: w.sim.cfg(n).ProxyListen, Weight: weight})
	}
	h := testenv.HAProxy(t, testenv.HAProxyConfig{Servers: servers})
	src := withHAProxy(t, w.planSrc("  approve_in_advance = [\"decommission\"]\n"), h, []string{"x1", "x2"}, []string{"y1", "y2"})
	e := engineFor(t, lintedPlan(t, src), w.sim, w.store, func(c *Config) { c.Drain = time.Second })
	n, res := underWrk(t, h.URL()+"/health", 8*time.Second, func() (Outcome, error) { return e.Apply(context.Background()) })
	if res.Condition.Reason != ReasonConverged || w.sim.node("x1") != nil || w.sim.node("x2") != nil {
		t.Fatalf("apply: %+v ran %v", res.Condition, res.Ran)
	}
	t.Logf("wrk through HAProxy during the rolling upgrade: %d requests, steps %v", n, res.Ran)
}
