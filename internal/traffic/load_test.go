package traffic_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/testenv"
	"github.com/upshift-dev/upshift/internal/traffic"
)

// router is engine.Router, restated here: traffic's tests do not import
// engine.
type router interface {
	SetWeights(context.Context, traffic.Weights) error
	Weights(context.Context) (traffic.Weights, error)
}

// backend is an HTTP server that names itself in the X-Backend header.
// GET /slow answers only after release is closed; started receives a
// value when a slow request has arrived.
type backend struct {
	name    string
	addr    string // host:port
	started chan struct{}
	release chan struct{}
	served  atomic.Int64 // requests answered
}

func startBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name, started: make(chan struct{}, 4), release: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		if r.URL.Path == "/slow" {
			b.started <- struct{}{}
			select {
			case <-b.release:
			case <-r.Context().Done():
				return
			}
		}
		_, _ = io.WriteString(w, name+"\n")
		b.served.Add(1)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { // unblock a slow handler before srv.Close waits for it
		select {
		case <-b.release:
		default:
			close(b.release)
		}
	})
	u, _ := url.Parse(srv.URL)
	b.addr = u.Host
	return b
}

// The rollout the done-when criterion names: Y at 0, 10, 50, 100 percent.
var rollout = []traffic.Weights{{From: 100, To: 0}, {From: 90, To: 10}, {From: 50, To: 50}, {From: 0, To: 100}}

const (
	rate    = 900 // requests per second asked of the pacer (it achieves less on a busy 2-core machine)
	perStep = 900 // requests counted at each step's weights
)

// shiftUnderLoad runs a paced load of Go net/http GETs through lbURL while
// moving r through the rollout. At each step it sets the weights, waits
// for settle (the load balancer serving the new weights), then counts which
// backend answered the next perStep requests. It checks zero failed
// requests, the achieved rate, the read-back weights and that each step's
// observed split is within ±5 points of the weight.
func shiftUnderLoad(t *testing.T, r router, lbURL string, settle func()) {
	ctx := context.Background()
	if err := r.SetWeights(ctx, rollout[0]); err != nil {
		t.Fatal(err)
	}
	settle()

	var mu sync.Mutex
	phase := -1 // the step being counted; -1 while weights change
	counts := make([]map[string]int, len(rollout))
	for i := range counts {
		counts[i] = map[string]int{}
	}
	load := testenv.Load{
		URL: lbURL + "/", Rate: rate, Workers: 16, Duration: 30 * time.Second,
		Classify: func(resp *http.Response) string {
			name := resp.Header.Get("X-Backend")
			mu.Lock()
			if phase >= 0 {
				counts[phase][name]++
			}
			mu.Unlock()
			return name
		},
	}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var progress testenv.LoadProgress
	results := make(chan testenv.LoadResult, 1)
	go func() { results <- load.Run(loadCtx, &progress) }()

	for i, w := range rollout {
		if err := r.SetWeights(ctx, w); err != nil {
			t.Fatalf("SetWeights(%v) under load: %v", w, err)
		}
		settle()
		if got, err := r.Weights(ctx); err != nil || got != w {
			t.Fatalf("Weights after SetWeights(%v) = %v, %v", w, got, err)
		}
		// Requests already in flight on connections to old nginx workers
		// finish there (at most one per client connection): let one round
		// per worker pass before counting.
		select {
		case <-progress.Reached(progress.Done() + 2*load.Workers):
		case res := <-results:
			t.Fatalf("load ended during step %v after %d requests", w, res.Requests)
		}
		mu.Lock()
		phase = i
		mu.Unlock()
		select {
		case <-progress.Reached(progress.Done() + perStep):
		case res := <-results:
			t.Fatalf("load ended during step %v after %d requests", w, res.Requests)
		}
		mu.Lock()
		phase = -1
		mu.Unlock()
	}
	stopLoad()
	res := <-results

	t.Logf("Go net/http load: %d requests in %v (%.0f req/s), %d failed, by backend %v",
		res.Requests, res.Elapsed.Round(time.Millisecond), res.Rate(), res.Failed, res.By)
	if res.Failed != 0 {
		t.Errorf("%d failed requests, first: %s", res.Failed, strings.Join(res.Errors, "; "))
	}
	for i, w := range rollout {
		x, y := counts[i]["x"], counts[i]["y"]
		if x+y == 0 {
			t.Errorf("step %v: no responses counted", w)
			continue
		}
		share := 100 * float64(y) / float64(x+y)
		t.Logf("step %v: %d requests, x=%d y=%d, observed to-share %.1f%%", w, x+y, x, y, share)
		if d := share - float64(w.To); d < -5 || d > 5 {
			t.Errorf("step %v: observed %.1f%% on Y, outside ±5 points", w, share)
		}
		total := 0
		for _, n := range counts[i] {
			total += n
		}
		if other := total - x - y; other != 0 {
			t.Errorf("step %v: %d responses from neither backend", w, other)
		}
	}
}

// drainSlowRequest starts a slow request while X serves everything, moves
// all traffic to Y, checks that a new request reaches Y, and then that the
// slow request finishes on X with 200.
func drainSlowRequest(t *testing.T, r router, lbURL string, x, y *backend, settle func()) {
	ctx := context.Background()
	if err := r.SetWeights(ctx, traffic.Weights{From: 100, To: 0}); err != nil {
		t.Fatal(err)
	}
	settle()
	type answer struct {
		backend string
		status  int
		err     error
	}
	slow := make(chan answer, 1)
	go func() {
		resp, err := http.Get(lbURL + "/slow")
		if err != nil {
			slow <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		slow <- answer{resp.Header.Get("X-Backend"), resp.StatusCode, err}
	}()
	select {
	case <-x.started:
	case a := <-slow:
		t.Fatalf("slow request ended before reaching X: %+v", a)
	case <-time.After(10 * time.Second):
		t.Fatal("slow request did not reach X within 10s")
	}
	if err := r.SetWeights(ctx, traffic.Weights{From: 0, To: 100}); err != nil {
		t.Fatal(err)
	}
	settle()
	// nginx's old workers may still accept a new connection for a moment
	// after the new ones serve (both share the listening socket until the
	// old ones close it): poll, with a deadline, until new requests reach Y.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := c.Get(lbURL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("X-Backend")
		if got == "y" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new requests after draining X still go to %q", got)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	close(x.release)
	a := <-slow
	if a.err != nil || a.status != 200 || a.backend != "x" {
		t.Errorf("in-flight request on the drained side: %+v, want 200 from x", a)
	} else {
		t.Logf("in-flight request on X finished with %d after X was drained", a.status)
	}
}
