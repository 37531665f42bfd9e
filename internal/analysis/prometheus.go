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
	"time"
)

// PrometheusConfig is an analysis over a Prometheus instant query.
type PrometheusConfig struct {
	Name  string
	URL   string // the Prometheus server, "http://prometheus:9090"
	Query string // PromQL, evaluated at the time of the measurement
	// Max and Min bound every sample of the result; nil: no bound. At
	// least one is required.
	Max, Min *float64
	// Interval between measurements during a pause; default 30s.
	Interval time.Duration
	// Failures is how many failed measurements (no data included) a pause
	// tolerates; the next one fails the analysis. Default 0.
	Failures int
	Timeout  time.Duration // per query; default 10s
	Client   *http.Client
}

// Prometheus is an Analysis: each measurement is one instant query through
// /api/v1/query. The result must be a scalar or a vector with at least
// one sample, and every sample must be a number within the bounds. An
// empty vector or NaN is no data: an Inconclusive measurement.
type Prometheus struct {
	cfg      PrometheusConfig
	endpoint string
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
	case cfg.Max == nil && cfg.Min == nil:
		return fail(errors.New("needs max and/or min"))
	case cfg.Failures < 0:
		return fail(errors.New("failures must not be negative"))
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
	return &Prometheus{cfg: cfg, endpoint: strings.TrimRight(cfg.URL, "/") + "/api/v1/query"}, nil
}

// Name is the analysis's name.
func (p *Prometheus) Name() string { return p.cfg.Name }

// Interval is the time between measurements.
func (p *Prometheus) Interval() time.Duration { return p.cfg.Interval }

// Failures is how many failed measurements a pause tolerates.
func (p *Prometheus) Failures() int { return p.cfg.Failures }

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

// Measure runs the query once. Read-only, safe to repeat; the error is
// non-nil only when ctx ended.
func (p *Prometheus) Measure(outer context.Context) (Result, error) {
	ctx, cancel := context.WithTimeout(outer, p.cfg.Timeout)
	defer cancel()
	target := redact(p.cfg.URL)
	incon := func(reason string, err error) (Result, error) {
		return inconclusive(p.cfg.Name, reason, &Error{Op: "query", Target: target, Err: err}), nil
	}
	form := url.Values{"query": {p.cfg.Query}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return incon("cannot build the query request: "+err.Error(), err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.cfg.Client.Do(req)
	if err != nil {
		if outer.Err() != nil {
			return Result{}, outer.Err()
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
	var values []float64
	var labels []string
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
		return inconclusive(p.cfg.Name, "no data: the query returned an empty vector (no matching series; a ratio of absent series is absent too)", nil), nil
	}
	var problems []string
	var shown []string
	for i, v := range values {
		shown = append(shown, formatFloat(v))
		if math.IsNaN(v) {
			return Result{Gate: p.cfg.Name, Outcome: Inconclusive, Value: "NaN", At: time.Now(),
				Reason: "no data: the query returned NaN" + onLabels(labels[i]) + " (e.g. a ratio over zero requests)"}, nil
		}
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
