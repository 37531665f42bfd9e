package schema

import (
	"fmt"
	"strings"

	"github.com/upshift-dev/upshift/plan"
)

// Bounds that keep the set rules near-linear on hostile input (a
// directory of tens of thousands of generated plans).
const (
	maxCyclesReported = 20  // further cycles are not described
	maxCycleNames     = 10  // names printed per cycle
	maxSuggestPlans   = 500 // "did you mean" over more names costs too much
)

// checkSet applies the rules across plans and files: UP022–UP025.
func (l *linter) checkSet(set *plan.Set) {
	byName := map[string]*plan.Plan{} // the first plan of each name
	var plans []*plan.Plan            // plans with a unique name, in file order
	for _, p := range set.Plans {
		if p == nil {
			continue
		}
		if first, dup := byName[p.Name]; dup {
			at := &linter{plan: p, opts: l.opts}
			at.reportf(ruleDupName, p.NameRange, "plan %q is also defined at %s.", p.Name, first.NameRange)
			l.diags = append(l.diags, at.diags...)
			continue
		}
		byName[p.Name] = p
		plans = append(plans, p)
	}
	var names []string
	if len(byName) <= maxSuggestPlans {
		for _, p := range plans {
			names = append(names, p.Name)
		}
	}
	for _, p := range plans {
		at := &linter{plan: p, opts: l.opts}
		for _, d := range p.DependsOn {
			if d.Value == p.Name {
				at.reportf(ruleCycle, d.Range, "plan %q depends on itself.", p.Name)
			} else if byName[d.Value] == nil {
				at.reportf(ruleUnknownDep, d.Range, "no plan is named %q.%s", d.Value, plan.DidYouMean(d.Value, names))
			}
		}
		l.diags = append(l.diags, at.diags...)
	}
	g := newDepGraph(plans, byName)
	l.checkCycles(g)
	l.checkClusterOrder(g)
	l.checkSettings(set.Settings)
}

// depGraph is the depends_on graph over plans with unique names: deps[i]
// are the indexes of the plans plan i depends on.
type depGraph struct {
	plans []*plan.Plan
	deps  [][]int
}

func newDepGraph(plans []*plan.Plan, byName map[string]*plan.Plan) *depGraph {
	index := make(map[*plan.Plan]int, len(plans))
	for i, p := range plans {
		index[p] = i
	}
	g := &depGraph{plans: plans, deps: make([][]int, len(plans))}
	for i, p := range plans {
		for _, d := range p.DependsOn {
			if q := byName[d.Value]; q != nil && q != p {
				g.deps[i] = append(g.deps[i], index[q])
			}
		}
	}
	return g
}

// topoOrder returns a position per plan such that every plan comes after
// what it depends on (Kahn's algorithm); plans on or behind a cycle get -1.
func (g *depGraph) topoOrder() []int {
	n := len(g.plans)
	pending := make([]int, n) // unprocessed dependencies
	dependents := make([][]int, n)
	for i, ds := range g.deps {
		pending[i] = len(ds)
		for _, d := range ds {
			dependents[d] = append(dependents[d], i)
		}
	}
	pos := make([]int, n)
	var queue []int
	for i := range n {
		pos[i] = -1
		if pending[i] == 0 {
			queue = append(queue, i)
		}
	}
	for next := 0; len(queue) > 0; next++ {
		i := queue[0]
		queue = queue[1:]
		pos[i] = next
		for _, j := range dependents[i] {
			if pending[j]--; pending[j] == 0 {
				queue = append(queue, j)
			}
		}
	}
	return pos
}

// reaches reports whether plan from depends on plan to, directly or
// transitively. Plans placed before to in topological order cannot lead to
// it, so the search stays between the two.
func (g *depGraph) reaches(from, to int, pos []int, seen []int, mark int) bool {
	stack := []int{from}
	seen[from] = mark
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, d := range g.deps[i] {
			if d == to {
				return true
			}
			if seen[d] != mark && pos[d] > pos[to] {
				seen[d] = mark
				stack = append(stack, d)
			}
		}
	}
	return false
}

// checkClusterOrder applies UP023: the plans on one cluster must form a
// chain under depends_on. Taken in topological order, that holds exactly
// when each plan depends (transitively) on the one before it.
func (l *linter) checkClusterOrder(g *depGraph) {
	pos := g.topoOrder()
	last := map[string]int{} // cluster → latest plan seen, in topological order
	order := make([]int, 0, len(g.plans))
	byPos := make([]int, len(g.plans))
	for i := range byPos {
		byPos[i] = -1
	}
	for i, p := range pos {
		if p >= 0 {
			byPos[p] = i
		}
	}
	for _, i := range byPos {
		if i >= 0 {
			order = append(order, i)
		}
	}
	seen := make([]int, len(g.plans))
	for mark, i := range order {
		b := g.plans[i]
		if !b.Cluster.Set {
			continue
		}
		prev, ok := last[b.Cluster.Value]
		last[b.Cluster.Value] = i
		if !ok || g.reaches(i, prev, pos, seen, mark+1) {
			continue
		}
		a := g.plans[prev]
		// Report on the plan written later, where the fix usually goes.
		if a.File > b.File || (a.File == b.File && a.DeclRange.Start.Byte > b.DeclRange.Start.Byte) {
			a, b = b, a
		}
		at := &linter{plan: b, opts: l.opts}
		at.reportf(ruleUnordered, b.Cluster.Range, "plans %q and %q both change cluster %q: add depends_on = [%q] to the one that runs second.", a.Name, b.Name, b.Cluster.Value, a.Name)
		l.diags = append(l.diags, at.diags...)
	}
}

// checkCycles reports depends_on cycles (at most maxCyclesReported), each
// at the depends_on entry that closes it. Iterative depth-first search, so
// a long chain cannot exhaust the stack.
func (l *linter) checkCycles(g *depGraph) {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(g.plans))
	reported := 0
	type frame struct{ node, next int }
	for root := range g.plans {
		if color[root] != white {
			continue
		}
		path := []frame{{root, 0}}
		color[root] = grey
		for len(path) > 0 {
			top := &path[len(path)-1]
			if top.next == len(g.deps[top.node]) {
				color[top.node] = black
				path = path[:len(path)-1]
				continue
			}
			d := g.deps[top.node][top.next]
			top.next++
			switch color[d] {
			case white:
				color[d] = grey
				path = append(path, frame{d, 0})
			case grey:
				if reported++; reported > maxCyclesReported {
					continue
				}
				start := len(path) - 1
				for start > 0 && path[start].node != d {
					start--
				}
				var names []string
				for _, f := range path[start:] {
					names = append(names, fmt.Sprintf("%q", g.plans[f.node].Name))
				}
				names = append(names, fmt.Sprintf("%q", g.plans[d].Name))
				if len(names) > maxCycleNames {
					names = append(names[:maxCycleNames-1], "…", names[len(names)-1])
				}
				p := g.plans[top.node]
				at := &linter{plan: p, opts: l.opts}
				at.reportf(ruleCycle, dependsOnRange(p, g.plans[d].Name).Range, "depends_on forms a cycle: %s.", strings.Join(names, " → "))
				l.diags = append(l.diags, at.diags...)
			}
		}
	}
}

// dependsOnRange is the range of p's depends_on entry naming name.
func dependsOnRange(p *plan.Plan, name string) plan.String {
	for _, d := range p.DependsOn {
		if d.Value == name {
			return d
		}
	}
	return plan.String{Range: p.NameRange}
}
