package schema

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/plan"
)

// checkEnum reports UP031 when a set value is not one of options.
func (l *linter) checkEnum(s plan.String, what string, options []string) bool {
	if !s.Set || slices.Contains(options, s.Value) {
		return true
	}
	l.report(ruleEnum, s.Range, fmt.Sprintf("Unknown %s", what),
		fmt.Sprintf("%q is not a %s.%s Use one of: %s.", s.Value, what, plan.DidYouMean(s.Value, options), strings.Join(options, ", ")))
	return false
}

// checkEnums applies UP031 to every closed vocabulary.
func (l *linter) checkEnums() {
	p := l.plan
	l.checkEnum(p.Strategy, "strategy", plan.Strategies)
	l.checkEnum(p.Mode, "mode", plan.Modes)
	for _, a := range slices.Concat(p.Approve, p.ApproveInAdvance) {
		l.checkEnum(a, "consent item", plan.ApproveItems)
	}
	for _, s := range []*plan.Side{p.From, p.To} {
		if s != nil && s.Database != nil {
			l.checkEnum(s.Database.Kind, "database kind", plan.DatabaseKinds)
		}
	}
	for _, c := range p.Checks {
		l.checkEnum(c.Target, "check target", plan.CheckTargets)
	}
	for _, a := range p.Analyses {
		l.checkEnum(a.Compare, "comparison", plan.CompareKinds)
		l.checkEnum(a.OnNoData, "on_no_data policy", plan.OnNoData)
	}
}

// strategyModes is the mode row of plan-language.md's requirement table.
var strategyModes = map[string][]string{
	"dual_cluster": {"traditional", "hybrid_cp"},
	"blue_green":   {"traditional", "hybrid_cp"},
	"in_place":     {"traditional", "hybrid_cp"},
	"rolling":      {"dbless", "hybrid_dp"},
}

// approveApplies says which consent items matter to which strategy.
var approveApplies = map[string][]string{
	"dual_cluster": {"decommission"},
	"blue_green":   {"finish", "decommission"},
	"in_place":     {"stop_current", "decommission"},
	"rolling":      {"decommission"},
}

