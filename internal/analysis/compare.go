package analysis

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MetricsSide is one cluster as the X-vs-Y comparison scrapes it.
type MetricsSide struct {
	// URLs are the /metrics endpoints of the side's nodes (Admin or
	// Status API); their counters are added up.
	URLs []string
	// Version is the side's Kong version: before 3.0 the plugin's metric
	// names differ (kong-facts §6) and are mapped.
	Version string
	// Header is sent with every scrape (e.g. Kong-Admin-Token). Never put
	// in a reason or an error.
	Header http.Header
	// Names name the nodes behind URLs, in order, for the per-node
	// breakdown; missing names are the URL's host.
	Names []string
	// Clients, when set, are the HTTP clients for URLs, in order (an https
	// Status API with its own CA or client certificate); a missing or nil
	// one is CompareConfig.Client.
	Clients []*http.Client
}

// CompareConfig is the analysis compare = "kong_metrics": Y's error rate
// and p99 latency against X's over the pause, from both clusters' own
// /metrics, without Prometheus.
type CompareConfig struct {
	Name     string
	From, To MetricsSide
	// ErrorRateMargin: Y's 5xx share may exceed X's by at most this much
	// (a fraction: 0.005 is half a percentage point). Nil: not compared.
	ErrorRateMargin *float64
	// P99LatencyMargin: Y's p99 total request latency may exceed X's by at
	// most this much. Nil: not compared.
	P99LatencyMargin *time.Duration
	// Policy is the low-traffic policy; MinRequests applies to each side.
	Policy
	Interval time.Duration // default 30s
	Failures int           // failed measurements a pause tolerates; default 0
	Timeout  time.Duration // per scrape; default 10s
	Client   *http.Client
}

// Compare is an Analysis: Begin scrapes both sides at the start of the
// pause; each Measure scrapes them again and compares what happened in
// between (counter deltas, so counters are read, never rates). The error
// rate is the share of responses with a 5xx code in the plugin's status
// counter; p99 is estimated from the request-latency histogram's bucket
// deltas, so it is only as precise as the buckets (Kong's 3.x request
// buckets are 25, 50, 80, 100, 250 ms, ...).
//
// It needs the prometheus plugin with status_code_metrics = true on both
// clusters (3.x; always on in 2.8), and latency_metrics = true for the
// latency margin. Missing metrics are Inconclusive. A window in which Y
// served fewer than MinRequests is no data (Result.NoData); one in which
// X did is compared with X's baseline (SetBaseline) when there is one,
// and is no data otherwise.
type Compare struct {
	cfg        CompareConfig
	fromN, toN kongNames

	mu       sync.Mutex
	start    [2]*sideSnapshot // from, to at Begin
	startErr error
	begun    time.Time
	baseline Baseline
}

// NewCompare checks cfg; it scrapes nothing.
func NewCompare(cfg CompareConfig) (*Compare, error) {
	fail := func(err error) (*Compare, error) {
		return nil, &Error{Op: "configure analysis " + cfg.Name, Err: err}
	}
	switch {
	case len(cfg.From.URLs) == 0 || len(cfg.To.URLs) == 0:
		return fail(errors.New("each side needs at least one /metrics URL"))
	case cfg.ErrorRateMargin == nil && cfg.P99LatencyMargin == nil:
		return fail(errors.New("needs error_rate_margin and/or p99_latency_margin"))
	case cfg.ErrorRateMargin != nil && (*cfg.ErrorRateMargin < 0 || *cfg.ErrorRateMargin > 1):
		return fail(errors.New("error_rate_margin is a fraction between 0 and 1"))
	case cfg.P99LatencyMargin != nil && *cfg.P99LatencyMargin < 0:
		return fail(errors.New("p99_latency_margin must not be negative"))
	case cfg.Failures < 0:
		return fail(errors.New("failures must not be negative"))
	}
	if err := cfg.Policy.check(); err != nil {
		return fail(err)
	}
	cfg.Policy = cfg.Policy.withDefaults()
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: cfg.Timeout}
	}
	return &Compare{cfg: cfg, fromN: namesFor(cfg.From.Version), toN: namesFor(cfg.To.Version)}, nil
}

