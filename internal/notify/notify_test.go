package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a local HTTP receiver that keeps what it was sent.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
	paths  []string
	got    chan struct{} // one value per request answered 2xx
	// answer decides the status for the nth request (from 1).
	answer func(n int) int
	n      int
}

func newReceiver(t *testing.T, answer func(n int) int) (*receiver, *httptest.Server) {
	r := &receiver{got: make(chan struct{}, 100), answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.n++
		code := http.StatusOK
		if r.answer != nil {
			code = r.answer(r.n)
		}
		if code/100 == 2 {
			r.bodies, r.heads, r.paths = append(r.bodies, body), append(r.heads, req.Header.Clone()), append(r.paths, req.URL.Path)
		}
		r.mu.Unlock()
		w.WriteHeader(code)
		if code/100 == 2 {
			r.got <- struct{}{}
		}
	}))
	t.Cleanup(srv.Close)
	return r, srv
}

// wait waits for n 2xx answers, up to a deadline.
func (r *receiver) wait(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for range n {
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("the receiver got fewer than %d events", n)
		}
	}
}

// deliveries collects what the dispatcher reports.
type deliveries struct {
	mu  sync.Mutex
	all []Delivery
	ch  chan Delivery
}

func newDeliveries() *deliveries { return &deliveries{ch: make(chan Delivery, 100)} }

func (d *deliveries) record(x Delivery) {
	d.mu.Lock()
	d.all = append(d.all, x)
	d.mu.Unlock()
	d.ch <- x
}

func (d *deliveries) next(t *testing.T) Delivery {
	t.Helper()
	select {
	case x := <-d.ch:
		return x
	case <-time.After(20 * time.Second):
		t.Fatal("no delivery reported")
	}
	return Delivery{}
}

func sample(kind string, seq int) Event {
	return Event{ID: "edge/" + string(rune('0'+seq)), Event: kind, Plan: "edge", Cluster: "prod", Commit: "0123456789abcdef0123456789abcdef01234567",
		Run: 2, Step: "pause_50", Condition: "Stalled", Reason: "GateFailed", Message: "error rate 4% over 1%",
		Time: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC), Measured: map[string]string{"y_error_rate": "0.04"}}
}

