package analysis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PrometheusConfig is an analysis over a Prometheus instant query.
type PrometheusConfig struct {
	Name  string
	URL   string // the Prometheus server, "http://prometheus:9090"
	Query string // PromQL, evaluated at the time of the measurement
	// Max and Min bound every sample of the result; nil: no bound. At
	// least one is required, unless Margin is set.
	Max, Min *float64
	// Margin, with a query holding {version} or {side}: the query runs
	// once per side (the placeholder replaced by the side's Kong version,
	// or by "from" and "to") and Y's value may exceed X's by at most
	// Margin. Each side's value is the largest of its samples. When X's
	// query has no data (at 100% X serves nothing), Y is judged against
	// X's baseline (SetBaseline).
	Margin *float64
	// FromVersion and ToVersion replace {version} in the sides' queries.
	FromVersion, ToVersion string
	// Policy is the low-traffic policy (MinRequests does not apply: an
	// empty vector or NaN is no data).
	Policy
	// Interval between measurements during a pause; default 30s.
	Interval time.Duration
	// Failures is how many failed measurements (no data included) a pause
	// tolerates; the next one fails the analysis. Default 0.
	Failures int
	Timeout  time.Duration // per query; default 10s
	Client   *http.Client
}

// Prometheus is an Analysis: each measurement is one instant query through
// /api/v1/query (two with Margin: one per side). The result must be a
// scalar or a vector with at least one sample, and every sample must be a
// number within the bounds. An empty vector or NaN is no data
// (Result.NoData).
type Prometheus struct {
	cfg      PrometheusConfig
	endpoint string

	mu       sync.Mutex
	baseline Baseline
}

// Placeholders a side query holds (PrometheusConfig.Margin).
const (
	PlaceholderVersion = "{version}"
	PlaceholderSide    = "{side}"
)

// SideQuery reports whether q holds {version} or {side}.
func SideQuery(q string) bool {
	return strings.Contains(q, PlaceholderVersion) || strings.Contains(q, PlaceholderSide)
}

// NewPrometheus checks cfg; it queries nothing.
func NewPrometheus(cfg PrometheusConfig) (*Prometheus, error) {
	fail := func(err error) (*Prometheus, error) {
		return nil, &Error{Op: "configure analysis " + cfg.Name, Target: redact(cfg.URL), Err: err}
	}
	u, err := url.Parse(cfg.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fail(errors.New("prometheus URL must be http(s)://host[:port]"))
	case strings.TrimSpace(cfg.Query) == "":
		return fail(errors.New("query is empty"))
	case cfg.Max == nil && cfg.Min == nil && cfg.Margin == nil:
		return fail(errors.New("needs max and/or min, or margin with a {version} or {side} query"))
	case cfg.Margin != nil && !SideQuery(cfg.Query):
		return fail(errors.New("margin compares the sides: the query needs {version} or {side}"))
	case cfg.Margin == nil && SideQuery(cfg.Query):
		return fail(errors.New("a query with {version} or {side} needs margin"))
	case cfg.Margin != nil && *cfg.Margin < 0:
		return fail(errors.New("margin must not be negative"))
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
	return &Prometheus{cfg: cfg, endpoint: strings.TrimRight(cfg.URL, "/") + "/api/v1/query"}, nil
}

// Name is the analysis's name.
func (p *Prometheus) Name() string { return p.cfg.Name }

// Interval is the time between measurements.
func (p *Prometheus) Interval() time.Duration { return p.cfg.Interval }

// Failures is how many failed measurements a pause tolerates.
func (p *Prometheus) Failures() int { return p.cfg.Failures }

// Policy is the low-traffic policy.
func (p *Prometheus) Policy() Policy { return p.cfg.Policy }

// SetBaseline gives X's value from earlier pauses, for a side query whose
// X side has no data.
func (p *Prometheus) SetBaseline(b Baseline) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.baseline = b
}

// Begin does nothing: the query's own range selects the window.
func (p *Prometheus) Begin(context.Context) error { return nil }

