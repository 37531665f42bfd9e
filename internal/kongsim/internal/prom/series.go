package prom

import (
	"sort"
	"strconv"
)

// Buckets (kong/plugins/prometheus/exporter.lua at each tag).
var (
	// buckets28 is 2.8's DEFAULT_BUCKETS for kong_latency{type}.
	buckets28 = []float64{1, 2, 5, 7, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100, 200, 300, 400, 500, 1000, 2000, 5000, 10000, 30000, 60000}
	// kongBuckets30 is KONG_LATENCY_BUCKETS from 3.0 to 3.8; 3.9 adds 3000 and 6000.
	kongBuckets30 = []float64{1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000}
	kongBuckets39 = []float64{1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000}
	// upstreamBuckets is UPSTREAM_LATENCY_BUCKETS (3.0+), also used for request latency.
	upstreamBuckets = []float64{25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000}
)

// label is one name="value" pair, in the metric's declared label order.
type label struct{ name, value string }

// labelKey renders labels as Kong's prometheus.lua does: {a="x",b="y"},
// escaping backslash, double quote and newline.
func labelKey(ls []label) string {
	if len(ls) == 0 {
		return ""
	}
	b := []byte{'{'}
	for i, l := range ls {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, l.name...)
		b = append(b, '=', '"')
		for _, r := range []byte(l.value) {
			switch r {
			case '\\':
				b = append(b, '\\', '\\')
			case '"':
				b = append(b, '\\', '"')
			case '\n':
				b = append(b, '\\', 'n')
			default:
				b = append(b, r)
			}
		}
		b = append(b, '"')
	}
	return string(append(b, '}'))
}

// num formats a sample value as LuaJIT's tostring does (%.14g).
func num(v float64) string { return strconv.FormatFloat(v, 'g', 14, 64) }

// histogram is one label set's observations.
type histogram struct {
	buckets []float64
	counts  []float64 // per bucket, cumulative at render time
	count   float64
	sum     float64
}

func newHistogram(b []float64) *histogram {
	return &histogram{buckets: b, counts: make([]float64, len(b))}
}

func (h *histogram) observe(v float64) {
	h.count++
	h.sum += v
	for i, b := range h.buckets {
		if v <= b {
			h.counts[i]++
		}
	}
}

// sample is one exposition line before sorting: key is the metric name with
// labels as Kong's shared dict stores it (sorting key), short the name the
// HELP/TYPE lines use.
type sample struct {
	key, short, line string
	order            float64 // bucket bound within one series, to keep le order numeric
}

// metricDef is a registered metric's HELP and TYPE.
type metricDef struct{ help, typ string }

// render sorts samples as prometheus.lua's metric_data does (keys sorted as
// strings; buckets in numeric order) and prints HELP/TYPE before the first
// sample of each metric.
func render(samples []sample, defs map[string]metricDef) []byte {
	sort.SliceStable(samples, func(i, j int) bool {
		if samples[i].key != samples[j].key {
			return samples[i].key < samples[j].key
		}
		return samples[i].order < samples[j].order
	})
	var out []byte
	seen := map[string]bool{}
	for _, s := range samples {
		if !seen[s.short] {
			seen[s.short] = true
			if d, ok := defs[s.short]; ok {
				out = append(out, "# HELP kong_"+s.short+" "+d.help+"\n"...)
				out = append(out, "# TYPE kong_"+s.short+" "+d.typ+"\n"...)
			}
		}
		out = append(out, "kong_"+s.line+"\n"...)
	}
	return out
}
