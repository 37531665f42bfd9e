package engine

import (
	"errors"
	"fmt"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/preflight"
	"github.com/upshift-dev/upshift/internal/preflight/rules"
	"github.com/upshift-dev/upshift/plan"
)

// PreflightSide is what `upshift preflight` reads of one side: its Admin
// API (nil when the plan gives none) and its database (DSN "" when none).
type PreflightSide struct {
	Client *kong.Client
	DSN    string
}

// PreflightSides resolves X's and Y's Admin API clients and DSNs as the
// engine does (env() values, tls blocks; a rolling side's first node).
// It contacts nothing.
func PreflightSides(p *plan.Plan, lookupEnv func(string) (string, bool)) (x, y PreflightSide, err error) {
	if p == nil || p.From == nil || p.To == nil {
		return x, y, errNoSide
	}
	b := &observerBuilder{p: p, env: lookupEnv, o: &Observer{}}
	for _, s := range []struct {
		name string
		side *plan.Side
		dst  *PreflightSide
	}{{"from", p.From, &x}, {"to", p.To, &y}} {
		if s.dst.Client, err = b.firstClient(s.side); err != nil {
			return x, y, fmt.Errorf("%s: %w", s.name, err)
		}
		if s.dst.DSN, err = b.dsn(s.side.Database); err != nil {
			return x, y, fmt.Errorf("%s.database: %w", s.name, err)
		}
	}
	return x, y, nil
}

// PreflightOptions is the preflight of p as `upshift preflight` and the
// engine's preflight step run it: both sides as the engine resolves them,
// the plan's checks on Y (what they expect), its acknowledge entries.
func PreflightOptions(p *plan.Plan, lookupEnv func(string) (string, bool)) (preflight.Options, error) {
	x, y, err := PreflightSides(p, lookupEnv)
	if err != nil {
		return preflight.Options{}, err
	}
	from, errF := kongrelease.Parse(p.From.Version.Value)
	to, errT := kongrelease.Parse(p.To.Version.Value)
	if errF != nil || errT != nil {
		return preflight.Options{}, errors.New("from.version and to.version must be versions")
	}
	if p.Strategy.Value == "in_place" {
		// Y is X's nodes upgraded: until then what answers at Y's
		// address is X, not a Y on the wrong version.
		y.Client = nil
	}
	return preflight.Options{Plan: p.Name,
		X:           preflight.Side{Client: x.Client, DSN: x.DSN, Version: from},
		Y:           preflight.Side{Client: y.Client, DSN: y.DSN, Version: to},
		Checks:      preflightChecks(p),
		Acknowledge: acknowledged(p),
		Strategy:    p.Strategy.Value}, nil
}

// preflightChecks are the plan's checks on Y, as the rules on what a
// check expects read them (a check on X meets no change).
func preflightChecks(p *plan.Plan) []rules.Check {
	var out []rules.Check
	for _, c := range p.Checks {
		if c.Expect == nil || c.Target.Value == "from" {
			continue
		}
		rc := rules.Check{Name: c.Name, BodyContains: c.Expect.BodyContains.Value, Headers: map[string]string{}}
		for k, v := range c.Expect.Headers {
			rc.Headers[k] = v.Value
		}
		out = append(out, rc)
	}
	return out
}

func acknowledged(p *plan.Plan) []string {
	var out []string
	for _, a := range p.Acknowledge {
		out = append(out, a.Value)
	}
	return out
}
