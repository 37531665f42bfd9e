package analysis

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// kongNames are the prometheus plugin's metric names for one Kong line
// (kong-facts §6): 3.x counts statuses in kong_http_requests_total and
// keeps total request latency in kong_request_latency_ms; 2.8 calls them
// kong_http_status and kong_latency{type="request"}.
type kongNames struct {
	status      string // counter with a "code" label
	latency     string // histogram of total request latency, ms
	latencyType string // 2.8: the "type" label value selecting request latency
}

func namesFor(version string) kongNames {
	major, _, _ := strings.Cut(version, ".")
	if n, err := strconv.Atoi(major); err == nil && n < 3 {
		return kongNames{status: "kong_http_status", latency: "kong_latency", latencyType: "request"}
	}
	return kongNames{status: "kong_http_requests_total", latency: "kong_request_latency_ms"}
}

// sideSnapshot is what one side's nodes reported at one time: counters by
// series (node and labels), for deltas.
type sideSnapshot struct {
	status       map[string]statusSeries
	latency      map[string]histSeries
	statusFamily bool // the status family was present on some node
	latencyFound bool // the latency family was present on some node
}

type statusSeries struct {
	code  string
	value float64
}

type histSeries struct {
	count   float64
	buckets map[float64]float64 // upper bound (finite) → cumulative count
}

// scrape reads every node's /metrics and keeps the side's status counters
// and request-latency histograms.
func scrape(ctx context.Context, client *http.Client, side MetricsSide, names kongNames) (*sideSnapshot, error) {
	s := &sideSnapshot{status: map[string]statusSeries{}, latency: map[string]histSeries{}}
	for i, u := range side.URLs {
		hc := client
		if i < len(side.Clients) && side.Clients[i] != nil {
			hc = side.Clients[i]
		}
		fams, err := fetchFamilies(ctx, hc, u, side.Header)
		if err != nil {
			return nil, &Error{Op: "scrape", Target: redact(u), Err: err}
		}
		node := strconv.Itoa(i) + "|"
		if f := fams[names.status]; f != nil {
			s.statusFamily = true
			for _, m := range f.GetMetric() {
				v := m.GetCounter().GetValue()
				if f.GetType() != dto.MetricType_COUNTER {
					v = m.GetUntyped().GetValue()
				}
				s.status[node+seriesKey(m)] = statusSeries{code: label(m, "code"), value: v}
			}
		}
		if f := fams[names.latency]; f != nil && f.GetType() == dto.MetricType_HISTOGRAM {
			for _, m := range f.GetMetric() {
				if names.latencyType != "" && label(m, "type") != names.latencyType {
					continue
				}
				s.latencyFound = true
				h := histSeries{count: float64(m.GetHistogram().GetSampleCount()), buckets: map[float64]float64{}}
				for _, b := range m.GetHistogram().GetBucket() {
					if !math.IsInf(b.GetUpperBound(), 1) {
						h.buckets[b.GetUpperBound()] = float64(b.GetCumulativeCount())
					}
				}
				s.latency[node+seriesKey(m)] = h
			}
		}
	}
	return s, nil
}

func fetchFamilies(ctx context.Context, client *http.Client, u string, header http.Header) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("parse exposition: %w", err)
	}
	return fams, nil
}

func seriesKey(m *dto.Metric) string {
	ls := m.GetLabel()
	parts := make([]string, 0, len(ls))
	for _, l := range ls {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// counterDelta is cur-prev, or cur when the counter was reset (a node
// restarted within the window), as Prometheus's increase() treats it.
func counterDelta(prev, cur float64, existed bool) float64 {
	if !existed || cur < prev {
		return cur
	}
	return cur - prev
}

// windowStats is one side's traffic between two snapshots.
type windowStats struct {
	requests, errors5xx float64
	latencyCount        float64
	buckets             map[float64]float64 // cumulative counts within the window
}

func window(start, end *sideSnapshot) windowStats {
	w := windowStats{buckets: map[float64]float64{}}
	for k, cur := range end.status {
		prev, ok := start.status[k]
		d := counterDelta(prev.value, cur.value, ok)
		w.requests += d
		if strings.HasPrefix(cur.code, "5") {
			w.errors5xx += d
		}
	}
	for k, cur := range end.latency {
		prev, ok := start.latency[k]
		reset := !ok || cur.count < prev.count
		if reset {
			prev = histSeries{buckets: map[float64]float64{}}
		}
		w.latencyCount += cur.count - prev.count
		for le, c := range cur.buckets {
			w.buckets[le] += c - prev.buckets[le]
		}
	}
	return w
}

// p99 estimates the 0.99 quantile from cumulative bucket counts the way
// Prometheus's histogram_quantile does: linear interpolation inside the
// bucket that holds the rank, the first bucket starting at 0. A rank past
// the last finite bound returns that bound (inInf true). ok is false when
// the window holds no observations.
func (w windowStats) p99() (ms float64, inInf, ok bool) {
	if w.latencyCount <= 0 {
		return 0, false, false
	}
	bounds := make([]float64, 0, len(w.buckets))
	for le := range w.buckets {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	rank := 0.99 * w.latencyCount
	lower, prevCum := 0.0, 0.0
	for _, le := range bounds {
		cum := w.buckets[le]
		if cum >= rank {
			if cum == prevCum {
				return le, false, true
			}
			return lower + (le-lower)*(rank-prevCum)/(cum-prevCum), false, true
		}
		lower, prevCum = le, cum
	}
	if len(bounds) == 0 {
		return 0, true, false
	}
	return bounds[len(bounds)-1], true, true
}

// node is the part of s that node i (its index in the side's URLs)
// reported.
func (s *sideSnapshot) node(i int) *sideSnapshot {
	prefix := strconv.Itoa(i) + "|"
	out := &sideSnapshot{status: map[string]statusSeries{}, latency: map[string]histSeries{}, statusFamily: s.statusFamily, latencyFound: s.latencyFound}
	for k, v := range s.status {
		if strings.HasPrefix(k, prefix) {
			out.status[k] = v
		}
	}
	for k, v := range s.latency {
		if strings.HasPrefix(k, prefix) {
			out.latency[k] = v
		}
	}
	return out
}