// promResponse is the /api/v1/query envelope.
type promResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // [unix seconds, "value"]
}

// Measure runs the query once (once per side with Margin). Read-only,
// safe to repeat; the error is non-nil only when ctx ended.
func (p *Prometheus) Measure(outer context.Context) (Result, error) {
	if p.cfg.Margin != nil {
		return p.measureSides(outer)
	}
	values, labels, bad, err := p.query(outer, p.cfg.Query)
	if err != nil || bad != nil {
		return deref(bad), err
	}
	var problems []string
	var shown []string
	for i, v := range values {
		shown = append(shown, formatFloat(v))
		if p.cfg.Max != nil && v > *p.cfg.Max {
			problems = append(problems, fmt.Sprintf("%s%s is above max %s", formatFloat(v), onLabels(labels[i]), formatFloat(*p.cfg.Max)))
		}
		if p.cfg.Min != nil && v < *p.cfg.Min {
			problems = append(problems, fmt.Sprintf("%s%s is below min %s", formatFloat(v), onLabels(labels[i]), formatFloat(*p.cfg.Min)))
		}
	}
	value := strings.Join(shown, ", ")
	if len(problems) > 0 {
		return failed(p.cfg.Name, value, strings.Join(problems, "; ")), nil
	}
	return passed(p.cfg.Name, value, fmt.Sprintf("%s within %s", value, p.boundsText())), nil
}

// sideQuery is the query for one side: {version} is the side's Kong
// version, {side} is "from" or "to".
func (p *Prometheus) sideQuery(side string) string {
	v := p.cfg.FromVersion
	if side == "to" {
		v = p.cfg.ToVersion
	}
	return strings.NewReplacer(PlaceholderVersion, v, PlaceholderSide, side).Replace(p.cfg.Query)
}

// measureSides judges Y's value against X's in the same query, or
// against X's baseline when X's query has no data.
func (p *Prometheus) measureSides(ctx context.Context) (Result, error) {
	p.mu.Lock()
	base := p.baseline
	p.mu.Unlock()
	details := map[string]string{"against": "window"}
	yv, _, bad, err := p.query(ctx, p.sideQuery("to"))
	if err != nil {
		return Result{}, err
	}
	if bad != nil {
		if bad.NoData {
			bad.Reason = strings.Replace(bad.Reason, "no data: ", "no data: Y: ", 1)
		}
		bad.Details = details
		return *bad, nil
	}
	y := largest(yv)
	details["y_value"] = dec(y)
	xv, _, bad, err := p.query(ctx, p.sideQuery("from"))
	if err != nil {
		return Result{}, err
	}
	var x float64
	against := ""
	switch {
	case bad != nil && bad.NoData && base.HasValue:
		x = base.Value
		details["against"] = "baseline"
		against = fmt.Sprintf(" (X's query has no data now: against X's baseline from %d earlier pause(s))", base.Steps)
	case bad != nil && bad.NoData:
		bad.Reason = strings.Replace(bad.Reason, "no data: ", "no data: X: ", 1) + "; there is no baseline of X from an earlier pause of this run"
		bad.Details = details
		return *bad, nil
	case bad != nil:
		bad.Details = details
		return *bad, nil
	default:
		x = largest(xv)
	}
	details["x_value"] = dec(x)
	value := fmt.Sprintf("X %s, Y %s", formatFloat(x), formatFloat(y))
	m := *p.cfg.Margin
	if y-x > m {
		r := failed(p.cfg.Name, value, fmt.Sprintf("Y's %s exceeds X's %s by more than the margin %s%s", formatFloat(y), formatFloat(x), formatFloat(m), against))
		r.Details = details
		return r, nil
	}
	r := passed(p.cfg.Name, value, fmt.Sprintf("Y's %s is within %s of X's %s%s", formatFloat(y), formatFloat(m), formatFloat(x), against))
	r.Details = details
	return r, nil
}

func largest(vs []float64) float64 {
	m := math.Inf(-1)
	for _, v := range vs {
		m = max(m, v)
	}
	return m
}

