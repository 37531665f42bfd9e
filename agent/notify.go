package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/notify"
	"github.com/upshift-dev/upshift/plan"
)

// planNotify is one plan's notify blocks as a dispatcher: kept across
// passes (its queue outlives an apply) until the blocks change.
type planNotify struct {
	key string // the resolved receivers, hashed
	d   *notify.Dispatcher
}

// sinkFor is where p's run reports: the agent's own receivers
// (Config.Notify: --notify-* flags, commit statuses) and p's notify blocks.
// A notify block whose env() is unset is logged and skipped: the run goes
// on (notifications never stop a plan), and the journal says nothing was
// sent for it.
func (a *Agent) sinkFor(p *plan.Plan) notify.Sink {
	sinks := notify.Sinks{}
	if a.cfg.Notify != nil {
		sinks = append(sinks, a.cfg.Notify)
	}
	rs, err := notify.FromPlan(p, a.cfg.LookupEnv)
	if err != nil {
		a.log.Warn("the plan's notify blocks cannot be used", "plan", p.Name, "err", err)
		return sinks
	}
	h := sha256.New()
	for _, r := range rs {
		switch r := r.(type) {
		case *notify.Webhook:
			h.Write([]byte("webhook\x00" + r.URL + "\x00" + r.Secret + "\x00"))
		case *notify.Slack:
			h.Write([]byte("slack\x00" + r.URL + "\x00"))
		}
	}
	key := hex.EncodeToString(h.Sum(nil))
	a.notifyMu.Lock()
	defer a.notifyMu.Unlock()
	cur := a.notifiers[p.Name]
	if cur != nil && cur.key != key {
		go closeNotifier(cur.d) // the old blocks' queue drains on its own
		cur = nil
	}
	if cur == nil && len(rs) > 0 {
		cur = &planNotify{key: key, d: notify.NewDispatcher(rs, notify.Options{Logger: a.log,
			Record: engine.DeliveryRecorder(context.Background(), a.cfg.Store, a.actor())})}
		a.notifiers[p.Name] = cur
	}
	if cur == nil {
		delete(a.notifiers, p.Name)
		return sinks
	}
	return append(sinks, cur.d)
}

// closeNotifiers stops every plan's dispatcher, giving queued deliveries
// a bounded time.
func (a *Agent) closeNotifiers() {
	a.notifyMu.Lock()
	ns := a.notifiers
	a.notifiers = map[string]*planNotify{}
	a.notifyMu.Unlock()
	for _, n := range ns {
		closeNotifier(n.d)
	}
}

func closeNotifier(d *notify.Dispatcher) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.Close(ctx)
}

// actor is this agent in journal records it writes outside a run.
func (a *Agent) actor() engine.Actor {
	return engine.Actor{Agent: a.cfg.Holder}
}
