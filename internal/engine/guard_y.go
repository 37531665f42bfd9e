package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/upshift-dev/upshift/internal/kong"
)

// preparatory steps act on nothing of Y's: the guard, the preflight
// passes (read-only), X's freeze hook and X's backup, and the rehearsal
// on a scratch copy of it.
func preparatory(step string) bool {
	return step == "guard" || step == "preflight" || step == "preflight_y" || step == "freeze" || step == "backup" || step == "rehearse"
}

// guardYProblems: before a run acts, Y must not carry traffic, and must not
// answer with a configuration that no run of this journal gave it. Either
// means another runner (an agent on another journal, a person) is at work
// on this cluster, or was: restoring Y's database or moving traffic now
// would destroy what it serves (issue 10, finding 1; docs/runs.md). The
// load balancer's split must be readable: unknown is not "none".
//
// Traffic on Y is refused whoever put it there; a configuration is
// accepted when this run, or an earlier run of this plan in this journal,
// ran a step that acts on Y.
func guardYProblems(s *state) []string {
	var out []string
	o := s.obs
	if t := o.Traffic; t != nil {
		switch {
		case t.Error != "":
			out = append(out, "the load balancer's split cannot be read ("+t.Error+"): Y's share of the traffic must be known before a run starts")
		case t.To > 0:
			out = append(out, fmt.Sprintf("Y already carries %d%% of the traffic and no step of this run moved it: another runner (an agent on another journal, a person) is at work on this cluster", t.To))
		}
	}
	ours := s.h.earlierActed
	for step := range s.h.ok {
		if !preparatory(step) {
			ours = true
		}
	}
	if ours || s.p.Strategy.Value == "in_place" { // in place, Y is X's own node
		return out
	}
	node := func(name string, f *NodeFacts) {
		if f != nil && f.Reachable && f.ConfigurationHash != "" && f.ConfigurationHash != kong.EmptyConfigHash {
			out = append(out, fmt.Sprintf("Y%s answers with a configuration (configuration_hash %s) that no run of this journal gave it", name, f.ConfigurationHash))
		}
	}
	node("", o.To)
	for i := range o.ToNodes {
		node(" node "+o.ToNodes[i].Name, &o.ToNodes[i])
	}
	if c := o.ToConfig; c != nil && o.To != nil && o.To.Reachable {
		switch {
		case c.Error != "":
			out = append(out, "Y answers and its database's content cannot be read ("+c.Error+"): it may hold a configuration another runner restored")
		case len(c.Counts) > 0:
			out = append(out, fmt.Sprintf("Y answers and its database holds a configuration (%s) that no run of this journal restored", countList(c.Counts)))
		}
	}
	return out
}

func countList(m map[string]int64) string {
	parts := make([]string, 0, len(m))
	for k, n := range m {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// predictGuard gives `upshift plan` the guard's verdict when the guard is
// the next step of an upgrade: the same checks as the step (guardProblems,
// then the analyses' inputs on X, already read into pv.Preconditions), all
// reads. A refusal blocks the step and stalls the preview's condition as
// apply would, so plan no longer shows "next: guard" for a run the guard
// will stop.
func (e *Engine) predictGuard(ctx context.Context, s *state, d decision, pv *Preview) {
	if d.direction != "upgrade" || d.next < 0 || d.steps[d.next].name != "guard" || pv.Steps[d.next].Status != StatusNext {
		return
	}
	s.obs.ToConfig = e.drv.Observer.ReadToConfig(ctx)
	pv.Observed.ToConfig = s.obs.ToConfig
	msgs := append(guardProblems(s), pv.Preconditions...)
	if len(msgs) == 0 {
		pv.Guard = &GuardVerdict{Pass: true}
		return
	}
	for i := range msgs {
		msgs[i] = redactSecrets(msgs[i])
	}
	pv.Guard = &GuardVerdict{Problems: msgs}
	msg := strings.Join(msgs, "; ")
	pv.Steps[d.next].Status, pv.Steps[d.next].Reason = StatusBlocked, "would refuse: "+msg
	pv.Condition = Condition{Type: ConditionStalled, Reason: ReasonPreconditionFail, Message: "guard: " + msg}
}
