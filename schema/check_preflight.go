package schema

import (
	"fmt"
	"strings"

	"github.com/upshift-dev/upshift/internal/preflight/rules"
	"github.com/upshift-dev/upshift/plan"
)

// isPreflightID reports whether an acknowledge entry names a preflight
// rule (PF30-1, PFX-1): its own namespace, the rules of
// internal/preflight/rules, read by upshift preflight.
func isPreflightID(id string) bool { return strings.HasPrefix(id, "PF") }

// checkPreflightAck: a preflight id in acknowledge must name a rule that
// allows it. Whether the rule fires is known only to upshift preflight
// (it reads the clusters), so lint never calls it stale (UP037).
func (l *linter) checkPreflightAck(a plan.String) {
	r := rules.ByID(a.Value)
	switch {
	case r == nil:
		var ids []string
		for _, r := range rules.Table {
			if r.Acknowledgeable {
				ids = append(ids, r.ID)
			}
		}
		l.report(ruleAck, a.Range, "Unknown preflight rule in acknowledge",
			fmt.Sprintf("%q is not a preflight rule ID (docs/preflight.md).%s", a.Value, plan.DidYouMean(a.Value, ids)))
	case !r.Acknowledgeable:
		l.report(ruleAck, a.Range, "", fmt.Sprintf("%s (%s) cannot be acknowledged: Y refuses what it names, so fix it instead. %s", r.ID, r.Summary, r.Fix))
	}
}
