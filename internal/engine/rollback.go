package engine

import (
	"context"
	"fmt"
	"strings"
)

// rollbackTable is the table that takes the world back to X
// (architecture.md, "Rollback"). Before a point of no return: X running,
// all traffic to X, Y stopped, Y's database kept. After one (blue-green's
// finish, in-place's migrations): a database-level restore of this run's
// backup into X's database, only with rollback { restore = true };
// otherwise no steps and a Stalled condition saying what a person must
// decide. After decommission there is no rollback.
func (e *Engine) rollbackTable(h *history) ([]step, *Condition) {
	p := e.plan
	if h.intents["decommission"] > 0 {
		return nil, &Condition{Type: ConditionStalled, Reason: ReasonRestoreNeeded,
			Message: "X was decommissioned (approve = [\"decommission\"]): there is no X to go back to; a rollback is now a new upgrade plan"}
	}
	past := (p.Strategy.Value == "blue_green" && h.intents["migrations_finish"] > 0) ||
		(p.Strategy.Value == "in_place" && h.intents["migrations_up"] > 0)
	var t []step
	if past {
		if !p.Rollback.Restore.Value {
			what := "kong migrations finish ran on the shared database"
			if p.Strategy.Value == "in_place" {
				what = "kong migrations ran on X's database"
			}
			return nil, &Condition{Type: ConditionStalled, Reason: ReasonRestoreNeeded,
				Message: fmt.Sprintf("%s, so X cannot simply take traffic again. Going back needs a database-level restore of backup %s into X's database: set rollback { restore = true } to let Upshift do it, or keep Y and fix forward",
					what, h.detail("backup", "backup"))}
		}
		t = append(t, e.rbStopTo(), e.rbRestore(), e.rbStartFrom(), e.rbTraffic())
	} else {
		t = append(t, e.rbStartFrom(), e.rbTraffic(), e.rbStopTo())
	}
	if p.Freeze != nil && p.Freeze.End.Given() {
		t = append(t, step{
			name: "rollback_unfreeze", title: "reopen admin writes (freeze.end)",
			done: func(s *state) (bool, string) {
				if s.h.done("rollback_unfreeze") || s.h.done("unfreeze") || !s.h.done("freeze") {
					return true, "admin writes are open"
				}
				return false, ""
			},
			apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
				out, err := r.hook(ctx, p.Freeze.End.Args)
				return out, nil, err
			},
		})
	}
	return t, nil
}

// xNodes lists X's observed nodes (the side's and rolling nodes).
func xNodes(o Observed) []*NodeFacts {
	var out []*NodeFacts
	if o.From != nil {
		out = append(out, o.From)
	}
	for i := range o.FromNodes {
		out = append(out, &o.FromNodes[i])
	}
	return out
}

func yNodes(o Observed) []*NodeFacts {
	var out []*NodeFacts
	if o.To != nil {
		out = append(out, o.To)
	}
	for i := range o.ToNodes {
		out = append(out, &o.ToNodes[i])
	}
	return out
}

func (e *Engine) rbStartFrom() step {
	p := e.plan
	title := "make sure X runs and is ready (from.start)"
	if !p.From.Start.Given() {
		title = "make sure X runs and is ready (the plan has no from.start: start X by hand if it is down)"
		for _, n := range p.From.Nodes {
			if n.Start.Given() {
				title = "make sure X's nodes run and are ready (their start hooks)"
				break
			}
		}
	}
	return step{
		name: "rollback_start_from", title: title,
		done: func(s *state) (bool, string) {
			for _, f := range xNodes(s.obs) {
				if ok, why := nodeAt(f, p.From.Version.Value); !ok {
					return false, "X" + nodeName(f) + " " + why
				}
			}
			return true, "X ready"
		},
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			var hooks [][]string
			if p.From.Start.Given() {
				hooks = append(hooks, p.From.Start.Args)
			}
			for _, n := range p.From.Nodes {
				if n.Start.Given() {
					hooks = append(hooks, n.Start.Args)
				}
			}
			if len(hooks) == 0 {
				return "", nil, &haltError{reason: ReasonRestoreNeeded, msg: "X is not ready and the plan has no from.start hook to start it"}
			}
			var outs []string
			for _, h := range hooks {
				out, err := r.hook(ctx, h)
				outs = append(outs, out)
				if err != nil {
					return strings.Join(outs, "\n"), nil, err
				}
			}
			err := r.waitAll(ctx, "X", func(o Observed) []*NodeFacts { return xNodes(o) }, p.From.Version.Value)
			return strings.Join(outs, "\n"), nil, err
		},
	}
}

func nodeName(f *NodeFacts) string {
	if f.Name != "" {
		return " node " + f.Name
	}
	return ""
}

