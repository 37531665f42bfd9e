package schema

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/upshift-dev/upshift/plan"
)

// Options tune Lint. The zero value is what `upshift lint` does by default.
type Options struct {
	// StrictEnv makes every env("NAME") in a plan an error unless NAME is
	// set (UP027). Off by default: plans are linted where they are
	// reviewed, not where they run.
	StrictEnv bool
	// LookupEnv replaces os.LookupEnv under StrictEnv (for tests).
	LookupEnv func(string) (string, bool)
}

// Lint runs every rule over set and returns the findings sorted by file and
// position. Each diagnostic carries a *Finding in Extra.
//
// Acknowledged findings: when a plan lists an acknowledgeable rule in
// `acknowledge`, that rule's findings in the plan are downgraded to
// SeverityInfo (Finding.Acknowledged = true, Summary suffixed with
// "(acknowledged)") rather than dropped, so that the review shows what was
// accepted. Non-acknowledgeable rules cannot be acknowledged (UP030).
//
// hcl.Diagnostic has no info severity: info findings use hcl.DiagWarning,
// so renderers must use SeverityOf, not d.Severity.
func Lint(set *plan.Set, opts Options) hcl.Diagnostics {
	if set == nil {
		return nil
	}
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	var all []*hcl.Diagnostic
	for _, p := range set.Plans {
		if p == nil {
			continue
		}
		l := &linter{plan: p, opts: opts}
		l.run()
		all = append(all, l.acknowledge()...)
	}
	s := &linter{opts: opts}
	s.checkSet(set)
	all = append(all, s.diags...)
	sortDiags(all)
	return all
}

// linter collects the findings for one plan (or, with plan nil, the set).
type linter struct {
	plan  *plan.Plan
	opts  Options
	diags hcl.Diagnostics
}

// report adds a finding of rule r at rng; detail says what is wrong here
// and how to fix it (the rule's Fix is appended when detail is empty).
func (l *linter) report(r *Rule, rng hcl.Range, summary, detail string) {
	if l.plan != nil && l.plan.Incomplete && (r == ruleRequired || r == ruleNoChecks || r == ruleNoAnalysis) {
		return // what looks missing may be what failed to decode
	}
	if summary == "" {
		summary = r.Summary
	}
	if detail == "" {
		detail = r.Fix
	}
	sev := hcl.DiagError
	if r.Severity != SeverityError {
		sev = hcl.DiagWarning
	}
	subj := rng
	name := ""
	if l.plan != nil {
		name = l.plan.Name
		if subj.Filename == "" {
			subj = l.plan.DeclRange
		}
	}
	l.diags = append(l.diags, &hcl.Diagnostic{
		Severity: sev,
		Summary:  summary,
		Detail:   detail,
		Subject:  &subj,
		Extra:    &Finding{Rule: r, Severity: r.Severity, Plan: name},
	})
}

func (l *linter) reportf(r *Rule, rng hcl.Range, format string, args ...any) {
	l.report(r, rng, "", fmt.Sprintf(format, args...)+" "+r.Fix)
}

// run applies the per-plan rules.
func (l *linter) run() {
	switch {
	case !ValidPlanName(l.plan.Name):
		l.reportf(rulePlanName, l.plan.NameRange, "%q is not a valid plan name.", l.plan.Name)
	case ReservedPlanName(l.plan.Name):
		l.reportf(rulePlanName, l.plan.NameRange, "%q is reserved: journal names starting with %q are the agent's own records (its poll requests), never a plan's.", l.plan.Name, ReservedPrefix)
	}
	l.checkAcknowledgeList()
	l.checkEnums()
	v := l.checkVersions()
	l.checkStrategy()
	l.checkHybrid(v)
	l.checkDatabases(v)
	l.checkGates()
	l.checkValues()
	l.checkTLS()
	l.checkInert(l.plan)
	l.checkRehearse()
}

var planNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidPlanName reports whether name can be a plan's identity (rule UP038):
// 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.
// The journal keys its records and files by it, so it must be safe as a file
// name; the engine checks the same rule through this function.
func ValidPlanName(name string) bool { return planNameRE.MatchString(name) }

// ReservedPrefix starts the journal names the agent keeps for itself
// (upshift.agent.poll-requests): a plan of that name would mix its records
// with the agent's. Lint refuses it (UP038); the journal does not, since
// the agent writes there.
const ReservedPrefix = "upshift."

// ReservedPlanName reports whether name is one of the agent's own journal
// names, in any case (a journal directory may not tell the cases apart).
func ReservedPlanName(name string) bool {
	return strings.HasPrefix(strings.ToLower(name), ReservedPrefix)
}

// acknowledge downgrades the findings of rules the plan acknowledges.
func (l *linter) acknowledge() hcl.Diagnostics {
	acked := map[string]bool{}
	for _, a := range l.plan.Acknowledge {
		if r := RuleByID(a.Value); r != nil && r.Acknowledgeable {
			acked[r.ID] = true
		}
	}
	fired := map[string]bool{}
	for _, d := range l.diags {
		f := FindingOf(d)
		if f != nil {
			fired[f.Rule.ID] = true
		}
		if f == nil || !acked[f.Rule.ID] || f.Severity == SeverityInfo {
			continue
		}
		f.Severity = SeverityInfo
		f.Acknowledged = true
		d.Severity = hcl.DiagWarning
		d.Summary += " (acknowledged)"
	}
	for _, a := range l.plan.Acknowledge {
		if acked[a.Value] && !fired[a.Value] {
			l.reportf(ruleStaleAck, a.Range, "%s (%s) is acknowledged, but this plan does not trigger it.", a.Value, RuleByID(a.Value).Summary)
		}
	}
	return l.diags
}

func (l *linter) checkAcknowledgeList() {
	ids := make([]string, 0, len(allRules))
	for _, r := range allRules {
		if r.Acknowledgeable {
			ids = append(ids, r.ID)
		}
	}
	for _, a := range l.plan.Acknowledge {
		if isPreflightID(a.Value) {
			l.checkPreflightAck(a)
			continue
		}
		r := RuleByID(a.Value)
		switch {
		case r == nil:
			l.report(ruleAck, a.Range, "Unknown rule in acknowledge",
				fmt.Sprintf("%q is not a rule ID.%s Acknowledgeable rules: %v.", a.Value, plan.DidYouMean(a.Value, ids), ids))
		case !r.Acknowledgeable:
			l.report(ruleAck, a.Range, "", fmt.Sprintf("%s (%s) is a safety rule and can never be acknowledged: fix the plan instead. %s", r.ID, r.Summary, r.Fix))
		}
	}
}

// sortDiags orders diagnostics by file, line and column, keeping the
// emission order for ties.
func sortDiags(ds []*hcl.Diagnostic) {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Subject, ds[j].Subject
		if a == nil || b == nil {
			return a != nil && b == nil
		}
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		if a.Start.Line != b.Start.Line {
			return a.Start.Line < b.Start.Line
		}
		return a.Start.Column < b.Start.Column
	})
}
