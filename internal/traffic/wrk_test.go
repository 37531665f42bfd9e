package traffic_test

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

// wrkResult is what wrk's summary says.
type wrkResult struct {
	requests int
	seconds  float64
	// socket errors: connect, read, write, timeout
	connect, read, write, timeout int
	non2xx                        int // "Non-2xx or 3xx responses"
}

func (r wrkResult) failed() int { return r.connect + r.read + r.write + r.timeout + r.non2xx }

var (
	wrkTotal  = regexp.MustCompile(`(?m)^\s*(\d+) requests in ([\d.]+)(ms|s|m)`)
	wrkSocket = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)`)
)

// parseWrk reads wrk's summary; the two error lines appear only when
// there were such errors.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := wrkTotal.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no \"N requests in T\" line in wrk's output:\n%s", out)
	}
	r.requests, _ = strconv.Atoi(m[1])
	r.seconds, _ = strconv.ParseFloat(m[2], 64)
	switch m[3] {
	case "ms":
		r.seconds /= 1000
	case "m":
		r.seconds *= 60
	}
	if m := wrkSocket.FindStringSubmatch(out); m != nil {
		r.connect, _ = strconv.Atoi(m[1])
		r.read, _ = strconv.Atoi(m[2])
		r.write, _ = strconv.Atoi(m[3])
		r.timeout, _ = strconv.Atoi(m[4])
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.non2xx, _ = strconv.Atoi(m[1])
	}
	return r, nil
}

func TestParseWrk(t *testing.T) {
	out := `Running 4s test @ http://127.0.0.1:1/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  300.00us   9.00ms   90.00%
  81234 requests in 4.00s, 9.10MB read
  Socket errors: connect 0, read 3, write 0, timeout 1
  Non-2xx or 3xx responses: 2
Requests/sec:  20308.50
`
	r, err := parseWrk(out)
	if err != nil || r.requests != 81234 || r.seconds != 4 || r.read != 3 || r.timeout != 1 || r.non2xx != 2 || r.failed() != 6 {
		t.Errorf("parseWrk = %+v, %v", r, err)
	}
	if r, err := parseWrk("  10 requests in 500.00ms, 1KB read\n"); err != nil || r.seconds != 0.5 || r.failed() != 0 {
		t.Errorf("parseWrk(ms) = %+v, %v", r, err)
	}
	if _, err := parseWrk("unable to connect"); err == nil {
		t.Error("garbage parsed")
	}
}

// wrk (which never retries) against HAProxy while the driver moves the
// weights 0 → 10 → 50 → 100: no request may fail, since HAProxy changes
// weights without a reload (traffic-notes.md).
func TestHAProxyShiftUnderWrk(t *testing.T) {
	bin := testenv.NeedBinary(t, "wrk", "wrk")
	x, y := startBackend(t, "x"), startBackend(t, "y")
	h, drv := realHAProxy(t, x, y)
	ctx := context.Background()
	if err := drv.SetWeights(ctx, rollout[0]); err != nil {
		t.Fatal(err)
	}

	const duration = 4 * time.Second
	wctx, cancel := context.WithTimeout(ctx, duration+20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(wctx, bin, "-t2", "-c32", fmt.Sprintf("-d%ds", int(duration.Seconds())), "--timeout", "5s", h.URL()+"/")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	total := func() int64 { return x.served.Load() + y.served.Load() }
	// Each step lasts until the backends have answered another 2,000 of
	// wrk's requests (polled, with a deadline well inside wrk's run).
	for _, w := range rollout {
		if err := drv.SetWeights(ctx, w); err != nil {
			t.Fatalf("SetWeights(%v) under wrk: %v", w, err)
		}
		target := total() + 2000
		deadline := time.Now().Add(duration / time.Duration(len(rollout)+1))
		tick := time.NewTicker(5 * time.Millisecond)
		for total() < target && time.Now().Before(deadline) {
			select {
			case err := <-done:
				t.Fatalf("wrk ended during step %v: %v\n%s", w, err, out.String())
			case <-tick.C:
			}
		}
		tick.Stop()
		t.Logf("step %v: backends x=%d y=%d so far", w, x.served.Load(), y.served.Load())
	}
	if err := <-done; err != nil {
		t.Fatalf("wrk: %v\n%s", err, out.String())
	}
	r, err := parseWrk(out.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wrk: %d requests in %.2fs (%.0f req/s), socket errors connect %d read %d write %d timeout %d, non-2xx %d",
		r.requests, r.seconds, float64(r.requests)/r.seconds, r.connect, r.read, r.write, r.timeout, r.non2xx)
	if r.failed() != 0 {
		t.Errorf("wrk saw %d failed requests during the weight changes:\n%s", r.failed(), out.String())
	}
	if r.requests == 0 {
		t.Error("wrk sent no request")
	}
	if y.served.Load() == 0 {
		t.Error("Y answered none of wrk's requests")
	}
}
