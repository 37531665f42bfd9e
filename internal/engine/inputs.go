package engine

import (
	"context"
	"fmt"
	"strings"

	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/analysis"
	"github.com/upshift-dev/upshift/internal/kong"
)

// analysisInputs lists what the plan's analyses need from X (toSide
// false: the guard, and `upshift plan` as a prediction) or from Y (before
// its first traffic step) and cannot find there, each with its fix. An
// analysis that cannot be measured at a pause would roll the upgrade back
// after traffic moved; checked first, it stops the plan before.
func (e *Engine) analysisInputs(ctx context.Context, toSide bool) []string {
	side := analysis.InputSide{To: toSide, Plugin: e.prometheusPlugin(toSide)}
	var out []string
	for _, a := range e.drv.Analyses {
		if ic, ok := a.(analysis.InputChecker); ok {
			out = append(out, ic.MissingInputs(ctx, side)...)
		}
	}
	return out
}

// yInputsProblem stops the first traffic step (Y carries nothing yet)
// when Y lacks what an analysis needs; nil otherwise.
func (e *Engine) yInputsProblem(ctx context.Context, s *state) error {
	if t := s.obs.Traffic; t == nil || t.Error != "" || t.To > 0 {
		return nil // Y already carries traffic: its inputs were checked before
	}
	if msgs := e.analysisInputs(ctx, true); len(msgs) > 0 {
		return &haltError{reason: ReasonPreconditionFail, msg: strings.Join(msgs, "; ") + " (no traffic moved to Y)"}
	}
	return nil
}

// prometheusPlugin reads a side's prometheus plugin from the Admin API of
// each of its nodes the plan names: enabled only when every node has it
// globally (DB-less nodes each hold their own configuration).
func (e *Engine) prometheusPlugin(toSide bool) func(context.Context) (analysis.PrometheusPlugin, error) {
	o := e.drv.Observer
	readers := []NodeReader{o.From}
	nodes := o.FromNodes
	if toSide {
		readers, nodes = []NodeReader{o.To}, o.ToNodes
	}
	for _, n := range nodes {
		readers = append(readers, n.Reader)
	}
	var clients []*kong.Client
	for _, r := range readers {
		if c, ok := r.(*kong.Client); ok && c != nil {
			clients = append(clients, c)
		}
	}
	if len(clients) == 0 {
		return nil
	}
	return func(ctx context.Context) (analysis.PrometheusPlugin, error) {
		all := analysis.PrometheusPlugin{Enabled: true, StatusCodeMetrics: true, LatencyMetrics: true}
		for _, c := range clients {
			p, err := globalPrometheus(ctx, c.GoKong())
			if err != nil {
				return analysis.PrometheusPlugin{}, fmt.Errorf("%s: %w", c.AdminURL(), err)
			}
			all.Enabled = all.Enabled && p.Enabled
			all.StatusCodeMetrics = all.StatusCodeMetrics && p.StatusCodeMetrics
			all.LatencyMetrics = all.LatencyMetrics && p.LatencyMetrics
		}
		return all, nil
	}
}

// globalPrometheus finds the prometheus plugin enabled on no service,
// route or consumer.
func globalPrometheus(ctx context.Context, c *gokong.Client) (analysis.PrometheusPlugin, error) {
	ps, err := c.Plugins.ListAll(ctx)
	if err != nil {
		return analysis.PrometheusPlugin{}, fmt.Errorf("list plugins: %w", err)
	}
	for _, p := range ps {
		if p.Name == nil || *p.Name != "prometheus" || p.Service != nil || p.Route != nil || p.Consumer != nil || p.ConsumerGroup != nil {
			continue
		}
		if p.Enabled != nil && !*p.Enabled {
			continue
		}
		flag := func(k string) bool { v, ok := p.Config[k].(bool); return ok && v }
		return analysis.PrometheusPlugin{Enabled: true, StatusCodeMetrics: flag("status_code_metrics"), LatencyMetrics: flag("latency_metrics")}, nil
	}
	return analysis.PrometheusPlugin{}, nil
}

// predictInputs is `upshift plan`'s prediction of what analysisInputs
// would stop: X's inputs when the guard is next, Y's when the next step
// sends Y its first traffic.
func (e *Engine) predictInputs(ctx context.Context, s *state, d decision) []string {
	if d.direction != "upgrade" || d.next < 0 {
		return nil
	}
	switch name := d.steps[d.next].name; {
	case name == "guard":
		return e.analysisInputs(ctx, false)
	case strings.HasPrefix(name, "traffic_"):
		if err := e.yInputsProblem(ctx, s); err != nil {
			return []string{err.Error()}
		}
	}
	return nil
}
