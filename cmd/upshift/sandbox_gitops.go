package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/agent"
	"github.com/upshift-dev/upshift/agent/gitsource"
	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// runGitOps is sandbox --gitops: the plan goes into a git repository
// served by a real git server; the agent polls it and upgrades; a git
// revert of the commit rolls the upgrade back.
func (sb *sandbox) runGitOps(ctx context.Context, t testing.TB, store engine.Store) error {
	g := testenv.GitServer(t)
	work, _ := g.NewRepo(t, "plans", map[string]string{"README.md": "Upgrade plans for the sandbox's Kong.\n"})
	sb.say("- git server at %s (git http-backend), repository plans.git", g.URL())
	extra := ""
	if sb.strategy == "in_place" {
		// A revert after the migrations can only go back by restoring the
		// backup into X's database: the plan gives that consent up front.
		extra = "  rollback {\n    restore = true\n  }\n"
		sb.say("- in place: the plan says rollback { restore = true }, so a revert after the migrations restores the backup")
	}
	if err := sb.writePlan(extra); err != nil {
		return err
	}
	plan, err := os.ReadFile(sb.planPath())
	if err != nil {
		return err
	}
	src, err := gitsource.Open(gitsource.Config{URL: g.RepoURL("plans"), Path: "plans", Dir: filepath.Join(sb.dir, "agent-repo")})
	if err != nil {
		return err
	}
	a, err := agent.New(agent.Config{Source: src, Store: store, Interval: 500 * time.Millisecond, Holder: "sandbox-agent", Logger: sb.log,
		Engine: func(c *engine.Config) {
			c.Drain, c.WaitTimeout, c.RetryBase = time.Second, 60*time.Second, 200*time.Millisecond
		}})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	sb.say("- agent polling every 0.5 s; status page http://%s/ (upshift status --agent http://%s)", l.Addr(), l.Addr())
	actx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	defer func() { stop(); <-done }()

	name := "sandbox-" + sb.strategy
	// The agent's steps are printed from its journal (every intent and
	// outcome, in order), not from samples of its status: a step of a few
	// milliseconds falls between two samples. The status only says when to
	// stop watching.
	var lastSeq int64
	var lastReason string
	printJournal := func() error {
		recs, err := store.Records(ctx, name, lastSeq)
		if err != nil {
			return fmt.Errorf("read the agent's journal: %w", err)
		}
		for _, r := range recs {
			lastSeq = r.Seq
			at := r.Time.Local().Format("15:04:05")
			switch r.Kind {
			case engine.KindIntent:
				sb.say("%s agent: %s", at, r.Step)
			case engine.KindOutcome:
				head := fmt.Sprintf("%s agent: %s: %s", at, r.Step, r.Result)
				if r.Error != "" {
					head += ": "
				}
				sb.say("%s", wrap(head, r.Error, 13, outputWidth(sb.out)))
			}
		}
		return nil
	}
	watch := func(what string, until func(agent.PlanStatus) bool) (agent.PlanStatus, error) {
		deadline := time.Now().Add(3 * time.Minute)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			var p agent.PlanStatus
			for _, q := range a.Status(ctx).Plans {
				if q.Name == name {
					p = q
				}
			}
			// The status is read first: every record up to what it shows
			// is in the journal by then.
			if err := printJournal(); err != nil {
				return p, err
			}
			if p.Condition.Reason != lastReason && !p.Running && p.Condition.Reason != "" {
				sb.say("%s", wrap(fmt.Sprintf("%s agent: %s/%s: ", time.Now().Format("15:04:05"), p.Condition.Type, p.Condition.Reason), p.Condition.Message, 13, outputWidth(sb.out)))
				lastReason = p.Condition.Reason
			}
			if until(p) {
				return p, nil
			}
			if time.Now().After(deadline) {
				return p, fmt.Errorf("waited 3m for %s: %s/%s %s", what, p.Condition.Type, p.Condition.Reason, p.Condition.Message)
			}
			select {
			case <-ctx.Done():
				return p, ctx.Err()
			case <-tick.C:
			}
		}
	}

	sb.say("\n== git commit: plans/%s.upshift.hcl (the upgrade)", sb.strategy)
	commit := g.CommitFiles(t, work, map[string]string{"plans/" + sb.strategy + ".upshift.hcl": string(plan)}, "Upgrade the sandbox Kong to "+sb.vars["To"].(string))
	g.Git(t, work, "push", "--quiet", "origin", "main")
	if _, err := watch("the rollout", func(p agent.PlanStatus) bool {
		return p.Running && p.Step == "pause_50" || !p.Running && p.Condition.Reason == engine.ReasonAwaitingApproval
	}); err != nil {
		return err
	}
	sb.say("\n== git revert %s (while the upgrade is in progress)", commit[:12])
	g.Git(t, work, "revert", "--no-edit", commit)
	g.Git(t, work, "push", "--quiet", "origin", "main")
	p, err := watch("the rollback", func(p agent.PlanStatus) bool {
		// RestoreNeeded does not change by waiting: stop there.
		return !p.Running && (p.Condition.Reason == engine.ReasonRolledBack || p.Condition.Reason == engine.ReasonRestoreNeeded)
	})
	if err != nil {
		return err
	}
	if p.Condition.Reason != engine.ReasonRolledBack {
		return fmt.Errorf("the rollback stopped with %s/%s: %s", p.Condition.Type, p.Condition.Reason, p.Condition.Message)
	}
	return sb.showStateFrom(ctx, store, string(plan))
}

// showStateFrom prints the observation for plan source src.
func (sb *sandbox) showStateFrom(ctx context.Context, store engine.Store, src string) error {
	if err := os.WriteFile(sb.planPath(), []byte(src), 0o644); err != nil {
		return err
	}
	return sb.showState(ctx, store, "")
}
