package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/upshift-dev/upshift/agent/leader"
	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/schema"
)

// PollRequests is the journal that carries poll requests from standbys
// to the leader: a standby that receives a webhook appends an event here
// and the leader, which reads it every second, polls. No plan may take
// its name: lint refuses names starting with schema.ReservedPrefix (UP038),
// and the agent does not list it among the plans.
const PollRequests = schema.ReservedPrefix + "agent.poll-requests"

// eventPollRequested is a poll request's event name.
const eventPollRequested = "poll_requested"

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
			a.watchPollRequests(watch, el)
			select {
			case <-watch.Done():
				return
			case <-t.C:
			}
		}
	}()
	return el.Run(ctx, func(lctx context.Context) {
		// Requests made before this lead are answered by its first poll.
		a.skipPollRequests(lctx)
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

// RequestPoll asks for a poll now on behalf of a webhook. The leader (or
// an agent running alone) polls itself; a standby, which does not poll,
// journals the request for the leader. An error means the request was not
// recorded: the webhook's sender is told so.
func (a *Agent) RequestPoll(ctx context.Context, provider, after, delivery string) error {
	a.mu.Lock()
	standby := a.roleKnown && !a.isLeader
	a.mu.Unlock()
	if !standby {
		a.Trigger()
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := a.cfg.Store.Append(ctx, engine.Record{Plan: PollRequests, Kind: engine.KindEvent, Event: eventPollRequested,
		Actor:   engine.Actor{Agent: a.cfg.Holder},
		Details: map[string]string{"provider": provider, "after": after, "delivery": delivery}})
	if err != nil {
		return fmt.Errorf("journal a poll request for the leader: %w", err)
	}
	a.log.Info("standby: poll request journaled for the leader", "provider", provider, "after", after, "delivery", delivery)
	return nil
}

// Handled poll requests kept in the journal (the newest, for a person
// reading it), by count and by age; older ones are pruned by the leader.
const (
	pollRequestsKept   = 100
	pollRequestsMaxAge = time.Hour
)

// pruner is a journal that can drop the agent's own old records (the
// PostgreSQL journal: the only one standbys write to).
type pruner interface {
	PruneBefore(ctx context.Context, plan string, before int64) (int64, error)
}

// skipPollRequests marks the requests journaled so far as answered.
func (a *Agent) skipPollRequests(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	recs, err := a.cfg.Store.Records(rctx, PollRequests, 0)
	a.mu.Lock()
	a.pollReqSeq = 0
	if err == nil && len(recs) > 0 {
		a.pollReqSeq = recs[len(recs)-1].Seq
	}
	a.mu.Unlock()
	if err == nil {
		a.prunePollRequests(ctx, recs)
	}
}

// prunePollRequests drops handled requests beyond the newest
// pollRequestsKept or older than pollRequestsMaxAge; recs is the journal
// from its start. The journal keeps its newest record whatever happens.
func (a *Agent) prunePollRequests(ctx context.Context, recs []engine.Record) {
	p, ok := a.cfg.Store.(pruner)
	if !ok {
		return
	}
	a.mu.Lock()
	handled := a.pollReqSeq
	a.mu.Unlock()
	cut := int64(0) // prune seq < cut
	for i, r := range recs {
		if r.Seq > handled {
			break
		}
		if len(recs)-i > pollRequestsKept || a.cfg.Now().Sub(r.Time) > pollRequestsMaxAge {
			cut = r.Seq + 1
		}
	}
	if cut == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := p.PruneBefore(rctx, PollRequests, cut)
	if err != nil {
		a.log.Warn("prune the handled poll requests", "err", err)
		return
	}
	if n > 0 {
		a.log.Info("pruned handled poll requests", "records", n, "before_seq", cut)
	}
}

// watchPollRequests polls now when a standby journaled a request since
// the last one seen. Only the leader reads them.
func (a *Agent) watchPollRequests(ctx context.Context, el *leader.Elector) {
	if !el.IsLeader() {
		return
	}
	a.mu.Lock()
	since := a.pollReqSeq
	a.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	recs, err := a.cfg.Store.Records(rctx, PollRequests, since)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("read the standbys' poll requests", "err", err)
		}
		return
	}
	if len(recs) == 0 {
		return
	}
	a.mu.Lock()
	a.pollReqSeq = max(a.pollReqSeq, recs[len(recs)-1].Seq)
	a.mu.Unlock()
	last := recs[len(recs)-1]
	a.log.Info("poll requested by a standby", "by", last.Actor.Agent, "after", last.Details["after"], "requests", len(recs))
	a.Trigger()
	// The requests are answered: prune what is beyond the bounds.
	if all, err := a.cfg.Store.Records(rctx, PollRequests, 0); err == nil {
		a.prunePollRequests(ctx, all)
	}
}
