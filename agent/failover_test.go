package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/agent"
	"github.com/upshift-dev/upshift/agent/leader"
	"github.com/upshift-dev/upshift/internal/engine"
)

// TestLeaderFailover: two agents share one PostgreSQL journal and elect a
// leader. The leader upgrades a merged plan; during the rollout pause its
// lock connection is terminated (what a crash or a network cut does): it
// stops acting at once, the follower takes over, resumes from the journal
// and converges to the decommission gate. No request fails.
func TestLeaderFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	gw := newGitOpsWorld(t, ctx)
	journalDSN := gw.pg.NewDatabase(t)

	o := haOptions{dsn: journalDSN, repoURL: gw.g.RepoURL("plans"), interval: 200 * time.Millisecond, engine: fastEngine}
	leaderNode, follower := electLeader(t, startHANode(t, ctx, o, "agent-a"), startHANode(t, ctx, o, "agent-b"))

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
			time.Sleep(50 * time.Millisecond) // polling with a deadline
		}
	}
	gw.push(map[string]string{"plans/prod.upshift.hcl": gw.planFile("")}, "upgrade prod")
	wait("the leader's rollout pause", func() bool { p := plan(leaderNode); return p.Running && p.Step == "pause_10" })
	if plan(follower).Running {
		t.Fatal("the follower is applying too")
	}

	// Kill the leader's lock connection during the pause.
	c, err := pgx.Connect(ctx, journalDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`,
		leader.AppNamePrefix+leaderNode.id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminate the leader's connection: %d %v", n, err)
	}
	wait("the follower to lead", func() bool { return follower.el.IsLeader() })
	wait("the old leader to stop applying", func() bool { return !plan(leaderNode).Running })
	wait("the new leader to converge", func() bool {
		p := plan(follower)
		return !p.Running && p.Condition.Reason == engine.ReasonAwaitingApproval
	})
	res := gw.load()
	t.Logf("load through nginx: %d requests, %d failed", res.Requests, res.Failed)
	if res.Failed != 0 {
		t.Errorf("%d requests failed: %v", res.Failed, res.Errors)
	}
	// The journal shows both agents' work on the plan.
	recs, err := follower.store.Records(ctx, "prod-3-9", 0)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]int{}
	for _, r := range recs {
		by[r.Actor.Agent]++
	}
	t.Logf("journal: %d records; by writer %v", len(recs), by)
	if by["agent "+leaderNode.id] == 0 || by["agent "+follower.id] == 0 {
		t.Errorf("the journal should hold records of both agents: %v", by)
	}
}
