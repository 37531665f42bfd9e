package schema

import (
	"fmt"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/plan"
)

// checkDuration applies UP018 to a set duration string.
func (l *linter) checkDuration(s plan.String, what string) {
	if !s.Set {
		return
	}
	d, err := time.ParseDuration(s.Value)
	switch {
	case err != nil:
		l.reportf(ruleDuration, s.Range, "%s: %q is not a duration (%v).", what, s.Value, err)
	case d < 0:
		l.reportf(ruleDuration, s.Range, "%s: %q is negative.", what, s.Value)
	}
}

// checkGates applies UP017, UP018, UP020, UP021, UP034 and UP035.
func (l *linter) checkGates() {
	p := l.plan
	l.checkDuration(p.MaxDowntime, "max_downtime")
	if p.Rollout != nil {
		prev := -1
		for i, s := range p.Rollout.Steps {
			l.checkDuration(s.Pause, "step.pause")
			if !s.Weight.Set {
				continue
			}
			w := s.Weight.Value
			switch {
			case w < 0 || w > 100:
				l.reportf(ruleWeights, s.Weight.Range, "weight %d is outside 0–100.", w)
				continue
			case w <= prev:
				l.reportf(ruleWeights, s.Weight.Range, "weight %d does not increase on the step before (%d).", w, prev)
			case i == len(p.Rollout.Steps)-1 && w != 100:
				l.reportf(ruleWeights, s.Weight.Range, "the last step has weight %d: the rollout must end with all traffic on Y (100).", w)
			}
			prev = w
		}
	}
	hybrid := p.Mode.Value == "hybrid_cp" || p.Mode.Value == "hybrid_dp"
	for _, c := range p.Checks {
		switch {
		case c.DataPlanesSynced.Value && !hybrid:
			l.reportf(ruleCheck, c.DataPlanesSynced.Range, "check %q: data_planes_synced needs a hybrid mode (hybrid_cp or hybrid_dp), not %q.", c.Name, p.Mode.Value)
		case c.DataPlanesSynced.Value:
		case c.Request == nil:
			l.reportf(ruleCheck, c.DeclRange, "check %q has neither a request nor data_planes_synced = true.", c.Name)
		case c.Expect == nil:
			l.reportf(ruleCheck, c.Request.DeclRange, "check %q sends a request but expects nothing: add expect { status = ... }.", c.Name)
		case !c.Expect.Status.Set && len(c.Expect.Headers) == 0 && !c.Expect.BodyContains.Set && len(c.Expect.JSONPath) == 0:
			l.reportf(ruleCheck, c.Expect.DeclRange, "check %q: expect is empty.", c.Name)
		case c.Expect.Status.Set && (c.Expect.Status.Value < 100 || c.Expect.Status.Value > 599):
			l.reportf(ruleCheck, c.Expect.Status.Range, "check %q: %d is not an HTTP status.", c.Name, c.Expect.Status.Value)
		}
	}
	for _, a := range p.Analyses {
		l.checkAnalysis(a)
	}
	if len(p.Checks) == 0 {
		l.reportf(ruleNoChecks, p.NameRange, "plan %q has no check: nothing tests Y before it takes traffic.", p.Name)
	}
	if p.Rollout != nil && len(p.Analyses) == 0 {
		l.reportf(ruleNoAnalysis, p.Rollout.DeclRange, "plan %q shifts traffic with nothing judging each pause.", p.Name)
	}
}