// Every event kind reaches a webhook as the generic JSON, signed with
// HMAC-SHA256 that the receiver verifies; the body names plan, cluster,
// commit, run, step, condition, reason, message, figures and time.
func TestWebhookEveryKindSigned(t *testing.T) {
	r, srv := newReceiver(t, nil)
	secret := "s3cret-hmac-key"
	ds := newDeliveries()
	d := NewDispatcher([]Receiver{&Webhook{URL: srv.URL + "/hook", Secret: secret, Source: "plan"}}, Options{Record: ds.record})
	defer d.Close(context.Background())
	for i, k := range Kinds {
		d.Notify(sample(k, i))
	}
	r.wait(t, len(Kinds))
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, body := range r.bodies {
		if !Verify([]byte(secret), body, r.heads[i].Get(SignatureHeader)) {
			t.Errorf("event %d: signature %q does not verify", i, r.heads[i].Get(SignatureHeader))
		}
		if Verify([]byte("another"), body, r.heads[i].Get(SignatureHeader)) {
			t.Errorf("event %d: verifies under another secret", i)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		want := sample(Kinds[i], i)
		for k, v := range map[string]any{"id": want.ID, "event": Kinds[i], "plan": "edge", "cluster": "prod", "commit": want.Commit, "run": 2.0,
			"step": "pause_50", "condition": "Stalled", "reason": "GateFailed", "message": want.Message, "time": "2026-12-06T09:00:00Z"} {
			if m[k] != v {
				t.Errorf("event %d: %s = %v, want %v", i, k, m[k], v)
			}
		}
		if fig, _ := m["measured"].(map[string]any); fig["y_error_rate"] != "0.04" {
			t.Errorf("event %d: measured %v", i, m["measured"])
		}
		if r.heads[i].Get("X-Upshift-Event") != Kinds[i] || r.heads[i].Get("X-Upshift-Delivery") != want.ID {
			t.Errorf("event %d: headers %v", i, r.heads[i])
		}
	}
	for range Kinds {
		if x := ds.next(t); x.Result != Sent || x.Attempts != 1 || strings.Contains(x.Receiver, "/hook") {
			t.Errorf("delivery %+v", x)
		}
	}
}

// Slack gets a readable text naming the plan, what happened and why.
func TestSlackText(t *testing.T) {
	r, srv := newReceiver(t, nil)
	d := NewDispatcher([]Receiver{&Slack{URL: srv.URL + "/services/T000/B000/XXXX", Source: "plan"}}, Options{})
	defer d.Close(context.Background())
	d.Notify(sample(GateFailed, 1))
	r.wait(t, 1)
	var m map[string]string
	if err := json.Unmarshal(r.bodies[0], &m); err != nil {
		t.Fatal(err)
	}
	want := "*edge* (cluster prod): gate failed at pause_50 [GateFailed]\nerror rate 4% over 1%\nrun 2 · commit 0123456789ab"
	if m["text"] != want {
		t.Errorf("text %q, want %q", m["text"], want)
	}
}

// A receiver that is down (503) for its first answers gets the event
// once it is up, after retries with backoff; the delivery says how many
// attempts it took. One that stays down is reported failed after the
// bounded attempts, with an error that names neither its URL nor secret.
func TestReceiverDownThenUp(t *testing.T) {
	r, srv := newReceiver(t, func(n int) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	ds := newDeliveries()
	d := NewDispatcher([]Receiver{&Webhook{URL: srv.URL + "/up-later", Source: "plan"}},
		Options{Record: ds.record, Backoff: 10 * time.Millisecond, Attempts: 5})
	d.Notify(sample(Completed, 1))
	r.wait(t, 1)
	if x := ds.next(t); x.Result != Sent || x.Attempts != 4 {
		t.Errorf("down 3 times then up: %+v, want sent at attempt 4", x)
	}
	d.Close(context.Background())

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "token=hunter22 refused", http.StatusBadGateway)
	}))
	defer down.Close()
	secret := "hunter22"
	target := down.URL + "/T0/B0/secretpath"
	ds = newDeliveries()
	d = NewDispatcher([]Receiver{&Webhook{URL: target, Secret: secret, Source: "plan"}},
		Options{Record: ds.record, Backoff: time.Millisecond, Attempts: 3})
	d.Notify(sample(Stalled, 2))
	x := ds.next(t)
	if x.Result != Failed || x.Attempts != 3 || !strings.Contains(x.Error, "HTTP 502") {
		t.Errorf("always down: %+v, want failed after 3 attempts with HTTP 502", x)
	}
	if strings.Contains(x.Error, secret) || strings.Contains(x.Error, "secretpath") || strings.Contains(x.Receiver, "secretpath") {
		t.Errorf("the secret or the URL's path shows: %+v", x)
	}
	d.Close(context.Background())

	// Connection refused: the url.Error's URL is not in the error.
	closed := httptest.NewServer(http.NotFoundHandler())
	gone := closed.URL + "/T0/B0/secretpath"
	closed.Close()
	ds = newDeliveries()
	d = NewDispatcher([]Receiver{&Slack{URL: gone, Source: "plan"}}, Options{Record: ds.record, Backoff: time.Millisecond, Attempts: 2})
	d.Notify(sample(Stalled, 3))
	if x := ds.next(t); x.Result != Failed || strings.Contains(x.Error, "secretpath") || !strings.Contains(x.Error, "refused") {
		t.Errorf("refused: %+v", x)
	}
	d.Close(context.Background())
}

