package agent

import (
	"context"
	"time"

	"github.com/upshift-dev/upshift/agent/leader"
)

// RunWithLeader runs the agent only while el makes it the leader: the
// leader polls and applies; a follower serves status (read from the
// shared journal) and takes over when the leader's lock connection drops.
// Losing the lead cancels every running apply at once, which kills the
// steps' child processes (hooks and kong run in their own process groups
// under the apply's context); each plan's lease still fences its
// irreversible steps against a leader that has not noticed yet.
func (a *Agent) RunWithLeader(ctx context.Context, el *leader.Elector) error {
	watch, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			a.refreshRole(watch, el)
			select {
			case <-watch.Done():
				return
			case <-t.C:
			}
		}
	}()
	return el.Run(ctx, func(lctx context.Context) {
		a.SetRole(true, el.ID())
		a.log.Info("leading: this agent acts", "id", el.ID())
		_ = a.Run(lctx)
		a.log.Info("no longer leading: applies stopped", "id", el.ID(), "cause", context.Cause(lctx))
		a.SetRole(false, "")
		a.resetPlans()
	})
}

func (a *Agent) refreshRole(ctx context.Context, el *leader.Elector) {
	if el.IsLeader() {
		a.SetRole(true, el.ID())
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	id, err := el.Leader(rctx)
	if err != nil {
		id = ""
	}
	a.SetRole(false, id)
}

// resetPlans forgets the desired state after losing the lead: the next
// leadership starts from a fresh poll and the journal.
func (a *Agent) resetPlans() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.plans = map[string]*planState{}
	a.haveHead = false
}