func (l *linter) checkAnalysis(a *plan.Analysis) {
	l.checkDuration(a.Interval, fmt.Sprintf("analysis %q interval", a.Name))
	l.checkDuration(a.P99LatencyMargin, fmt.Sprintf("analysis %q p99_latency_margin", a.Name))
	if a.Failures.Set && a.Failures.Value < 0 {
		l.reportf(ruleAnalysis, a.Failures.Range, "analysis %q: failures must not be negative.", a.Name)
	}
	l.checkDuration(a.MaxWindow, fmt.Sprintf("analysis %q max_window", a.Name))
	prom := a.Prometheus.Set || a.Query.Set || a.Max.Set || a.Min.Set || a.Margin.Set
	cmp := a.Compare.Set || a.ErrorRateMargin.Set || a.P99LatencyMargin.Set
	sides := sideQuery(a.Query.Value)
	switch {
	case a.MinRequests.Set && a.MinRequests.Value < 1:
		l.reportf(ruleAnalysis, a.MinRequests.Range, "analysis %q: min_requests must be at least 1: a window with no request is never data.", a.Name)
	case a.MinRequests.Set && !cmp:
		l.reportf(ruleAnalysis, a.MinRequests.Range, "analysis %q: min_requests counts requests for compare = \"kong_metrics\"; a Prometheus query's window is its own (an empty vector or NaN is no data): remove it.", a.Name)
	case prom && sides && !a.Margin.Set:
		l.reportf(ruleAnalysis, a.Query.Range, "analysis %q: the query holds {version} or {side}, so it runs once per side: add margin = ... (how far Y's value may exceed X's).", a.Name)
	case a.Margin.Set && !sides:
		l.reportf(ruleAnalysis, a.Margin.Range, "analysis %q: margin compares Y with X: write {version} or {side} in the query (e.g. kong_http_requests_total{version=\"{version}\"}), or bound it with max/min instead.", a.Name)
	case a.Margin.Set && (a.Max.Set || a.Min.Set):
		l.reportf(ruleAnalysis, a.Margin.Range, "analysis %q: margin judges Y against X and max/min bound one query: make them two analysis blocks.", a.Name)
	case a.Margin.Set && a.Margin.Value < 0:
		l.reportf(ruleAnalysis, a.Margin.Range, "analysis %q: margin must not be negative.", a.Name)
	}
	switch {
	case prom && cmp:
		l.reportf(ruleAnalysis, a.DeclRange, "analysis %q mixes a Prometheus query with compare: make them two analysis blocks.", a.Name)
	case prom && (!a.Prometheus.Set || !a.Query.Set):
		l.reportf(ruleAnalysis, a.DeclRange, "analysis %q needs both prometheus (the server's URL) and query.", a.Name)
	case prom && !a.Max.Set && !a.Min.Set && !a.Margin.Set:
		l.reportf(ruleAnalysis, a.DeclRange, "analysis %q needs max and/or min (or margin with a {version} or {side} query): without a bound nothing can fail.", a.Name)
	case prom && a.Max.Set && a.Min.Set && a.Min.Value > a.Max.Value:
		l.reportf(ruleAnalysis, a.Min.Range, "analysis %q: min %g is above max %g, so every measurement fails.", a.Name, a.Min.Value, a.Max.Value)
	case cmp && !a.Compare.Set:
		l.reportf(ruleAnalysis, a.DeclRange, "analysis %q sets margins without compare = \"kong_metrics\".", a.Name)
	case cmp && !a.ErrorRateMargin.Set && !a.P99LatencyMargin.Set:
		l.reportf(ruleAnalysis, a.Compare.Range, "analysis %q needs error_rate_margin and/or p99_latency_margin.", a.Name)
	case cmp && a.ErrorRateMargin.Set && (a.ErrorRateMargin.Value < 0 || a.ErrorRateMargin.Value > 1):
		l.reportf(ruleAnalysis, a.ErrorRateMargin.Range, "analysis %q: error_rate_margin is a fraction between 0 and 1.", a.Name)
	case !prom && !cmp:
		l.reportf(ruleAnalysis, a.DeclRange, "analysis %q measures nothing.", a.Name)
	}
	if cmp || (prom && sides) {
		l.checkEvaluable(a)
	}
}

// sideQuery: the query runs once per side.
func sideQuery(q string) bool {
	return strings.Contains(q, "{version}") || strings.Contains(q, "{side}")
}

// checkEvaluable applies UP043 to a comparison of Y with X: at every
// rollout step, Y must serve traffic and X's figures must exist, in the
// same window (X serves traffic) or as X's baseline from an earlier pause
// in which X did; and the window must be able to hold requests.
func (l *linter) checkEvaluable(a *plan.Analysis) {
	p := l.plan
	if q := a.Query.Value; strings.Contains(q, "{version}") && !strings.Contains(q, "{side}") &&
		p.From != nil && p.To != nil && p.From.Version.Value == p.To.Version.Value {
		l.reportf(ruleUnevaluable, a.Query.Range, "analysis %q: from and to are both %s, so {version} gives both sides the same query and Y is compared with itself. Write {side} (from / to) in the query instead.", a.Name, p.From.Version.Value)
	}
	r := p.Rollout
	if r == nil {
		return
	}
	baseline := false // an earlier pause with X serving traffic
	for _, s := range r.Steps {
		if !s.Weight.Set {
			continue
		}
		w := s.Weight.Value
		switch {
		case w == 0:
			l.reportf(ruleUnevaluable, s.Weight.Range, "analysis %q cannot be evaluated at weight 0: Y serves nothing, so its pause has no data of Y and fails. Remove the step or give Y traffic.", a.Name)
		case w == 100 && !baseline:
			l.reportf(ruleUnevaluable, s.Weight.Range, "analysis %q cannot be evaluated at weight 100: X serves nothing there and no earlier pause measured X's baseline, so every measurement is no data and the pause fails. Add a step with a lower weight first: step { weight = 10 pause = \"5m\" }.", a.Name)
		}
		// A step without a pause still measures over one interval
		// (docs/engine.md), so every step with X serving traffic leaves
		// X's baseline (at weight 0 too, reported above).
		if w < 100 {
			baseline = true
		}
	}
}