// checkStrategy applies UP009–UP011, UP019 and UP036: the requirement
// table of plan-language.md.
func (l *linter) checkStrategy() {
	p := l.plan
	st, mode := p.Strategy.Value, p.Mode.Value
	modes, known := strategyModes[st]
	if !known || !slices.Contains(plan.Modes, mode) {
		return // UP031 said so
	}
	if !slices.Contains(modes, mode) {
		rng := p.Mode.Range
		if !p.Mode.Set {
			rng = p.Strategy.Range
		}
		l.reportf(ruleStrategyMode, rng, "strategy %q does not work in mode %q (it works in %s).", st, mode, strings.Join(modes, " and "))
		return
	}
	rolling := st == "rolling"
	need := func(ok bool, rng hcl.Range, what string) {
		if !ok {
			l.report(ruleRequired, rng, "", fmt.Sprintf("strategy %q needs %s. RULES.md has the table of what each strategy needs.", st, what))
		}
	}
	never := func(present bool, rng hcl.Range, what, why string) {
		if present {
			l.report(ruleAbsent, rng, "", fmt.Sprintf("strategy %q does not use %s: %s. Remove it.", st, what, why))
		}
	}
	for _, s := range []struct {
		side *plan.Side
		name string
	}{{p.From, "from"}, {p.To, "to"}} {
		if s.side == nil {
			continue
		}
		if rolling {
			need(len(s.side.Nodes) > 0, s.side.DeclRange, s.name+` node blocks (node "NAME" { admin_url = ... })`)
			never(s.side.AdminURL.Given(), s.side.AdminURL.Range, s.name+".admin_url", "each node carries its own")
			never(s.side.ProxyURL.Given(), s.side.ProxyURL.Range, s.name+".proxy_url", "each node carries its own")
			never(s.side.Database != nil, dbRange(s.side), s.name+".database", "its nodes use no database of their own")
			never(s.side.Kong.Set, s.side.Kong.Range, s.name+".kong", "no migrations run on DB-less or data-plane nodes")
		} else {
			need(s.side.AdminURL.Given(), s.side.DeclRange, s.name+".admin_url")
			if s.name == "from" || st == "dual_cluster" {
				need(s.side.Database != nil, s.side.DeclRange, s.name+" database { dsn = ... }")
			}
			if len(s.side.Nodes) > 0 {
				never(true, s.side.Nodes[0].DeclRange, "node blocks", "they are for rolling upgrades; give the side's admin_url")
			}
		}
	}
	if p.To != nil && p.To.Database != nil && !rolling && st != "dual_cluster" {
		never(true, p.To.Database.DeclRange, "to.database", "Y shares X's database (from.database)")
	}
	if p.To != nil && !rolling {
		need(p.To.Kong.Given(), p.To.DeclRange, `to.kong, Y's kong command for "kong migrations" (kong = ["kong"])`)
	}
	if p.From != nil && p.From.Kong.Set {
		never(true, p.From.Kong.Range, "from.kong", "migrations run with Y's kong only")
	}
	hybridCP := mode == "hybrid_cp"
	if st == "in_place" {
		never(p.Traffic != nil, trafficRange(p), "traffic", "X and Y never serve together")
		never(p.Rollout != nil, rolloutRange(p), "rollout", "X and Y never serve together")
		l.reportf(ruleDowntime, p.Strategy.Range, "in_place stops X before Y starts, so the proxy serves nothing in between.")
	} else if !hybridCP {
		need(p.Traffic != nil, p.DeclRange, `a traffic block (the load balancer that shifts traffic from X to Y)`)
		need(p.Rollout != nil, p.DeclRange, `a rollout block (the traffic steps, ending at weight = 100)`)
	}
	if p.Traffic != nil && p.Rollout == nil && st != "in_place" {
		need(false, p.Traffic.DeclRange, "a rollout block when traffic is given")
	}
	if p.Rollout != nil && p.Traffic == nil && st != "in_place" {
		need(false, p.Rollout.DeclRange, "a traffic block when rollout is given")
	}
	need(p.Backup != nil, p.DeclRange, `a backup block (backup { dir = "..." }): every strategy backs X up first`)
	if p.Backup != nil && !rolling && p.Backup.Verify.Value && !p.Backup.VerifyDSN.Given() {
		need(false, p.Backup.Verify.Range, "backup.verify_dsn when verify = true (a server where Upshift may create a scratch database)")
	}
	if p.Backup != nil && rolling {
		// Its backup is X's GET /config, verified without a database.
		never(p.Backup.VerifyDSN.Given(), p.Backup.VerifyDSN.Range, "backup.verify_dsn",
			"its declarative backup is verified by decK's validation and X's fingerprint, without a scratch database")
	}
	if mode == "hybrid_dp" {
		need(p.ControlPlane != nil, p.DeclRange, `a control_plane block (version and admin_url of the control plane Y's data planes join)`)
	} else if p.ControlPlane != nil {
		never(true, p.ControlPlane.DeclRange, "control_plane", "it is for hybrid_dp plans")
	}
	never(p.MaxDowntime.Set && st != "in_place", p.MaxDowntime.Range, "max_downtime", "only in_place has downtime")
	// The proxy address of a side: checks send their requests there, and
	// the nginx driver writes it into the upstream.
	for _, c := range p.Checks {
		if c.Request != nil {
			side := p.To
			if c.Target.Value == "from" {
				side = p.From
			}
			need(hasProxy(side, rolling), c.DeclRange, fmt.Sprintf("the proxy_url of the side check %q targets (%s)", c.Name, c.Target.Value))
		}
	}
	if p.Traffic != nil && p.Traffic.Kind == "nginx" {
		need(hasProxy(p.From, rolling) && hasProxy(p.To, rolling), p.Traffic.DeclRange, "proxy_url on both sides (every node for rolling): the nginx driver writes them into the upstream")
	}
	for _, a := range slices.Concat(p.Approve, p.ApproveInAdvance) {
		if slices.Contains(plan.ApproveItems, a.Value) && !slices.Contains(approveApplies[st], a.Value) {
			l.reportf(ruleApprove, a.Range, "%q is not a point of no return of %s (those are %s).", a.Value, st, strings.Join(approveApplies[st], ", "))
		}
	}
	for _, a := range p.ApproveInAdvance {
		if slices.Contains(plan.ApproveItems, a.Value) {
			l.reportf(ruleInAdvance, a.Range, "%q is approved in advance: the run goes through this gate without stopping.", a.Value)
		}
	}
}

