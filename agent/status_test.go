package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// fixedSource serves one snapshot: the status tests need a desired state,
// not a repository (the git source has its own tests).
type fixedSource struct{ snap Snapshot }

func (f fixedSource) Poll(context.Context) (Snapshot, bool, error) { return f.snap, true, nil }
func (f fixedSource) FilesAt(context.Context, string) (map[string][]byte, error) {
	return f.snap.Files, nil
}

// A valid plan whose X does not answer (the guard stops it), and a file
// with a lint error (the plan in it is invalid, the other one still runs).
const unreachablePlan = testenv.UnreachablePlan

const invalidPlan = `upgrade "broken" {
  cluster  = "core"
  strategy = "sideways"
}
`

func statusAgent(t *testing.T) (*Agent, *httptest.Server) {
	t.Helper()
	port := testenv.FreePort(t) // nothing listens: X is down
	src := strings.ReplaceAll(unreachablePlan, "PORT", strconv.Itoa(port))
	src = strings.ReplaceAll(src, "BACKUPS", t.TempDir())
	store, err := engine.OpenDir(t.TempDir(), engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	a, err := New(Config{Source: fixedSource{Snapshot{Commit: "0123456789abcdef0123", Author: "Alice <alice@example.com>",
		Files: map[string][]byte{"plans/edge.upshift.hcl": []byte(src), "plans/broken.upshift.hcl": []byte(invalidPlan)}}},
		Store: store, Holder: "agent-test",
		Engine: func(c *engine.Config) { c.WaitTimeout, c.RetryBase, c.Retries = time.Second, 10*time.Millisecond, 1 }})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PollOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.Wait()
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return a, srv
}

// TestStatusAPI: the invalid file does not stop the valid plan, which the
// guard stops because X does not answer; the status says both.
func TestStatusAPI(t *testing.T) {
	_, srv := statusAgent(t)
	resp, err := http.Get(srv.URL + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if s.Head != "0123456789abcdef0123" || len(s.Plans) != 2 {
		t.Fatalf("status: head %q, %d plans: %+v", s.Head, len(s.Plans), s.Plans)
	}
	broken, edge := s.Plans[0], s.Plans[1]
	if broken.Name != "broken" || broken.Condition.Reason != "Invalid" || !strings.Contains(broken.Condition.Message, "broken.upshift.hcl:3:") {
		t.Errorf("broken: %+v", broken.Condition)
	}
	if edge.Name != "edge-3-9" || edge.Condition.Reason != engine.ReasonPreconditionFail || !strings.Contains(edge.Condition.Message, "not reachable") {
		t.Errorf("edge: %+v", edge.Condition)
	}
	if len(edge.Journal) == 0 || edge.Commit != "0123456789abcdef0123" || edge.Author != "Alice <alice@example.com>" {
		t.Errorf("edge: journal %d lines, commit %q author %q", len(edge.Journal), edge.Commit, edge.Author)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		r, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Errorf("%s: %d %s", path, r.StatusCode, b)
		}
		if path == "/metrics" {
			for _, want := range []string{"upshift_polls_total 1", `upshift_head_commit_info{commit="0123456789abcdef0123"} 1`, `upshift_plans{condition="Stalled"} 2`, "upshift_step_duration_seconds_count{step=\"guard\"} 1"} {
				if !strings.Contains(string(b), want) {
					t.Errorf("/metrics lacks %q:\n%s", want, b)
				}
			}
		}
	}
}

// TestStatusPageInChromium renders the status page in headless Chromium
// (Debian's chromium) and checks the DOM its script built from the API.
func TestStatusPageInChromium(t *testing.T) {
	bin := testenv.NeedBinary(t, "chromium", "chromium")
	a, srv := statusAgent(t)
	// A measurement journaled by a pause: the page charts X's and Y's
	// error rate and p99.
	if _, err := a.cfg.Store.Append(context.Background(), engine.Record{Plan: "edge-3-9", Kind: engine.KindEvent, Event: engine.EventMeasurement,
		Details: map[string]string{"step": "pause_100", "analysis": "y_not_worse_than_x", "result": "passed", "value": "0.001",
			"x_error_rate": "0.001", "y_error_rate": "0.002", "x_p99_ms": "12", "y_p99_ms": "15"}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000", "--dump-dom", srv.URL+"/")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	dom := mainOf(string(out))
	for _, want := range []string{`data-plan="edge-3-9"`, `data-plan="broken"`, "PreconditionFailed", "Invalid",
		"blue_green · cluster edge · 3.9.0 → 3.9.1", "by Alice", `data-step="guard"`, "History of the run", "head 0123456789ab",
		`data-series="X"`, "p99 latency", `data-health="down"`, `data-split="100/0"`,
		`id="c-token" type="password"`, `<option value="edge-3-9">`} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if strings.Contains(dom, ">?<") || strings.Contains(dom, "AwaitingApprovaldecommission") {
		t.Errorf("a stray ? or glued words in the page")
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
}

// mainOf is the part of a dumped page its script rendered (the dump holds
// the script's own text too).
func mainOf(dom string) string {
	i, j := strings.Index(dom, "<body"), strings.Index(dom, "<script")
	if i < 0 || j < i {
		return ""
	}
	return dom[i:j]
}

func journalStore(t *testing.T) *engine.DirStore {
	t.Helper()
	store, err := engine.OpenDir(t.TempDir(), engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

func appendEvents(t *testing.T, store engine.Store, plan string, events ...engine.Record) {
	t.Helper()
	for _, r := range events {
		r.Plan, r.Kind = plan, engine.KindEvent
		if _, err := store.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func noted(n int) []engine.Record {
	out := make([]engine.Record, n)
	for i := range out {
		out[i] = engine.Record{Event: "note", Details: map[string]string{"reason": "Test", "message": strconv.Itoa(i)}}
	}
	return out
}

// TestStatusJournalFromRunStart: the status's journal is the current run
// from its run_started, whole up to the cap (maxJournal, the newest
// kept), with a count of the records left out; an event's reason and
// message are separated.
func TestStatusJournalFromRunStart(t *testing.T) {
	store := journalStore(t)
	appendEvents(t, store, "short", engine.Record{Event: engine.EventRunStarted}, engine.Record{Event: engine.EventRolledBack},
		engine.Record{Event: engine.EventRunStarted, Details: map[string]string{"run": "2"}})
	appendEvents(t, store, "short", noted(30)...)
	appendEvents(t, store, "short", engine.Record{Event: engine.EventStalled, Details: map[string]string{"reason": "AwaitingApproval", "message": "decommission needs approve"}})
	appendEvents(t, store, "long", engine.Record{Event: engine.EventRunStarted})
	appendEvents(t, store, "long", noted(maxJournal+5)...)
	a, err := New(Config{Source: fixedSource{}, Store: store, Holder: "agent-test"})
	if err != nil {
		t.Fatal(err)
	}
	s := a.Status(context.Background())
	if len(s.Plans) != 2 {
		t.Fatalf("plans: %+v", s.Plans)
	}
	long, short := s.Plans[0], s.Plans[1]
	if len(short.Journal) != 32 || short.Journal[0].What != engine.EventRunStarted || short.Journal[0].Seq != 3 || short.JournalOmitted != 2 {
		t.Errorf("short: %d lines from %+v, %d omitted; want 32 from run_started (seq 3), 2 omitted", len(short.Journal), short.Journal[0], short.JournalOmitted)
	}
	if last := short.Journal[len(short.Journal)-1]; last.Text != "AwaitingApproval: decommission needs approve" {
		t.Errorf("stalled event's text: %q", last.Text)
	}
	if short.Run == nil || short.Run.StartSeq != 3 || short.Run.Run != 2 {
		t.Errorf("short's run: %+v", short.Run)
	}
	if len(long.Journal) != maxJournal || long.JournalOmitted != 6 || long.Journal[len(long.Journal)-1].Seq != maxJournal+6 {
		t.Errorf("long: %d lines, %d omitted, last %+v", len(long.Journal), long.JournalOmitted, long.Journal[len(long.Journal)-1])
	}
}

// TestStatusWhileRunning: while an apply runs, the last apply's condition
// (here a gate it stopped at) is not shown: the status says what runs,
// and a rollback step is a rollback in progress.
func TestStatusWhileRunning(t *testing.T) {
	a, err := New(Config{Source: fixedSource{}, Store: journalStore(t), Holder: "agent-test"})
	if err != nil {
		t.Fatal(err)
	}
	a.plans["prod"] = &planState{Name: "prod", Running: true, Step: "rollback_stop_to", Title: "stop Y", Note: "draining",
		Condition: engine.Condition{Type: engine.ConditionStalled, Reason: engine.ReasonAwaitingApproval, Message: "decommission needs approve"},
		Preview:   &engine.Preview{Direction: "upgrade", Observed: engine.Observed{At: time.Now()}}}
	p := a.Status(context.Background()).Plans[0]
	want := engine.Condition{Type: engine.ConditionProgressing, Reason: engine.ReasonRollingBack, Message: "running rollback_stop_to (stop Y): draining"}
	if p.Condition != want || p.Direction != "rollback" {
		t.Errorf("while rolling back: %+v, direction %q; want %+v", p.Condition, p.Direction, want)
	}
}

// TestStatusRolledBackAfterRestart: an agent started on a journal whose
// plan was rolled back and then removed from the repository says so from
// the journal (not "Removed").
func TestStatusRolledBackAfterRestart(t *testing.T) {
	store := journalStore(t)
	appendEvents(t, store, "gone", engine.Record{Event: engine.EventRunStarted}, engine.Record{Event: engine.EventRollbackRequested, Details: map[string]string{"reason": "plan removed"}},
		engine.Record{Event: engine.EventRolledBack})
	a, err := New(Config{Source: fixedSource{Snapshot{Commit: "c2", Files: map[string][]byte{}}}, Store: store, Holder: "agent-test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PollOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.Wait()
	p := a.Status(context.Background()).Plans[0]
	if p.Name != "gone" || p.Condition.Type != engine.ConditionReady || p.Condition.Reason != engine.ReasonRolledBack {
		t.Errorf("after a restart: %+v", p.Condition)
	}
}

// failingRecords fails Records for one plan a number of times, then reads.
type failingRecords struct {
	engine.Store
	plan  string
	fails atomic.Int32
}

func (s *failingRecords) Records(ctx context.Context, plan string, since int64) ([]engine.Record, error) {
	if plan == s.plan && s.fails.Add(-1) >= 0 {
		return nil, errors.New("journal read failed (injected)")
	}
	return s.Store.Records(ctx, plan, since)
}

// TestRemovedPlanUnreadableJournalIsRetried: a plan removed from the
// repository while its run is in progress is rolled back even when the
// first read of its journal fails. Unknown is not "nothing to undo": the
// removal was once marked handled before the read, so a failed read
// skipped the rollback on every later poll (a revert during a rolling
// sandbox's pause_50 let the run go on to 100%).
func TestRemovedPlanUnreadableJournalIsRetried(t *testing.T) {
	inner := journalStore(t)
	appendEvents(t, inner, "gone", engine.Record{Event: engine.EventRunStarted})
	store := &failingRecords{Store: inner, plan: "gone"}
	a, err := New(Config{Source: fixedSource{Snapshot{Commit: "c2", Files: map[string][]byte{}}}, Store: store, Holder: "agent-test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	store.fails.Store(1)
	if err := a.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	a.Wait()
	p := a.Status(ctx).Plans[0]
	if p.Name != "gone" || p.Condition.Type != engine.ConditionStalled || p.Condition.Reason != engine.ReasonObservationFailed {
		t.Errorf("removed, journal unreadable: %+v; want Stalled/%s", p.Condition, engine.ReasonObservationFailed)
	}
	if err := a.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	a.Wait()
	a.mu.Lock()
	rollback := a.plans["gone"].Rollback
	a.mu.Unlock()
	if !strings.Contains(rollback, "plan removed in commit c2") {
		t.Errorf("after the journal reads again: rollback %q; want the removal's rollback", rollback)
	}
}

// TestStatusPageSelectsPlan renders /?plan=edge-3-9 (a commit status's
// link) in headless Chromium: that plan alone, selected; and a name the
// agent does not know: said so, every plan shown.
func TestStatusPageSelectsPlan(t *testing.T) {
	bin := testenv.NeedBinary(t, "chromium", "chromium")
	_, srv := statusAgent(t)
	render := func(query string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
			"--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000", "--dump-dom", srv.URL+"/"+query).Output()
		if err != nil {
			t.Fatalf("chromium: %v", err)
		}
		return mainOf(string(out))
	}
	dom := render("?plan=edge-3-9")
	if !strings.Contains(dom, `data-plan="edge-3-9" data-condition="Stalled/PreconditionFailed" data-selected="true"`) ||
		strings.Contains(dom, `data-plan="broken"`) || !strings.Contains(dom, "Showing plan edge-3-9 only") {
		t.Errorf("?plan=edge-3-9 does not show that plan alone, selected:\n%s", dom)
	}
	dom = render("?plan=nope")
	if !strings.Contains(dom, "No plan named nope") || !strings.Contains(dom, `data-plan="broken"`) ||
		!strings.Contains(dom, `data-plan="edge-3-9"`) || strings.Contains(dom, "data-selected") {
		t.Errorf("?plan=nope:\n%s", dom)
	}
}