// Name is the analysis's name.
func (c *Compare) Name() string { return c.cfg.Name }

// Interval is the time between measurements.
func (c *Compare) Interval() time.Duration { return c.cfg.Interval }

// Failures is how many failed measurements a pause tolerates.
func (c *Compare) Failures() int { return c.cfg.Failures }

// Policy is the low-traffic policy.
func (c *Compare) Policy() Policy { return c.cfg.Policy }

// SetBaseline gives the X figures to compare Y with when X serves too
// little in the window (the engine reads them from the journal before
// each pause).
func (c *Compare) SetBaseline(b Baseline) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.baseline = b
}

// Begin starts a window: it scrapes both sides and keeps the counters in
// memory (a restarted engine calls Begin again: the window restarts).
// Calling it again restarts the window. A failed scrape is returned and
// also makes the following measurements Inconclusive until a Begin
// succeeds.
func (c *Compare) Begin(ctx context.Context) error {
	from, to, err := c.scrapeBoth(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.start, c.startErr, c.begun = [2]*sideSnapshot{from, to}, err, time.Now()
	return err
}

func (c *Compare) scrapeBoth(ctx context.Context) (from, to *sideSnapshot, err error) {
	from, err = scrape(ctx, c.cfg.Client, c.cfg.From, c.fromN)
	if err != nil {
		return nil, nil, &sideError{side: "X", err: err}
	}
	to, err = scrape(ctx, c.cfg.Client, c.cfg.To, c.toN)
	if err != nil {
		return nil, nil, &sideError{side: "Y", err: err}
	}
	return from, to, nil
}

// sideError is a failed scrape of one side.
type sideError struct {
	side string
	err  error
}

func (e *sideError) Error() string { return e.side + ": " + e.err.Error() }
func (e *sideError) Unwrap() error { return e.err }

// unreadable is an Inconclusive result for a failed scrape; one of X
// is marked FromUnreadable: it says nothing about Y.
func (c *Compare) unreadable(reason string, err error) Result {
	r := inconclusive(c.cfg.Name, reason, err)
	var se *sideError
	r.FromUnreadable = errors.As(err, &se) && se.side == "X"
	return r
}

// Measure scrapes both sides and compares the window since Begin: Y
// with X in the same window while X served at least MinRequests, else Y
// with X's baseline. Read-only, safe to repeat; the error is non-nil only
// when ctx ended.
func (c *Compare) Measure(ctx context.Context) (Result, error) {
	c.mu.Lock()
	start, startErr, begun, base := c.start, c.startErr, c.begun, c.baseline
	c.mu.Unlock()
	switch {
	case begun.IsZero():
		return inconclusive(c.cfg.Name, "no window: Begin was not called", nil), nil
	case startErr != nil:
		return c.unreadable("the window's start could not be scraped: "+startErr.Error(), startErr), nil
	}
	from, to, err := c.scrapeBoth(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		return c.unreadable("scrape failed: "+err.Error(), err), nil
	}
	span := time.Since(begun).Round(10 * time.Millisecond)
	sides := []struct {
		name       string
		start, end *sideSnapshot
		names      kongNames
	}{{"X", start[0], from, c.fromN}, {"Y", start[1], to, c.toN}}
	var ws [2]windowStats
	var missing [2]string
	for i, s := range sides {
		// Kong shows the status counter from a node's first request on:
		// its absence is no request counted yet (no data) or the plugin
		// switched off, which the guard's preconditions catch on X.
		if !s.end.statusFamily {
			missing[i] = fmt.Sprintf("; %s exposes no %s: no request counted yet, or the prometheus plugin is not enabled%s", s.name, s.names.status, statusHint(s.names))
		}
		ws[i] = window(s.start, s.end)
	}
	x, y := ws[0], ws[1]
	minReq := float64(c.cfg.MinRequests)
	details := map[string]string{"x_requests": dec(x.requests), "y_requests": dec(y.requests), "against": "window",
		"x_error_rate": "", "y_error_rate": "", "x_p99_ms": "", "y_p99_ms": ""}
	if x.requests > 0 {
		details["x_error_rate"] = dec(x.errors5xx / x.requests)
	}
	if y.requests > 0 {
		details["y_error_rate"] = dec(y.errors5xx / y.requests)
	}
	// X's figures: the same window while X serves enough, else its
	// baseline from earlier in the run.
	useBase := x.requests < minReq
	if useBase && base.Requests < minReq {
		return noData(c.cfg.Name, fmt.Sprintf("X served %.0f requests in the last %v (at least %d needed) and there is no baseline of X from an earlier pause of this run%s", x.requests, span, c.cfg.MinRequests, missing[0]), details), nil
	}
	if y.requests < minReq {
		return noData(c.cfg.Name, fmt.Sprintf("Y served %.0f requests in the last %v (at least %d needed)%s", y.requests, span, c.cfg.MinRequests, missing[1]), details), nil
	}
	errX, errY := x.errors5xx/x.requests, y.errors5xx/y.requests
	xText := fmt.Sprintf("X %.2f%% of %.0f", 100*errX, x.requests)
	against := ""
	if useBase {
		errX = base.ErrorRate
		xText = fmt.Sprintf("X's baseline %.2f%% of %.0f", 100*errX, base.Requests)
		against = fmt.Sprintf(" against X's baseline from %d earlier pause(s), X serving %.0f requests now", base.Steps, x.requests)
		details["against"] = "baseline"
		details["x_requests"], details["x_error_rate"] = dec(base.Requests), dec(errX)
	}
	values := []string{fmt.Sprintf("5xx %s, Y %.2f%% of %.0f", xText, 100*errY, y.requests)}
	var problems, fine []string
	if m := c.cfg.ErrorRateMargin; m != nil {
		if errY-errX > *m {
			problems = append(problems, fmt.Sprintf("Y's error rate %.2f%% exceeds X's %.2f%% by more than the margin %.2f points", 100*errY, 100*errX, 100**m))
		} else {
			fine = append(fine, fmt.Sprintf("error rate Y %.2f%% vs X %.2f%% within %.2f points", 100*errY, 100*errX, 100**m))
		}
	}
	if m := c.cfg.P99LatencyMargin; m != nil {
		for i, s := range sides {
			if i == 0 && useBase {
				continue
			}
			if !s.end.latencyFound {
				return inconclusive(c.cfg.Name, fmt.Sprintf("%s exposes no %s histogram (latency_metrics = true on the prometheus plugin?)", s.name, s.names.latency), nil), nil
			}
			if ws[i].latencyCount <= 0 {
				return noData(c.cfg.Name, fmt.Sprintf("%s's latency histogram recorded nothing in the last %v", s.name, span), details), nil
			}
		}
		var px, py float64
		var xInf, yInf bool
		if useBase {
			if !base.HasP99 {
				return noData(c.cfg.Name, "X serves too little in the window and its baseline has no p99 latency", details), nil
			}
			px = base.P99Ms
			py, yInf, _ = y.p99()
		} else {
			cx, cy := commonBuckets(x, y)
			px, xInf, _ = cx.p99()
			py, yInf, _ = cy.p99()
		}
		details["x_p99_ms"], details["y_p99_ms"] = dec(px), dec(py)
		values = append(values, fmt.Sprintf("p99 X %s, Y %s", msText(px, xInf), msText(py, yInf)))
		margin := float64(*m) / float64(time.Millisecond)
		if py-px > margin {
			problems = append(problems, fmt.Sprintf("Y's p99 latency %s exceeds X's %s by more than %v", msText(py, yInf), msText(px, xInf), *m))
		} else {
			fine = append(fine, fmt.Sprintf("p99 Y %s vs X %s within %v", msText(py, yInf), msText(px, xInf), *m))
		}
	}
	if b := c.nodeBreakdown(start[1], to, len(problems) > 0); b != "" {
		values = append(values, b)
	}
	value := strings.Join(values, "; ")
	if len(problems) > 0 {
		r := failed(c.cfg.Name, value, strings.Join(problems, "; ")+fmt.Sprintf(" (over the last %v%s)", span, against))
		r.Details = details
		return r, nil
	}
	r := passed(c.cfg.Name, value, strings.Join(fine, "; ")+fmt.Sprintf(" (over the last %v%s)", span, against))
	r.Details = details
	return r, nil
}

// nodeBreakdown is Y's error rate per node when Y has several and one of
// them is the outlier: the measurement failed, or a node's rate is off
// the others' by more than the margin. "" otherwise.
func (c *Compare) nodeBreakdown(start, end *sideSnapshot, failing bool) string {
	n := len(c.cfg.To.URLs)
	if n < 2 {
		return ""
	}
	per := make([]windowStats, n)
	for i := range per {
		per[i] = window(start.node(i), end.node(i))
	}
	margin := 0.0
	if m := c.cfg.ErrorRateMargin; m != nil {
		margin = *m
	}
	outlier, spread := -1, 0.0
	for i, w := range per {
		var rest windowStats
		for k, o := range per {
			if k != i {
				rest.requests += o.requests
				rest.errors5xx += o.errors5xx
			}
		}
		if w.requests == 0 || rest.requests == 0 {
			continue
		}
		if d := w.errors5xx/w.requests - rest.errors5xx/rest.requests; d > spread {
			outlier, spread = i, d
		}
	}
	if outlier < 0 || (!failing && spread <= margin) {
		return ""
	}
	parts := make([]string, n)
	for i, w := range per {
		rate := 0.0
		if w.requests > 0 {
			rate = w.errors5xx / w.requests
		}
		parts[i] = fmt.Sprintf("%s %.2f%% of %.0f", c.nodeName(i), 100*rate, w.requests)
	}
	return fmt.Sprintf("per Y node: %s (outlier: %s)", strings.Join(parts, ", "), c.nodeName(outlier))
}

func (c *Compare) nodeName(i int) string {
	if i < len(c.cfg.To.Names) && c.cfg.To.Names[i] != "" {
		return c.cfg.To.Names[i]
	}
	if u, err := url.Parse(c.cfg.To.URLs[i]); err == nil && u.Host != "" {
		return u.Host
	}
	return "node " + strconv.Itoa(i+1)
}

func statusHint(n kongNames) string {
	if n.status == "kong_http_requests_total" {
		return " with status_code_metrics = true"
	}
	return ""
}

func msText(ms float64, inInf bool) string {
	if inInf {
		return fmt.Sprintf("> %gms", ms)
	}
	return fmt.Sprintf("%.1fms", ms)
}

// commonBuckets keeps, on both sides, only the bucket bounds both have
// (cumulative counts stay exact at any subset of bounds). When they share
// none, both are left as they are.
func commonBuckets(x, y windowStats) (windowStats, windowStats) {
	keep := map[float64]bool{}
	for le := range x.buckets {
		if _, ok := y.buckets[le]; ok {
			keep[le] = true
		}
	}
	if len(keep) == 0 || (len(keep) == len(x.buckets) && len(keep) == len(y.buckets)) {
		return x, y
	}
	filter := func(w windowStats) windowStats {
		b := map[float64]float64{}
		for le, c := range w.buckets {
			if keep[le] {
				b[le] = c
			}
		}
		w.buckets = b
		return w
	}
	return filter(x), filter(y)
}