// A receiver that hangs does not block Notify nor the other receivers;
// its queue is bounded (an event past it is dropped and reported), and
// Close gives up on it when its context ends.
func TestHangingReceiver(t *testing.T) {
	release := make(chan struct{})
	hung := make(chan struct{}, 10)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		hung <- struct{}{}
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	r, fast := newReceiver(t, nil)
	ds := newDeliveries()
	d := NewDispatcher([]Receiver{&Webhook{URL: slow.URL, Source: "hangs"}, &Webhook{URL: fast.URL, Source: "fast"}},
		Options{Record: ds.record, Queue: 2, Timeout: time.Hour})
	for i := range 4 {
		d.Notify(sample(Kinds[i], i)) // returns although the first receiver hangs
		r.wait(t, 1)                  // the other receiver gets each meanwhile
		if i == 0 {
			<-hung // the hanging receiver holds the first; two wait; the last is dropped
		}
	}
	var dropped int
	for range 5 {
		x := ds.next(t)
		switch {
		case x.Result == Dropped && strings.HasPrefix(x.Receiver, "webhook (hangs)"):
			dropped++
		case x.Result == Sent && strings.HasPrefix(x.Receiver, "webhook (fast)"):
		default:
			t.Errorf("unexpected delivery %+v", x)
		}
	}
	if dropped != 1 {
		t.Errorf("%d dropped, want 1 (queue of 2 behind the one in flight)", dropped)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d.Close(ctx) // gives up on the hanging one at once
	for range 3 {
		if x := ds.next(t); x.Result != Failed {
			t.Errorf("after Close: %+v, want failed", x)
		}
	}
}

// Commit statuses: GitHub's and GitLab's request shapes, the states a run
// maps to, the token in the header, target_url the status page.
func TestCommitStatusShapes(t *testing.T) {
	for _, forge := range Forges {
		r, srv := newReceiver(t, nil)
		c := &CommitStatus{Forge: forge, API: srv.URL + "/api", Repo: "group/plans", Token: "tok-123456",
			TargetURL: func(p string) string { return "http://agent.example/?plan=" + p }}
		d := NewDispatcher([]Receiver{c}, Options{})
		d.Notify(Event{Event: RunStarted, Plan: "edge", Commit: "abc123"})
		d.Notify(Event{Event: Stalled, Plan: "edge"}) // no commit: not posted
		d.Notify(Event{Event: GateFailed, Plan: "edge", Commit: "abc123", Message: strings.Repeat("x", 300)})
		d.Notify(Event{Event: Completed, Plan: "edge", Commit: "abc123", Message: "converged on Kong 3.9.1"})
		r.wait(t, 3)
		d.Close(context.Background())
		var states []string
		for i, b := range r.bodies {
			var m map[string]string
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			states = append(states, m["state"])
			if m["target_url"] != "http://agent.example/?plan=edge" || len([]rune(m["description"])) > 140 {
				t.Errorf("%s: body %v", forge, m)
			}
			switch forge {
			case "github":
				if r.paths[i] != "/api/repos/group/plans/statuses/abc123" || m["context"] != "upshift/edge" || r.heads[i].Get("Authorization") != "Bearer tok-123456" {
					t.Errorf("github: %s %v %v", r.paths[i], m, r.heads[i])
				}
			case "gitlab":
				if r.paths[i] != "/api/projects/group/plans/statuses/abc123" || m["name"] != "upshift/edge" || r.heads[i].Get("PRIVATE-TOKEN") != "tok-123456" {
					t.Errorf("gitlab: %s %v %v", r.paths[i], m, r.heads[i])
				}
			}
		}
		want := map[string]string{"github": "pending,failure,success", "gitlab": "pending,failed,success"}[forge]
		if strings.Join(states, ",") != want {
			t.Errorf("%s: states %v, want %s", forge, states, want)
		}
	}
	for in, want := range map[string]string{"https://github.com/acme/plans.git": "acme/plans", "git@gitlab.com:grp/sub/plans.git": "grp/sub/plans",
		"ssh://git@host:22/acme/plans": "acme/plans", "https://host/plans.git": ""} {
		if got := RepoFromURL(in); got != want {
			t.Errorf("RepoFromURL(%q) = %q, want %q", in, got, want)
		}
	}
}
