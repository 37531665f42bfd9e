package schema

import (
	"slices"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/plan"
)

// StrategyFit is what lint says of one strategy, in one mode, for an
// upgrade from → to, from the versions and the mode alone: the rules a
// plan with that strategy trips (`upshift path` lists them per hop).
type StrategyFit struct {
	Strategy string
	Mode     string
	Rules    []*Rule
}

// Allowed reports whether a plan may use the strategy: no rule it trips is
// an error that acknowledge cannot accept.
func (f StrategyFit) Allowed() bool {
	for _, r := range f.Rules {
		if r.Severity == SeverityError && !r.Acknowledgeable {
			return false
		}
	}
	return true
}

// Strategies lists, for mode (a plan mode: traditional, dbless,
// hybrid_cp, hybrid_dp), the strategies that work in it (UP009's table)
// with the rules each trips on from → to: UP006–UP008 for blue_green,
// UP019 for in_place, UP014 in hybrid_cp across a major. These are the
// checks lint applies to `strategy`, by the same code.
func Strategies(mode string, from, to kongrelease.Version) []StrategyFit {
	res := kongrelease.UpgradePath(from, to)
	var out []StrategyFit
	for _, st := range plan.Strategies {
		if !slices.Contains(strategyModes[st], mode) {
			continue
		}
		f := StrategyFit{Strategy: st, Mode: mode}
		switch st {
		case "blue_green":
			f.Rules = blueGreenRules(from, to, res)
		case "in_place":
			f.Rules = []*Rule{ruleDowntime}
		}
		if mode == "hybrid_cp" && from.Major != to.Major {
			f.Rules = append(f.Rules, ruleHybridMajor)
		}
		out = append(out, f)
	}
	return out
}
