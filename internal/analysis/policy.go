package analysis

import (
	"errors"
	"strconv"
	"time"
)

// The low-traffic policy's answers once the window may grow no more.
const (
	OnNoDataFail  = "fail"  // the pause fails: a gate failure, rollback by on_gate_failure (default)
	OnNoDataStall = "stall" // the run stalls for a person; traffic stays as it is
)

// Policy is an analysis's low-traffic policy (docs/engine.md, "Low
// traffic"). A measurement whose window holds too little is no data
// (Result.NoData): the engine does not count it and keeps measuring, the
// window growing from the pause's start, until MaxWindow has passed since
// then; a measurement that is still no data at that point fails the pause
// (OnNoData "fail") or stalls the run ("stall"). No data never passes.
type Policy struct {
	// MinRequests is how many requests each compared side must have
	// served in the window (compare = "kong_metrics"); fewer is no data.
	// Default 1.
	MinRequests int
	// MaxWindow is how long the window may grow from the pause's start
	// while there is no data; shorter than the pause (0 included): the
	// pause's length, no extension.
	MaxWindow time.Duration
	// OnNoData is OnNoDataFail (also for "") or OnNoDataStall.
	OnNoData string
}

func (p Policy) check() error {
	switch {
	case p.MinRequests < 0:
		return errors.New("min_requests must not be negative")
	case p.MaxWindow < 0:
		return errors.New("max_window must not be negative")
	case p.OnNoData != "" && p.OnNoData != OnNoDataFail && p.OnNoData != OnNoDataStall:
		return errors.New(`on_no_data is "fail" or "stall"`)
	}
	return nil
}

func (p Policy) withDefaults() Policy {
	if p.MinRequests <= 0 {
		p.MinRequests = 1
	}
	if p.OnNoData == "" {
		p.OnNoData = OnNoDataFail
	}
	return p
}

// Baseline is X's figures measured earlier in the run, for windows in
// which X serves too little to compare with (at 100% on Y, X serves
// nothing). The engine reads it back from the journal's measurement
// events (BaselineFrom), so an agent that restarted keeps it.
type Baseline struct {
	// Requests X served in the windows behind the figures; 0: no
	// baseline (compare).
	Requests  float64
	ErrorRate float64 // X's 5xx share
	P99Ms     float64 // X's p99 latency; meaningful with HasP99
	HasP99    bool
	// Value is X's query value (Prometheus sides); meaningful with
	// HasValue.
	Value    float64
	HasValue bool
	Steps    int // pauses the figures come from
}

// BaselineFrom builds X's baseline from measurement events' details, in
// journal order: those compared in the same window (against = window)
// with X's figures. Within one pause the window grows from its start, so
// only each pause's last such measurement counts (details["step"]); the
// pauses then add up, weighted by X's requests. For compare, a pause
// counts only when X served at least minRequests in it.
func BaselineFrom(events []map[string]string, minRequests int) Baseline {
	last := map[string]map[string]string{}
	var order []string
	for _, d := range events {
		if d["against"] != "window" {
			continue
		}
		if _, ok := last[d["step"]]; !ok {
			order = append(order, d["step"])
		}
		last[d["step"]] = d
	}
	var b Baseline
	var errs, p99Weighted, p99Requests, valueSum float64
	var values int
	for _, step := range order {
		d := last[step]
		counted := false
		if n, ok := num(d["x_requests"]); ok && n >= float64(max(minRequests, 1)) {
			if rate, ok := num(d["x_error_rate"]); ok {
				b.Requests += n
				errs += rate * n
				counted = true
				if p, ok := num(d["x_p99_ms"]); ok {
					p99Weighted += p * n
					p99Requests += n
				}
			}
		}
		if v, ok := num(d["x_value"]); ok {
			valueSum += v
			values++
			counted = true
		}
		if counted {
			b.Steps++
		}
	}
	if b.Requests > 0 {
		b.ErrorRate = errs / b.Requests
	}
	if p99Requests > 0 {
		b.P99Ms, b.HasP99 = p99Weighted/p99Requests, true
	}
	if values > 0 {
		b.Value, b.HasValue = valueSum/float64(values), true
	}
	return b
}

func num(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// dec writes a figure for Result.Details.
func dec(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
