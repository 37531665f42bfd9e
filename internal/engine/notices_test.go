package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/notify"
)

// sinkFunc is a Sink that calls a function.
type sinkFunc func(notify.Event)

func (f sinkFunc) Notify(ev notify.Event) { f(ev) }

// TestNoticesFromTheJournal: each journal record the engine writes for an
// event a person wants to hear about becomes one notification, with the
// plan, cluster, commit, run, step, condition, reason, message and, for a
// failed gate, the last measurement's figures; the others (intents, a
// measurement, a stall at a gate already announced) none.
func TestNoticesFromTheJournal(t *testing.T) {
	ctx := context.Background()
	store, err := OpenDir(t.TempDir(), DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var got []notify.Event
	e, err := New(Config{Plan: lintedPlanNoWorld(t), Store: store, Notify: sinkFunc(func(ev notify.Event) { got = append(got, ev) })})
	if err != nil {
		t.Fatal(err)
	}
	lease, err := store.Acquire(ctx, "p", "test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	j := &Journal{Store: store, Lease: lease, Commit: "c0ffee", Notice: e.notice}
	ev := func(name string, d map[string]string) {
		t.Helper()
		if _, err := j.Event(ctx, name, d); err != nil {
			t.Fatal(err)
		}
	}
	ev(EventRunStarted, map[string]string{"run": "3"})
	ev(EventAwaitingApproval, map[string]string{"step": "decommission", "approve": "decommission"})
	ev(EventStalled, map[string]string{"reason": ReasonAwaitingApproval, "message": "gate"}) // said by awaiting_approval
	in, err := j.Intent(ctx, "decommission", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Outcome(ctx, in, ResultOK, nil, "", time.Second); err != nil {
		t.Fatal(err)
	}
	in, _ = j.Intent(ctx, "checks", 1, nil)
	_, _ = j.Outcome(ctx, in, ResultOK, nil, "", time.Second) // not a point of no return
	ev(EventMeasurement, map[string]string{"step": "pause_50", "analysis": "errors", "y_error_rate": "0.04", "x_error_rate": "0.001"})
	ev(EventGate, map[string]string{"gate": "pause_50", "result": "failed", "message": "errors: 4% over 1%"})
	ev(EventRollbackRequested, map[string]string{"reason": "errors: 4% over 1%", "gate": "pause_50"})
	ev(EventRolledBack, map[string]string{"reason": "errors: 4% over 1%", "automatic": "1"})
	ev(EventStalled, map[string]string{"reason": ReasonDriftDetected, "message": driftPrefix + " (…)"})
	ev(EventStalled, map[string]string{"reason": ReasonStepFailed, "message": "start_to failed 3 times"})
	ev(EventCompleted, nil)

	var kinds []string
	for _, g := range got {
		kinds = append(kinds, g.Event)
		if g.Plan != "p" || g.Cluster != "c" || g.Commit != "c0ffee" || g.Time.IsZero() || !strings.HasPrefix(g.ID, "p/") || g.Message == "" {
			t.Errorf("%s: %+v", g.Event, g)
		}
	}
	want := []string{notify.RunStarted, notify.AwaitingApproval, notify.NoReturnCrossed, notify.GateFailed, notify.RolledBack,
		notify.DriftDetected, notify.Stalled, notify.Completed}
	if strings.Join(kinds, " ") != strings.Join(want, " ") {
		t.Fatalf("notifications %v\nwant          %v", kinds, want)
	}
	by := map[string]notify.Event{}
	for _, g := range got {
		by[g.Event] = g
	}
	if g := by[notify.RunStarted]; g.Run != 3 || g.Condition != ConditionProgressing {
		t.Errorf("run_started: %+v", g)
	}
	if g := by[notify.AwaitingApproval]; g.Step != "decommission" || g.Reason != ReasonAwaitingApproval || !strings.Contains(g.Message, `add "decommission" to approve`) {
		t.Errorf("awaiting_approval: %+v", g)
	}
	if g := by[notify.NoReturnCrossed]; g.Step != "decommission" {
		t.Errorf("no return: %+v", g)
	}
	if g := by[notify.GateFailed]; g.Step != "pause_50" || g.Measured["y_error_rate"] != "0.04" || g.Reason != ReasonGateFailed {
		t.Errorf("gate_failed: %+v", g)
	}
	if g := by[notify.RolledBack]; !strings.Contains(g.Message, "automatically, after a failed gate") || g.Reason != ReasonRolledBack {
		t.Errorf("rolled_back: %+v", g)
	}
	if g := by[notify.DriftDetected]; g.Reason != ReasonDriftDetected || g.Condition != ConditionStalled {
		t.Errorf("drift: %+v", g)
	}
	if g := by[notify.Completed]; g.Condition != ConditionReady || g.Message != "converged on Kong 3.9.1" {
		t.Errorf("completed: %+v", g)
	}
}

// TestNotifyHangingReceiverDoesNotSlowTheRun is the apply path on the
// DB-less rolling world with the plan's notify blocks: a webhook whose
// receiver verifies the HMAC signature gets run_started, awaiting_approval,
// point_of_no_return_crossed, completed and stalled, each journaled as
// sent; a Slack webhook that never answers holds its first request the
// whole time, and the runs finish anyway: the evidence is the order (every
// step's outcome is journaled while that request is still unanswered),
// not a clock.
func TestNotifyHangingReceiverDoesNotSlowTheRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newRollingWorld(t)
	const secret = "notify-test-secret"
	var mu sync.Mutex
	var got []map[string]any
	var badSig int
	good := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if !notify.Verify([]byte(secret), body, r.Header.Get(notify.SignatureHeader)) {
			badSig++
			http.Error(rw, "bad signature", http.StatusUnauthorized)
			return
		}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		got = append(got, m)
	}))
	defer good.Close()
	release := make(chan struct{})
	hung := make(chan string, 100)
	hang := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hung <- string(body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()

	blocks := fmt.Sprintf("  notify \"webhook\" {\n    url    = %q\n    secret = env(\"NOTIFY_SECRET\")\n  }\n  notify \"slack\" {\n    webhook_url = env(\"SLACK_URL\")\n  }\n", good.URL+"/hook")
	lookup := func(n string) (string, bool) {
		v, ok := map[string]string{"NOTIFY_SECRET": secret, "SLACK_URL": hang.URL + "/services/T0/B0/x"}[n]
		return v, ok
	}
	p := lintedPlan(t, w.planSrc(blocks))
	rs, err := notify.FromPlan(p, lookup)
	if err != nil || len(rs) != 2 {
		t.Fatalf("receivers %v %v", rs, err)
	}
	d := notify.NewDispatcher(rs, notify.Options{Timeout: time.Hour, Record: DeliveryRecorder(ctx, w.store, Actor{})})
	defer func() {
		close(release) // first: Close waits for the request in flight
		d.Close(ctx)
	}()
	apply := func(extra string) Outcome {
		t.Helper()
		out, err := engineFor(t, lintedPlan(t, w.planSrc(blocks+extra)), w.sim, w.store, func(c *Config) { c.Notify = d }).Apply(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, tm := range out.Timing {
			t.Logf("step %s: %s", tm.Step, tm.Wall.Round(time.Millisecond))
		}
		return out
	}
	if out := apply(""); out.Condition.Reason != ReasonAwaitingApproval {
		t.Fatalf("run: %+v, want the decommission gate", out.Condition)
	}
	first := <-hung // the hanging receiver holds run_started from here on
	if out := apply("  approve = [\"decommission\"]\n"); out.Condition.Reason != ReasonConverged {
		t.Fatalf("decommission: %+v", out.Condition)
	}
	if out := apply("  approve = [\"decommission\"]\n  rollback {\n    requested = true\n  }\n"); out.Condition.Reason != ReasonRestoreNeeded {
		t.Fatalf("rollback after the point of no return: %+v", out.Condition)
	}
	// The runs are over and the hanging receiver has had only its first
	// request, still unanswered.
	if !strings.Contains(first, "run started") || len(hung) != 0 {
		t.Fatalf("hanging receiver: first %q, %d more requests; want run started only", first, len(hung))
	}
	want := []string{notify.RunStarted, notify.AwaitingApproval, notify.NoReturnCrossed, notify.Completed, notify.Stalled}
	var kinds []string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		kinds = kinds[:0]
		for _, m := range got {
			kinds = append(kinds, fmt.Sprint(m["event"]))
		}
		mu.Unlock()
		if len(kinds) >= len(want) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling the receiver, bounded by the deadline
	}
	if strings.Join(kinds, " ") != strings.Join(want, " ") || badSig != 0 {
		t.Fatalf("good receiver got %v (%d bad signatures), want %v", kinds, badSig, want)
	}
	mu.Lock()
	for _, m := range got {
		if m["plan"] != "edge-rolling" || m["cluster"] != "edge" || m["time"] == "" || m["message"] == "" {
			t.Errorf("event JSON %v", m)
		}
	}
	mu.Unlock()
	// Each delivery to the good receiver is journaled as sent; the
	// receiver's URL is not in the journal.
	var sent int
	for time.Now().Before(deadline) {
		recs, err := w.store.Records(ctx, "edge-rolling", 0)
		if err != nil {
			t.Fatal(err)
		}
		sent = 0
		for _, r := range recs {
			if r.Event != EventNotification {
				continue
			}
			if strings.Contains(fmt.Sprint(r.Details), good.URL) || strings.Contains(fmt.Sprint(r.Details), hang.URL) {
				t.Fatalf("a receiver's URL in the journal: %v", r.Details)
			}
			if r.Details["result"] == notify.Sent && r.Details["attempts"] == "1" {
				sent++
			}
		}
		if sent >= len(want) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if sent != len(want) {
		t.Errorf("%d deliveries journaled as sent, want %d", sent, len(want))
	}
}
