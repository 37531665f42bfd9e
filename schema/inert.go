package schema

import (
	"github.com/hashicorp/hcl/v2"

	"github.com/upshift-dev/upshift/plan"
)

// Inert is an attribute or block the plan language accepts and Upshift
// does not act on yet: lint warns about it (UP040) and `upshift plan`
// names it, until it works. What says what it waits for.
type Inert struct {
	What  string
	Range hcl.Range
}

// NotActedOn lists p's attributes and blocks that parse and do nothing
// yet. It is the one list both lint and plan read.
func NotActedOn(p *plan.Plan) []Inert {
	var out []Inert
	if p.Rehearse.Set && p.Rehearse.Value && p.Strategy.Value == "rolling" {
		out = append(out, Inert{What: "rehearse = true on a rolling plan (its nodes have no database to rehearse migrations on: nothing is rehearsed)", Range: p.Rehearse.Range})
	}
	return out
}

func (l *linter) checkInert(p *plan.Plan) {
	for _, in := range NotActedOn(p) {
		l.reportf(ruleInert, in.Range, "Upshift accepts %s.", in.What)
	}
}
