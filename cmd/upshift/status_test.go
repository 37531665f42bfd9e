package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/agent"
	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestStatus reads an agent's /api/v1/status and prints it as a table or
// JSON; an unreachable agent is exit 1, a missing --agent exit 2.
func TestStatus(t *testing.T) {
	st := agent.Status{Time: time.Now().UTC(), Agent: "agent-a", Role: "leader", Head: "0123456789abcdef", Author: "Alice <a@example.com>",
		Signer: "alice@example.com (SSH key SHA256:abc)",
		Plans: []agent.PlanStatus{
			{Name: "prod-eu-3.9", Strategy: "dual_cluster", From: "3.8.0", To: "3.9.1", Running: true, Step: "pause_50",
				Condition: engine.Condition{Type: engine.ConditionProgressing, Reason: engine.ReasonStepsPending, Message: "next: pause_50"},
				Traffic:   &agent.TrafficSplit{From: 50, To: 50},
				X:         &agent.SideStatus{Planned: "3.8.0", Version: "3.8.0", Health: "ready"}, Y: &agent.SideStatus{Planned: "3.9.1", Version: "3.9.1", Health: "not_ready"},
				Steps: []agent.StepStatus{{StepView: engine.StepView{Name: "guard", Status: engine.StatusDone}, State: "done"}, {StepView: engine.StepView{Name: "pause_50", Status: engine.StatusNext}, State: "running"}},
				Gates: []agent.JournalLine{{What: "checks", Result: "ok", Text: "key_auth_rejects_anonymous passed"}}},
			{Name: "rolled-back", Condition: engine.Condition{Type: engine.ConditionReady, Reason: engine.ReasonRolledBack, Message: "rolled back"},
				RunNote: "run 1 rolled back; to upgrade again, remove rollback { requested = true } and set run = 2"},
			{Name: "broken", Condition: engine.Condition{Type: engine.ConditionStalled, Reason: "Invalid", Message: "plans/broken.upshift.hcl:3:14: unknown strategy"}},
		}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/status" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(st)
	}))
	defer srv.Close()
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), args, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		return code, out.String(), errOut.String()
	}
	code, out, errOut := run("status", "--agent", srv.URL)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Agent agent-a (leader), head 0123456789ab by Alice <a@example.com>, signed by alice@example.com (SSH key SHA256:abc)", "prod-eu-3.9", "3.8.0 → 3.9.1", "3.8.0 ready / 3.9.1 not_ready", "Progressing/StepsPending", "pause_50", "50/50", "Stalled/Invalid", "Gates of prod-eu-3.9:"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = run("status", "--agent", srv.URL, "--plan", "prod-eu-3.9")
	if code != exitOK || strings.Contains(out, "broken") || !strings.Contains(out, "Steps of prod-eu-3.9:") {
		t.Errorf("--plan: exit %d\n%s", code, out)
	}
	// As upshift plan does, --plan says how to upgrade again.
	code, out, _ = run("status", "--agent", srv.URL, "--plan", "rolled-back")
	if want := "\nNext run: run 1 rolled back; to upgrade again, remove rollback { requested = true } and set run = 2.\n"; code != exitOK || !strings.Contains(out, want) {
		t.Errorf("--plan rolled-back: exit %d, no %q:\n%s", code, want, out)
	}
	code, out, _ = run("status", "--agent", srv.URL, "--format", "json")
	var back agent.Status
	if code != exitOK || json.Unmarshal([]byte(out), &back) != nil || len(back.Plans) != 3 {
		t.Errorf("json: exit %d\n%s", code, out)
	}
	if code, _, errOut = run("status", "--agent", "http://127.0.0.1:"+strconv.Itoa(testenv.FreePort(t))); code != exitFail || !strings.Contains(errOut, "reach the agent") {
		t.Errorf("unreachable agent: exit %d %s", code, errOut)
	}
	if code, _, _ = run("status"); code != exitUsage {
		t.Errorf("no --agent: exit %d, want %d", code, exitUsage)
	}
}
