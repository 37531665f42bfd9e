package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/agent"
	"github.com/upshift-dev/upshift/agent/leader"
	"github.com/upshift-dev/upshift/internal/engine"
)

// TestRuntimeControlsSurviveFailoverAndRestart: two agents on one
// PostgreSQL journal; the plan is in its 6 s rollout pause at 10% on the
// leader. upshift pause sent to the follower's API holds the leader's
// pause (its countdown stops: the leader reports the hold, pause_10 does
// not end). The leader's lock connection is cut: the follower takes over
// and holds the plan Paused at pause_10, the load balancer still routing
// 90/10. That agent is stopped and a new one started (a restart with an
// empty memory): Paused again, still 90/10. resume continues to the
// decommission gate; approve of an item the run does not wait for is
// refused; abort at the gate rolls back: all traffic to X, Y stopped.
// Then run = 2 reaches the gate again and approve decommission crosses
// it. No request through nginx fails.
func TestRuntimeControlsSurviveFailoverAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	gw := newGitOpsWorld(t, ctx)
	journalDSN := gw.pg.NewDatabase(t)
	const token = "admin-token-for-the-test"

	o := haOptions{dsn: journalDSN, repoURL: gw.g.RepoURL("plans"), interval: 200 * time.Millisecond, adminToken: token, engine: fastEngine}
	start := func(id string) *haNode { return startHANode(t, ctx, o, id) }
	plan := func(n *haNode) agent.PlanStatus {
		for _, p := range n.a.Status(ctx).Plans {
			if p.Name == "prod-3-9" {
				return p
			}
		}
		return agent.PlanStatus{}
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s", what)
			}
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: %v", what, ctx.Err())
			case <-time.After(50 * time.Millisecond): // polling with a deadline
			}
		}
	}
	// post is what upshift pause|resume|approve|abort sends.
	post := func(n *haNode, action, item string) (int, string) {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"item": item, "reason": "test " + action, "by": "carol"})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.url+"/api/v1/plans/prod-3-9/"+action, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		return resp.StatusCode, body.String()
	}
	mustPost := func(n *haNode, action, item string) {
		t.Helper()
		if code, body := post(n, action, item); code != http.StatusOK {
			t.Fatalf("%s on %s: %d %s", action, n.id, code, body)
		}
	}
	split := func() string {
		w := weights(t, gw.ng.UpstreamFile())
		if i := strings.Index(w, "Split: "); i >= 0 {
			w = w[i:]
			if j := strings.IndexByte(w, '\n'); j >= 0 {
				w = w[:j]
			}
		}
		return w
	}
	outcomes := func(step string) []string {
		store, err := engine.OpenPostgres(ctx, journalDSN)
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		recs, err := store.Records(ctx, "prod-3-9", 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range recs {
			if r.Kind == engine.KindOutcome && r.Step == step {
				out = append(out, string(r.Result))
			}
		}
		return out
	}

	lead, follow := electLeader(t, start("agent-a"), start("agent-b"))
	gw.push(map[string]string{"plans/prod.upshift.hcl": gw.planFile("")}, "upgrade prod")
	wait("the leader's rollout pause", func() bool { p := plan(lead); return p.Running && p.Step == "pause_10" })

	// Pause through the follower: the leader's running pause holds.
	mustPost(follow, "pause", "")
	wait("the leader to hold pause_10", func() bool {
		p := plan(lead)
		return p.Running && p.Step == "pause_10" && strings.Contains(p.Condition.Message, "does not count down")
	})
	if got := outcomes("pause_10"); len(got) != 0 {
		t.Fatalf("pause_10 ended while paused: %v", got)
	}

	// Leader change: cut the leader's lock connection.
	c, err := pgx.Connect(ctx, journalDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`,
		leader.AppNamePrefix+lead.id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminate the leader's connection: %d %v", n, err)
	}
	wait("the follower to lead", func() bool { return follow.el.IsLeader() })
	lead.stop() // the old leader leaves: the next leader is a restarted agent
	wait("the new leader to hold the plan Paused", func() bool {
		p := plan(follow)
		return !p.Running && p.Condition.Reason == engine.ReasonPaused
	})
	if s := split(); !strings.Contains(s, "from 90% / to 10%") {
		t.Fatalf("split while paused after the failover: %q", s)
	}
	if got := outcomes("pause_10"); strings.Contains(strings.Join(got, " "), "ok") {
		t.Fatalf("pause_10 outcomes after the failover: %v", got)
	}

	// Restart: stop that agent, start a new one with an empty memory.
	follow.stop()
	r := start("agent-c")
	wait("the restarted agent to lead", func() bool { return r.el.IsLeader() })
	wait("the restarted agent to hold the plan Paused", func() bool {
		p := plan(r)
		return !p.Running && p.Condition.Reason == engine.ReasonPaused && strings.Contains(p.Condition.Message, "paused by carol")
	})
	if s := split(); !strings.Contains(s, "from 90% / to 10%") {
		t.Fatalf("split while paused after the restart: %q", s)
	}
	// Shown in the status's journal lines, with who and why.
	var shown bool
	for _, l := range plan(r).Journal {
		shown = shown || l.What == engine.EventPaused && l.Text == "paused by carol: test pause"
	}
	if !shown {
		t.Errorf("the status's journal does not show the pause: %+v", plan(r).Journal)
	}

	// Resume: on to the decommission gate.
	mustPost(r, "resume", "")
	wait("the decommission gate", func() bool {
		p := plan(r)
		return !p.Running && p.Condition.Reason == engine.ReasonAwaitingApproval
	})
	if code, body := post(r, "approve", "finish"); code != http.StatusConflict || !strings.Contains(body, "not waiting for approval") {
		t.Errorf("approve of an item the run does not wait for: %d %s", code, body)
	}
	// Abort at the gate: rolled back, all traffic to X.
	mustPost(r, "abort", "")
	wait("the abort's rollback", func() bool {
		p := plan(r)
		return !p.Running && p.Condition.Reason == engine.ReasonRolledBack
	})
	if s := split(); !strings.Contains(s, "from 100% / to 0%") || gw.f.Running("y") || !gw.f.Running("x") {
		t.Fatalf("after the abort: split %q, x running %v, y running %v", s, gw.f.Running("x"), gw.f.Running("y"))
	}
	if msg := plan(r).Condition.Message; !strings.Contains(msg, "abort requested by carol: test abort") {
		t.Errorf("rolled back for: %q", msg)
	}

	// run = 2: the gate again; upshift approve crosses it.
	gw.push(map[string]string{"plans/prod.upshift.hcl": gw.planFile("  run = 2\n")}, "upgrade prod again: run 2")
	wait("run 2's decommission gate", func() bool {
		p := plan(r)
		return !p.Running && p.Condition.Reason == engine.ReasonAwaitingApproval && p.Run != nil && p.Run.Run == 2
	})
	mustPost(r, "approve", "decommission")
	wait("the decommission", func() bool {
		p := plan(r)
		return !p.Running && p.Condition.Reason == engine.ReasonConverged
	})
	if gw.f.Running("x") {
		t.Error("X still runs after the approved decommission")
	}
	if res := gw.load(); res.Failed != 0 {
		t.Errorf("%d of %d requests failed: %v", res.Failed, res.Requests, res.Errors)
	}
}
