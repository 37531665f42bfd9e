package analysis

import (
	"context"
	"errors"
	"fmt"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// An analysis that cannot read its inputs at a pause fails it and rolls
// the upgrade back, after traffic moved. Its inputs are checked before
// anything moves instead: X's before the run starts (the guard, and
// `upshift plan` as a prediction), Y's before its first traffic step.

// InputSide is the cluster whose inputs are checked.
type InputSide struct {
	To bool // Y; false: X
	// Plugin reads how the side's prometheus plugin is configured (the
	// Admin API's /plugins). Asked only when a series is missing from
	// /metrics, to tell "not configured" (the fix) from "configured, no
	// request served since the node started". Nil: not readable.
	Plugin func(ctx context.Context) (PrometheusPlugin, error)
}

func (s InputSide) label() string {
	if s.To {
		return "Y"
	}
	return "X"
}

// PrometheusPlugin is the prometheus plugin as a cluster's Admin API lists
// it: enabled globally (no service, route or consumer), and its opt-in
// metric flags (kong-facts §6; all off by default in 3.x).
type PrometheusPlugin struct {
	Enabled           bool
	StatusCodeMetrics bool
	LatencyMetrics    bool
}

// InputChecker is an analysis whose inputs can be checked before a pause
// needs them. *Compare and *Prometheus implement it.
type InputChecker interface {
	// MissingInputs lists what the analysis needs from side and cannot
	// find there, each with its fix; an input that cannot be read is
	// listed too (unknown is not present). Read-only.
	MissingInputs(ctx context.Context, side InputSide) []string
}

// MissingInputs: kong_metrics needs, on every node of the side, the
// status counter with its code label (status_code_metrics = true), and
// the request-latency histogram when p99_latency_margin is set
// (latency_metrics = true). A series missing from /metrics is accepted
// when the plugin is configured to produce it: Kong adds a series with
// the first request that matches it.
func (c *Compare) MissingInputs(ctx context.Context, side InputSide) []string {
	ms, names := c.cfg.From, c.fromN
	if side.To {
		ms, names = c.cfg.To, c.toN
	}
	who := "analysis " + c.cfg.Name + ": " + side.label()
	needLatency := c.cfg.P99LatencyMargin != nil
	var out []string
	var lacksStatus, lacksLatency []string
	for _, u := range ms.URLs {
		rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		fams, err := fetchFamilies(rctx, c.cfg.Client, u, ms.Header)
		cancel()
		if err != nil {
			out = append(out, fmt.Sprintf("%s's metrics cannot be read at %s: %v", who, redact(u), err))
			continue
		}
		if !hasStatusSeries(fams[names.status]) {
			lacksStatus = append(lacksStatus, redact(u))
		}
		if needLatency && !hasLatencySeries(fams[names.latency], names) {
			lacksLatency = append(lacksLatency, redact(u))
		}
	}
	if len(lacksStatus) == 0 && len(lacksLatency) == 0 {
		return out
	}
	pre3 := names.latencyType != "" // 2.8 counts statuses always
	var pl PrometheusPlugin
	var plErr error
	if side.Plugin == nil {
		plErr = fmt.Errorf("no Admin API to read")
	} else {
		pl, plErr = side.Plugin(ctx)
	}
	missing := func(series string, at []string, flag string, on bool) {
		if len(at) == 0 {
			return
		}
		where := fmt.Sprintf("%s exposes no %s series (%s)", who, series, strings.Join(at, ", "))
		switch {
		case plErr != nil:
			out = append(out, fmt.Sprintf("%s and its prometheus plugin's configuration cannot be read (%v): enable the prometheus plugin globally with %s = true", where, plErr, flag))
		case !pl.Enabled:
			out = append(out, fmt.Sprintf("%s: the prometheus plugin is not enabled globally; enable it with %s = true", where, flag))
		case !on:
			out = append(out, fmt.Sprintf("%s: the prometheus plugin is enabled with %s = false; set %s = true", where, flag, flag))
		}
		// Configured: the series appears with the first request.
	}
	missing(names.status, lacksStatus, "status_code_metrics", pl.StatusCodeMetrics || pre3)
	latencyFlag := "latency_metrics"
	if pre3 {
		latencyFlag = "latency_metrics (2.8: always on once enabled)"
	}
	missing(names.latency+" (p99_latency_margin)", lacksLatency, latencyFlag, pl.LatencyMetrics || pre3)
	return out
}

func hasStatusSeries(f *dto.MetricFamily) bool {
	for _, m := range f.GetMetric() {
		if label(m, "code") != "" {
			return true
		}
	}
	return false
}

func hasLatencySeries(f *dto.MetricFamily, names kongNames) bool {
	if f.GetType() != dto.MetricType_HISTOGRAM {
		return false
	}
	for _, m := range f.GetMetric() {
		if names.latencyType == "" || label(m, "type") == names.latencyType {
			return true
		}
	}
	return false
}

// MissingInputs: a Prometheus analysis's query must return data for X
// before anything moves (a number, not an empty vector or NaN): a query
// that returns nothing now cannot judge a pause either. Y has served
// nothing before its first traffic step, so only X is checked. A
// {version} or {side} placeholder is replaced by X's version or "from".
func (p *Prometheus) MissingInputs(ctx context.Context, side InputSide) []string {
	if side.To {
		return nil
	}
	q := p.sideQuery("from")
	who := "analysis " + p.cfg.Name + ": the query"
	n, err := p.instant(ctx, q)
	switch {
	case err != nil:
		return []string{fmt.Sprintf("%s cannot be evaluated on %s: %v", who, redact(p.cfg.URL), err)}
	case n == 0:
		return []string{fmt.Sprintf("%s returns no data for X (%s): a pause could not be judged; check that Prometheus scrapes X's /metrics and that the series it names exist (the prometheus plugin with status_code_metrics = true)", who, q)}
	}
	return nil
}

// instant runs q once through the measurement's own query and counts the
// samples it returned: 0 when it is no data (an empty vector, NaN).
func (p *Prometheus) instant(ctx context.Context, q string) (int, error) {
	values, _, bad, err := p.query(ctx, q)
	switch {
	case err != nil:
		return 0, err
	case bad != nil && bad.NoData:
		return 0, nil
	case bad != nil:
		return 0, errors.New(bad.Reason)
	}
	return len(values), nil
}
