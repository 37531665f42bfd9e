package analysis

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
	// MinRequests is how many requests each side must have served in the
	// window for a comparison; fewer is no data. Default 1.
	MinRequests int
	Interval    time.Duration // default 30s
	Failures    int           // failed measurements a pause tolerates; default 0
	Timeout     time.Duration // per scrape; default 10s
	Client      *http.Client
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
// latency margin. Missing metrics and windows without requests are no
// data: Inconclusive.
type Compare struct {
	cfg        CompareConfig
	fromN, toN kongNames

	mu       sync.Mutex
	start    [2]*sideSnapshot // from, to at Begin
	startErr error
	begun    time.Time
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
	if cfg.MinRequests <= 0 {
		cfg.MinRequests = 1
	}
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
	from, err = scrape(ctx, c.cfg.Client, c.cfg.From.URLs, c.cfg.From.Header, c.fromN)
	if err != nil {
		return nil, nil, fmt.Errorf("X: %w", err)
	}
	to, err = scrape(ctx, c.cfg.Client, c.cfg.To.URLs, c.cfg.To.Header, c.toN)
	if err != nil {
		return nil, nil, fmt.Errorf("Y: %w", err)
	}
	return from, to, nil
}

// Measure scrapes both sides and compares the window since Begin.
// Read-only, safe to repeat; the error is non-nil only when ctx ended.
func (c *Compare) Measure(ctx context.Context) (Result, error) {
	c.mu.Lock()
	start, startErr, begun := c.start, c.startErr, c.begun
	c.mu.Unlock()
	switch {
	case begun.IsZero():
		return inconclusive(c.cfg.Name, "no window: Begin was not called", nil), nil
	case startErr != nil:
		return inconclusive(c.cfg.Name, "the window's start could not be scraped: "+startErr.Error(), startErr), nil
	}
	from, to, err := c.scrapeBoth(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		return inconclusive(c.cfg.Name, "scrape failed: "+err.Error(), err), nil
	}
	span := time.Since(begun).Round(10 * time.Millisecond)
	sides := []struct {
		name       string
		start, end *sideSnapshot
		names      kongNames
	}{{"X", start[0], from, c.fromN}, {"Y", start[1], to, c.toN}}
	var ws [2]windowStats
	for i, s := range sides {
		if !s.end.statusFamily {
			return inconclusive(c.cfg.Name, fmt.Sprintf("no data: %s exposes no %s (is the prometheus plugin enabled%s?)", s.name, s.names.status, statusHint(s.names)), nil), nil
		}
		ws[i] = window(s.start, s.end)
		if ws[i].requests < float64(c.cfg.MinRequests) {
			return inconclusive(c.cfg.Name, fmt.Sprintf("no data: %s served %.0f requests in the last %v (at least %d needed)", s.name, ws[i].requests, span, c.cfg.MinRequests), nil), nil
		}
	}
	x, y := ws[0], ws[1]
	errX, errY := x.errors5xx/x.requests, y.errors5xx/y.requests
	values := []string{fmt.Sprintf("5xx X %.2f%% of %.0f, Y %.2f%% of %.0f", 100*errX, x.requests, 100*errY, y.requests)}
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
			if !s.end.latencyFound {
				return inconclusive(c.cfg.Name, fmt.Sprintf("no data: %s exposes no %s histogram (latency_metrics = true on the prometheus plugin?)", s.name, s.names.latency), nil), nil
			}
			if ws[i].latencyCount <= 0 {
				return inconclusive(c.cfg.Name, fmt.Sprintf("no data: %s's latency histogram recorded nothing in the last %v", s.name, span), nil), nil
			}
		}
		x, y = commonBuckets(x, y)
		px, xInf, _ := x.p99()
		py, yInf, _ := y.p99()
		values = append(values, fmt.Sprintf("p99 X %s, Y %s", msText(px, xInf), msText(py, yInf)))
		margin := float64(*m) / float64(time.Millisecond)
		if py-px > margin {
			problems = append(problems, fmt.Sprintf("Y's p99 latency %s exceeds X's %s by more than %v", msText(py, yInf), msText(px, xInf), *m))
		} else {
			fine = append(fine, fmt.Sprintf("p99 Y %s vs X %s within %v", msText(py, yInf), msText(px, xInf), *m))
		}
	}
	value := strings.Join(values, "; ")
	if len(problems) > 0 {
		return failed(c.cfg.Name, value, strings.Join(problems, "; ")+fmt.Sprintf(" (over the last %v)", span)), nil
	}
	return passed(c.cfg.Name, value, strings.Join(fine, "; ")+fmt.Sprintf(" (over the last %v)", span)), nil
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
