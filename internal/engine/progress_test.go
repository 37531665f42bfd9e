package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/plan"
)

// TestReportSkippedKeepsNumbering: steps found done without running in
// this run (migrations_finish with nothing pending, rollback_start_from
// with X up) are reported as skipped with their number, so the numbers
// go on without a gap; steps up to the last one the run ran are not
// reported again (an apply that resumes), and each is reported once.
func TestReportSkippedKeepsNumbering(t *testing.T) {
	var got []string
	e := &Engine{plan: &plan.Plan{Name: "p"}, cfg: Config{Progress: func(p Progress) {
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
