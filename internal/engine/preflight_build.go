package engine

import (
	"fmt"

	"github.com/upshift-dev/upshift/internal/kong"
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
