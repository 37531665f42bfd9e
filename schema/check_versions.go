package schema

import (
	"fmt"
	"strings"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/plan"
)

// versions are the plan's parsed versions; ok fields are false when the
// version is absent or did not parse (UP001 already said so).
type versions struct {
	from, to, cp       kongrelease.Version
	fromOK, toOK, cpOK bool
}

func (v versions) both() bool { return v.fromOK && v.toOK }

// parseVersion parses s, reporting UP001 at its range.
func (l *linter) parseVersion(s plan.String, what string) (kongrelease.Version, bool) {
	if !s.Set {
		return kongrelease.Version{}, false
	}
	v, err := kongrelease.Parse(s.Value)
	if err != nil {
		l.report(ruleVersionInvalid, s.Range, "", fmt.Sprintf("%s: %v.", what, err))
		return kongrelease.Version{}, false
	}
	if !v.Enterprise && !v.Series().OpenSource() {
		l.report(ruleNoOSS, s.Range, "", fmt.Sprintf("%s %s is a 3-part (open-source) version of series %s. %s", what, v, v.Series(), ruleNoOSS.Fix))
	}
	return v, true
}

// checkVersions applies the version and path rules (UP001–UP008, UP032,
// UP033).
func (l *linter) checkVersions() versions {
	p := l.plan
	var v versions
	if p.From != nil {
		v.from, v.fromOK = l.parseVersion(p.From.Version, "from.version")
	}
	if p.To != nil {
		v.to, v.toOK = l.parseVersion(p.To.Version, "to.version")
	}
	if p.ControlPlane != nil {
		v.cp, v.cpOK = l.parseVersion(p.ControlPlane.Version, "control_plane.version")
	}
	if !v.both() {
		return v
	}
	toRange := p.To.Version.Range
	if v.from.Enterprise != v.to.Enterprise {
		l.reportf(ruleEdition, toRange, "from.version %s is %s, to.version %s is %s.", v.from, v.from.Edition(), v.to, v.to.Edition())
	}
	res := kongrelease.UpgradePath(v.from, v.to)
	switch res.Kind {
	case kongrelease.PathDowngrade:
		l.report(ruleDowngrade, toRange, "", fmt.Sprintf("to.version %s is older than from.version %s. %s", v.to, v.from, ruleDowngrade.Fix))
		return v
	case kongrelease.PathSame:
		l.report(ruleSameVersion, toRange, fmt.Sprintf("Stay on / roll back to %s", v.from),
			fmt.Sprintf("to.version equals from.version (%s): this plan keeps cluster X on %s, or brings it back if an upgrade is under way.", v.from, v.from))
		return v
	}
	if v.from.Compare(kongrelease.Min2xFor3x) < 0 && v.to.Major >= 3 {
		l.reportf(rule1x, toRange, "from.version %s cannot migrate straight to %s: \"The lowest version that 3.0.x supports migrating from is 2.1.x\".", v.from, v.to)
	} else if !res.Guaranteed() {
		l.report(rulePath, toRange, "", pathDetail(v.from, v.to, res))
	}
	if res.Kind == kongrelease.PathLTS {
		l.report(ruleLTSHop, toRange, "", ltsHopDetail(v.from, v.to))
	}
	if p.Strategy.Value == "blue_green" {
		l.checkBlueGreen(v, res)
	}
	return v
}

// ltsHopDetail names the series an LTS → LTS hop skips and where their
// breaking changes are.
func ltsHopDetail(from, to kongrelease.Version) string {
	var skipped []string
	for _, s := range kongrelease.Skipped(from.Series(), to.Series()) {
		skipped = append(skipped, s.String())
	}
	list := strings.Join(skipped, ", ")
	if n := len(skipped); n > 1 {
		list = strings.Join(skipped[:n-1], ", ") + " and " + skipped[n-1]
	}
	msg := fmt.Sprintf("%s → %s is an LTS → LTS hop: it skips %s, whose changes all apply at once: read the breaking changes of each and of %s (%s)",
		from.Series(), to.Series(), list, to.Series(), kongrelease.BreakingChangesURL)
	if g := kongrelease.LTSGuide(from.Series()); g != "" {
		msg += " and Kong's LTS upgrade guide for this hop (" + g + ")"
	}
	return msg + "."
}

// pathDetail names the intermediate series to go through.
func pathDetail(from, to kongrelease.Version, res kongrelease.PathResult) string {
	if len(res.Via) == 0 {
		return fmt.Sprintf("Kong documents no guaranteed path from %s to %s. %s", from, to, rulePath.Fix)
	}
	names := make([]string, len(res.Via))
	for i, s := range res.Via {
		names[i] = s.String()
	}
	list := names[0]
	if len(names) > 1 {
		list = strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	}
	return fmt.Sprintf("%s → %s is not a guaranteed upgrade path: go through %s (one plan per hop, chained with depends_on). Kong guarantees patch → patch, a series to the next, and an LTS to the next LTS (2.8, 3.4, 3.10, 3.14).",
		from.Series(), to.Series(), list)
}

// checkBlueGreen applies UP006–UP008.
func (l *linter) checkBlueGreen(v versions, res kongrelease.PathResult) {
	p := l.plan
	for _, r := range blueGreenRules(v.from, v.to, res) {
		switch r {
		case ruleBlueGreenMin:
			l.reportf(ruleBlueGreenMin, p.From.Version.Range, "from.version %s is older than %s: \"upgrade to at least 2.8.2.0 before starting any upgrades to the 3.x series\".", v.from, kongrelease.BlueGreenMinimum)
		case ruleBlueGreenLTS:
			l.reportf(ruleBlueGreenLTS, p.Strategy.Range, "%s → %s is an LTS-to-LTS hop, for which Kong lists only in-place, dual-cluster and rolling.", v.from.Series(), v.to.Series())
		case ruleBlueGreenPatch:
			l.reportf(ruleBlueGreenPatch, p.Strategy.Range, "%s → %s crosses series; Kong: \"only use it to upgrade between patch versions\".", v.from, v.to)
		}
	}
}

// blueGreenRules are the rules (UP006–UP008) a blue-green upgrade from →
// to trips: lint reports them, and Strategies lists them per hop.
func blueGreenRules(from, to kongrelease.Version, res kongrelease.PathResult) []*Rule {
	var out []*Rule
	if from.Compare(kongrelease.BlueGreenMinimum) < 0 {
		out = append(out, ruleBlueGreenMin)
	}
	switch {
	case res.Kind == kongrelease.PathLTS:
		out = append(out, ruleBlueGreenLTS)
	case res.Kind != kongrelease.PathPatch:
		out = append(out, ruleBlueGreenPatch)
	}
	return out
}