// query runs q once. A result that cannot be judged (an unreachable
// server, no data) comes back as bad; err is non-nil only when ctx ended.
func (p *Prometheus) query(outer context.Context, q string) (values []float64, labels []string, bad *Result, err error) {
	ctx, cancel := context.WithTimeout(outer, p.cfg.Timeout)
	defer cancel()
	target := redact(p.cfg.URL)
	incon := func(reason string, err error) ([]float64, []string, *Result, error) {
		r := inconclusive(p.cfg.Name, reason, &Error{Op: "query", Target: target, Err: err})
		return nil, nil, &r, nil
	}
	form := url.Values{"query": {q}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return incon("cannot build the query request: "+err.Error(), err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		if outer.Err() != nil {
			return nil, nil, nil, outer.Err()
		}
		return incon("Prometheus did not answer: "+err.Error(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return incon("reading Prometheus's answer failed: "+err.Error(), err)
	}
	var pr promResponse
	if err := json.Unmarshal(body, &pr); err != nil {
		return incon(fmt.Sprintf("Prometheus answered HTTP %d with a body that is not its API's JSON: %q", resp.StatusCode, excerpt(body)), err)
	}
	if pr.Status != "success" {
		err := fmt.Errorf("HTTP %d, %s: %s", resp.StatusCode, pr.ErrorType, pr.Error)
		return incon("the query failed: "+err.Error(), err)
	}
	switch pr.Data.ResultType {
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(pr.Data.Result, &v); err != nil {
			return incon("cannot read the scalar result: "+err.Error(), err)
		}
		f, err := sampleValue(v)
		if err != nil {
			return incon("cannot read the scalar result: "+err.Error(), err)
		}
		values, labels = []float64{f}, []string{"scalar"}
	case "vector":
		var ss []promSample
		if err := json.Unmarshal(pr.Data.Result, &ss); err != nil {
			return incon("cannot read the vector result: "+err.Error(), err)
		}
		for _, s := range ss {
			f, err := sampleValue(s.Value)
			if err != nil {
				return incon("cannot read a sample: "+err.Error(), err)
			}
			values, labels = append(values, f), append(labels, labelText(s.Metric))
		}
	default:
		err := fmt.Errorf("result type %q", pr.Data.ResultType)
		return incon(fmt.Sprintf("the query returned a %s; an instant query for a gate must return a scalar or a vector", pr.Data.ResultType), err)
	}
	if len(values) == 0 {
		r := noData(p.cfg.Name, "the query returned an empty vector (no matching series; a ratio of absent series is absent too)", nil)
		return nil, nil, &r, nil
	}
	for i, v := range values {
		if math.IsNaN(v) {
			r := noData(p.cfg.Name, "the query returned NaN"+onLabels(labels[i])+" (e.g. a ratio over zero requests)", nil)
			r.Value = "NaN"
			return nil, nil, &r, nil
		}
	}
	return values, labels, nil, nil
}

func (p *Prometheus) boundsText() string {
	switch {
	case p.cfg.Min != nil && p.cfg.Max != nil:
		return fmt.Sprintf("[%s, %s]", formatFloat(*p.cfg.Min), formatFloat(*p.cfg.Max))
	case p.cfg.Max != nil:
		return "max " + formatFloat(*p.cfg.Max)
	default:
		return "min " + formatFloat(*p.cfg.Min)
	}
}

// sampleValue reads [ts, "v"]; Prometheus spells NaN and ±Inf as "NaN",
// "+Inf", "-Inf", which ParseFloat accepts.
func sampleValue(v [2]any) (float64, error) {
	s, ok := v[1].(string)
	if !ok {
		return 0, fmt.Errorf("sample value %v is not a string", v[1])
	}
	return strconv.ParseFloat(s, 64)
}

func labelText(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	keys := sortedKeys(m)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func onLabels(l string) string {
	if l == "" || l == "scalar" {
		return ""
	}
	return " on " + l
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

// redact drops userinfo from a URL for reasons and errors.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	return u.String()
}
