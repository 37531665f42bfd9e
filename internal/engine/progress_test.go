package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/plan"
)

// TestReportSkippedKeepsNumbering: steps found done without running in
// this run (migrations_finish with nothing pending, rollback_start_from
// with X up) are reported as skipped with their number, so the numbers
// go on without a gap; steps up to the last one the run ran are not
// reported again (an apply that resumes), and each is reported once.
func TestReportSkippedKeepsNumbering(t *testing.T) {
	var got []string
	e := &Engine{plan: &plan.Plan{Name: "p"}, log: slog.New(slog.DiscardHandler), cfg: Config{Progress: func(p Progress) {
		got = append(got, fmt.Sprintf("%s [%d/%d] %s: %s", p.Phase, p.Index, p.Total, p.Step, p.Message))
	}}}
	names := []string{"guard", "backup", "migrations_up", "migrations_finish", "start_to", "checks"}
	d := decision{next: 4}
	for i, n := range names {
		d.steps = append(d.steps, step{name: n})
		v := StepView{Name: n, Status: StatusDone, Reason: "done earlier"}
		if n == "migrations_finish" {
			v.Reason = "no pending migrations for 3.9.1"
		}
		if i >= d.next {
			v.Status = StatusPending
		}
		d.views = append(d.views, v)
	}
	h := &history{ok: map[string]Record{"guard": {}, "backup": {}, "migrations_up": {}}}
	reported := map[string]bool{}
	e.reportSkipped(h, d, reported)
	e.reportSkipped(h, d, reported) // the next pass: not again
	want := []string{"skipped [4/6] migrations_finish: no pending migrations for 3.9.1"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("reported:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A resumed apply (start_to ran after it in an earlier pass) does not
	// report it again.
	got = nil
	h.ok["start_to"] = Record{}
	d.next = 5
	d.views[4].Status = StatusDone
	e.reportSkipped(h, d, map[string]bool{})
	if len(got) != 0 {
		t.Fatalf("a resumed apply reported %q", got)
	}
}

// TestProgressIsLogged: what apply shows is also logged, so that
// --log-level and --log-format change what one gets: at debug every
// report including waits, as JSON with the JSON handler; at info all but
// waits; at apply's default warn nothing (its output shows them already).
// Secrets are masked in both.
func TestProgressIsLogged(t *testing.T) {
	var b bytes.Buffer
	var shown []string
	e := &Engine{plan: &plan.Plan{Name: "p"}, drv: &Drivers{Secrets: []string{"hunter22"}},
		log: slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})),
		cfg: Config{Progress: func(p Progress) { shown = append(shown, p.Message) }}}
	e.progress(Progress{Step: "start_to", Title: "start Y", Phase: PhaseStart, Index: 6, Total: 14})
	e.progress(Progress{Step: "start_to", Phase: PhaseWait, Index: 6, Total: 14, Remaining: 55 * time.Second, Message: "waiting for Y to be ready"})
	e.progress(Progress{Step: "start_to", Phase: PhaseFailed, Index: 6, Total: 14, Message: "hook: password=hunter22 refused"})
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON log line: %q", l)
		}
		recs = append(recs, m)
	}
	if len(recs) != 3 || recs[0]["msg"] != "start Y" || recs[0]["step"] != "start_to" || recs[1]["level"] != "DEBUG" ||
		recs[1]["remaining"] == nil || recs[2]["level"] != "INFO" {
		t.Errorf("log:\n%s", b.String())
	}
	if strings.Contains(b.String(), "hunter22") || strings.Contains(strings.Join(shown, "\n"), "hunter22") {
		t.Errorf("a secret was logged or shown:\n%s\n%q", b.String(), shown)
	}
	b.Reset()
	e.log = slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e.progress(Progress{Step: "start_to", Phase: PhaseWait, Message: "waiting"})
	e.progress(Progress{Step: "start_to", Phase: PhaseFailed, Message: "refused"})
	if b.Len() != 0 {
		t.Errorf("at warn, a wait and a failed step are logged:\n%s", b.String())
	}
}