func (e *Engine) rbTraffic() step {
	return step{
		name: "rollback_traffic", title: "send all traffic back to X",
		done: func(s *state) (bool, string) {
			if e.drv.Router == nil {
				return true, "no load balancer in the plan"
			}
			t := s.obs.Traffic
			if t != nil && t.Error == "" && t.From == 100 {
				return true, "load balancer sends 100% to X"
			}
			return false, ""
		},
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			w := Weights{From: 100, To: 0}
			if err := e.drv.Router.SetWeights(ctx, w); err != nil {
				return "", nil, fmt.Errorf("set traffic %s: %w", w, err)
			}
			return "traffic " + w.String(), nil, nil
		},
	}
}

// yStopped: every Y address refuses connections, or what answers there
// is X's version (in place, X and Y may share addresses). A timeout is
// not evidence: a hung Y may still write to the database a restore is
// about to replace.
func (e *Engine) yStopped(o Observed) (bool, string) {
	for _, f := range yNodes(o) {
		if f.Reachable && f.Version != e.plan.From.Version.Value {
			return false, "Y" + nodeName(f) + " answers with Kong " + f.Version
		}
		if !f.Reachable && !f.Refused {
			return false, "Y" + nodeName(f) + " does not answer but its address does not refuse connections either (" + f.Error + "): it may hang rather than have stopped"
		}
	}
	return true, "Y stopped"
}

func (e *Engine) rbStopTo() step {
	p := e.plan
	title := "stop Y (to.stop); Y's database is kept"
	switch {
	case len(p.To.Nodes) > 0:
		title = "stop Y's nodes (their stop hooks)"
	case e.drv.ToDSN == "" && e.drv.FromDSN == "":
		title = "stop Y (to.stop)"
	case e.drv.ToDSN == "":
		title = "stop Y (to.stop); the shared database stays as it is"
	}
	return step{
		name: "rollback_stop_to", title: title,
		done: func(s *state) (bool, string) { return e.yStopped(s.obs) },
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			var hooks [][]string
			if p.To.Stop.Given() {
				hooks = append(hooks, p.To.Stop.Args)
			}
			for _, n := range p.To.Nodes {
				if n.Stop.Given() {
					hooks = append(hooks, n.Stop.Args)
				}
			}
			if len(hooks) == 0 {
				return "", nil, &haltError{reason: ReasonStepFailed, msg: "Y still runs and the plan has no to.stop hook: stop Y by hand"}
			}
			if err := r.drain(ctx); err != nil {
				return "", nil, err
			}
			var outs []string
			for _, h := range hooks {
				out, err := r.hook(ctx, h)
				outs = append(outs, out)
				if err != nil {
					return strings.Join(outs, "\n"), nil, err
				}
			}
			err := r.waitUntil(ctx, "Y to stop", func(o Observed) (bool, string) { return e.yStopped(o) })
			return strings.Join(outs, "\n"), nil, err
		},
	}
}

func (e *Engine) rbRestore() step {
	return step{
		name: "rollback_restore", title: "restore this run's backup into X's database (rollback.restore = true)",
		doubt: func(s *state) *unsure {
			if s.h.done("rollback_restore") {
				return nil
			}
			switch db := s.obs.FromDatabase; {
			case db == nil:
				return &unsure{reason: ReasonObservationFailed, msg: "X's database is not observed"}
			case db.Error != "":
				return unreadable("X's database", db.Error)
			}
			return nil
		},
		done: func(s *state) (bool, string) {
			if s.h.done("rollback_restore") {
				return true, "restored " + s.h.detail("rollback_restore", "backup")
			}
			return false, ""
		},
		// Replacing X's database needs every node that serves from it
		// observed stopped.
		check: func(s *state) string {
			for _, f := range append(xNodes(s.obs), yNodes(s.obs)...) {
				if f.Reachable {
					return fmt.Sprintf("a node answers at %s%s (Kong %s): restoring the database it serves from would pull it from under it", sideOf(s.obs, f), nodeName(f), f.Version)
				}
				if hung(f) {
					return fmt.Sprintf("a node at %s%s does not answer but its address does not refuse connections (%s): it may hang rather than have stopped, and the restore would pull its database from under it", sideOf(s.obs, f), nodeName(f), f.Error)
				}
			}
			return ""
		},
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			want := r.state.h.detail("backup", "backup")
			m, err := e.drv.Backups.Latest(ctx)
			if err != nil || m == nil {
				return "", nil, fmt.Errorf("find backup %s: %v", want, err)
			}
			if m.Name != want {
				return "", nil, &haltError{reason: ReasonRestoreNeeded, msg: fmt.Sprintf("this run's backup %s is no longer the newest (%s): restore by hand with upshift restore", want, m.Name)}
			}
			res, err := e.drv.Backups.Restore(ctx, m, e.drv.FromDSN, true)
			if err != nil {
				return "", nil, fmt.Errorf("restore %s into X's database: %w", m.Name, err)
			}
			return fmt.Sprintf("%s: %s", res.Action, res.Database), map[string]string{"backup": m.Name}, nil
		},
	}
}

// sideOf names the side a node of o belongs to.
func sideOf(o Observed, f *NodeFacts) string {
	for _, x := range xNodes(o) {
		if x == f {
			return "X"
		}
	}
	return "Y"
}
