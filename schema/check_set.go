package schema

import (
	"fmt"
	"strings"

	"github.com/upshift-dev/upshift/plan"
)

// checkSet applies the rules across plans and files: UP022–UP025.
func (l *linter) checkSet(set *plan.Set) {
	byName := map[string]*plan.Plan{}
	var plans []*plan.Plan
	for _, p := range set.Plans {
		if p == nil {
			continue
		}
		at := &linter{plan: p, opts: l.opts}
		if first, dup := byName[p.Name]; dup {
			at.reportf(ruleDupName, p.NameRange, "plan %q is also defined at %s.", p.Name, first.NameRange)
		} else {
			byName[p.Name] = p
			plans = append(plans, p)
		}
		for _, d := range p.DependsOn {
			if d.Value == p.Name {
				at.reportf(ruleCycle, d.Range, "plan %q depends on itself.", p.Name)
			} else if _, ok := byNameAll(set, d.Value); !ok {
				names := make([]string, 0, len(set.Plans))
				for _, q := range set.Plans {
					names = append(names, q.Name)
				}
				at.reportf(ruleUnknownDep, d.Range, "no plan is named %q.%s", d.Value, plan.DidYouMean(d.Value, names))
			}
		}
		l.diags = append(l.diags, at.diags...)
	}
	l.checkCycles(plans, byName)
	// Two plans on one cluster must be ordered one way or the other.
	reach := reachability(plans, byName)
	for j, b := range plans {
		if !b.Cluster.Set {
			continue
		}
		for _, a := range plans[:j] {
			if a.Cluster.Value != b.Cluster.Value || reach[a.Name][b.Name] || reach[b.Name][a.Name] {
				continue
			}
			at := &linter{plan: b, opts: l.opts}
			at.reportf(ruleUnordered, b.Cluster.Range, "plans %q and %q both change cluster %q: add depends_on = [%q] to the one that runs second.", a.Name, b.Name, b.Cluster.Value, a.Name)
			l.diags = append(l.diags, at.diags...)
			break
		}
	}
}

func byNameAll(set *plan.Set, name string) (*plan.Plan, bool) {
	p := set.Lookup(name)
	return p, p != nil
}

// reachability returns, for each plan, the plans it depends on directly or
// transitively.
func reachability(plans []*plan.Plan, byName map[string]*plan.Plan) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	var visit func(p *plan.Plan, seen map[string]bool)
	visit = func(p *plan.Plan, seen map[string]bool) {
		for _, d := range p.DependsOn {
			q := byName[d.Value]
			if q == nil || seen[q.Name] {
				continue
			}
			seen[q.Name] = true
			visit(q, seen)
		}
	}
	for _, p := range plans {
		seen := map[string]bool{}
		visit(p, seen)
		out[p.Name] = seen
	}
	return out
}

// checkCycles reports each depends_on cycle once, at the depends_on entry
// that closes it in the first plan of the cycle (in file order).
func (l *linter) checkCycles(plans []*plan.Plan, byName map[string]*plan.Plan) {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(p *plan.Plan)
	visit = func(p *plan.Plan) {
		color[p.Name] = grey
		stack = append(stack, p.Name)
		for _, d := range p.DependsOn {
			q := byName[d.Value]
			if q == nil || q == p {
				continue
			}
			switch color[q.Name] {
			case white:
				visit(q)
			case grey:
				i := len(stack) - 1
				for i > 0 && stack[i] != q.Name {
					i--
				}
				cycle := append(append([]string(nil), stack[i:]...), q.Name)
				at := &linter{plan: p, opts: l.opts}
				at.reportf(ruleCycle, d.Range, "depends_on forms a cycle: %s.", strings.Join(quoteAll(cycle), " → "))
				l.diags = append(l.diags, at.diags...)
			}
		}
		stack = stack[:len(stack)-1]
		color[p.Name] = black
	}
	for _, p := range plans {
		if color[p.Name] == white {
			visit(p)
		}
	}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