// hasProxy reports whether side s has its proxy address: proxy_url, or for
// rolling on every node. A missing side is not reported here.
func hasProxy(s *plan.Side, rolling bool) bool {
	if s == nil {
		return true
	}
	if !rolling {
		return s.ProxyURL.Given()
	}
	for _, n := range s.Nodes {
		if !n.ProxyURL.Given() {
			return false
		}
	}
	return true
}

func dbRange(s *plan.Side) hcl.Range {
	if s.Database != nil {
		return s.Database.DeclRange
	}
	return s.DeclRange
}

func trafficRange(p *plan.Plan) hcl.Range {
	if p.Traffic != nil {
		return p.Traffic.DeclRange
	}
	return p.DeclRange
}

func rolloutRange(p *plan.Plan) hcl.Range {
	if p.Rollout != nil {
		return p.Rollout.DeclRange
	}
	return p.DeclRange
}

// checkHybrid applies UP013–UP015.
func (l *linter) checkHybrid(v versions) {
	p := l.plan
	mode := p.Mode.Value
	if mode != "hybrid_cp" && mode != "hybrid_dp" {
		return
	}
	if mode == "hybrid_dp" && v.cpOK && v.toOK {
		if ok, reason := kongrelease.DataPlaneAccepted(v.cp, v.to); !ok {
			l.reportf(ruleDataPlane, p.To.Version.Range, "Kong's control plane %s would refuse Y's data planes: %q.", v.cp, reason)
		}
	}
	if !v.both() {
		return
	}
	if mode == "hybrid_cp" && v.from.Major != v.to.Major && v.from.Compare(v.to) < 0 {
		_, reason := kongrelease.DataPlaneAccepted(v.to, v.from)
		l.reportf(ruleHybridMajor, p.To.Version.Range, "Once Y is the control plane, data planes still on %s are refused: %q.", v.from, reason)
	}
	if kongrelease.Hybrid31Stop(v.from, v.to) {
		l.reportf(ruleHybrid31, p.To.Version.Range, "from.version %s is in the affected range 3.1.0.x–3.1.1.2 (Kong's new docs say go to 3.1.1.2; the old upgrade-path table says 3.1.1.3; Upshift takes the stricter).", v.from)
	}
}

// checkDatabases applies UP012 and UP016.
func (l *linter) checkDatabases(v versions) {
	p := l.plan
	if v.toOK && v.to.Compare(kongrelease.CassandraRemoved) >= 0 {
		for _, s := range []*plan.Side{p.From, p.To} {
			if s != nil && s.Database != nil && s.Database.Kind.Value == "cassandra" {
				l.reportf(ruleCassandra, s.Database.Kind.Range, "to.version %s has no Cassandra support.", v.to)
			}
		}
	}
	if p.Strategy.Value != "dual_cluster" || p.From == nil || p.To == nil || p.From.Database == nil || p.To.Database == nil {
		return
	}
	x, y := p.From.Database.DSN, p.To.Database.DSN
	if same, how := sameDatabase(x, y); same {
		l.reportf(ruleSharedDB, y.Range, "to.database %s names the same database as from.database (%s).", y, how)
	}
}
