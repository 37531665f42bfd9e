package engine

import (
	"context"
	"time"

	"github.com/upshift-dev/upshift/internal/analysis"
)

// GateResult is one measurement: Passed, Failed or Inconclusive (no data,
// an unreachable target: a failure), the measured value and the reason the
// engine shows and the journal records.
type GateResult = analysis.Result

// Gate is a check the engine runs before the first traffic step (and an
// analysis's single measurement). *analysis.HTTPCheck and
// *analysis.DataPlaneSync implement it.
type Gate interface {
	// Name is the plan's name for the check or analysis.
	Name() string
	// Measure takes one measurement and judges it. It never fails as an
	// operation: an unreachable target or missing data is an Inconclusive
	// result carrying the reason. Read-only and safe to repeat. The error
	// is non-nil only when ctx ended before a measurement was taken:
	// nothing is to be recorded, and it does not count as a failure.
	Measure(ctx context.Context) (GateResult, error)
}

// Analysis is a gate measured every Interval during each rollout pause.
// The pause fails when more than Failures measurements in it did not pass.
// *analysis.Prometheus and *analysis.Compare implement it.
type Analysis interface {
	Gate
	// Begin marks the start of a pause window (Compare scrapes both
	// clusters' counters; Prometheus has nothing to do). Calling it again
	// restarts the window. Its error (a failed scrape) is for the log; the
	// following measurements then report it as Inconclusive.
	Begin(ctx context.Context) error
	// Interval is the time between measurements.
	Interval() time.Duration
	// Failures is how many failed measurements a pause tolerates.
	Failures() int
	// Policy is the low-traffic policy: how long a pause may extend
	// while the measurements are no data, and what follows (fail or
	// stall). No data never passes.
	Policy() analysis.Policy
}

// baselined is an analysis that compares Y with X and takes X's baseline
// (from this run's earlier measurements) for windows in which X serves
// too little.
type baselined interface {
	SetBaseline(analysis.Baseline)
}
