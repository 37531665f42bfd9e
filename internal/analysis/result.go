package analysis

import (
	"fmt"
	"time"
)

// Outcome is what one measurement decided.
type Outcome string

const (
	// Passed: the measurement was taken and met every expectation.
	Passed Outcome = "passed"
	// Failed: the measurement was taken and broke an expectation.
	Failed Outcome = "failed"
	// Inconclusive: no measurement could be taken or it had no data (a
	// request that failed, an empty Prometheus vector, a NaN, no requests
	// in the window). It counts as a failure: no data is never a pass.
	Inconclusive Outcome = "inconclusive"
)

// Result is one measurement of a gate, as the engine shows it and the
// journal records it.
type Result struct {
	Gate    string    // the check's or analysis's name
	Outcome Outcome   // Passed, Failed or Inconclusive
	Value   string    // what was measured, as text ("status 401", "0.0123"); "" when nothing was
	Reason  string    // one line saying why it passed or failed
	At      time.Time // when the measurement finished
	// NoData: Inconclusive because the window held too little to judge
	// (fewer requests than min_requests, an empty vector, NaN). The
	// engine's low-traffic policy decides what follows (see Policy); it
	// is never a pass.
	NoData bool
	// FromUnreadable: Inconclusive because X (the side traffic would go
	// back to) could not be read. It says nothing about Y; the engine
	// does not roll back onto an X it cannot read (it stalls instead).
	FromUnreadable bool
	// Details are the measurement's figures for the journal, as decimal
	// strings (compare: x_requests, x_error_rate, y_requests,
	// y_error_rate, x_p99_ms, y_p99_ms, against; Prometheus sides:
	// x_value, y_value, against); empty when unknown.
	Details map[string]string `json:"-"`
	// Err is the driver error behind an Inconclusive result (an *Error),
	// nil otherwise.
	Err error `json:"-"`
}

// OK reports whether the measurement passed; Failed and Inconclusive are
// both failures.
func (r Result) OK() bool { return r.Outcome == Passed }

func (r Result) String() string {
	if r.Value == "" {
		return fmt.Sprintf("%s %s: %s", r.Gate, r.Outcome, r.Reason)
	}
	return fmt.Sprintf("%s %s (%s): %s", r.Gate, r.Outcome, r.Value, r.Reason)
}

func passed(gate, value, reason string) Result {
	return Result{Gate: gate, Outcome: Passed, Value: value, Reason: reason, At: time.Now()}
}

func failed(gate, value, reason string) Result {
	return Result{Gate: gate, Outcome: Failed, Value: value, Reason: reason, At: time.Now()}
}

// inconclusive wraps a driver error (or a lack of data, err nil) into a
// failed measurement.
func inconclusive(gate, reason string, err error) Result {
	return Result{Gate: gate, Outcome: Inconclusive, Reason: reason, Err: err, At: time.Now()}
}

// noData is an Inconclusive result for a window that held too little.
func noData(gate, reason string, details map[string]string) Result {
	return Result{Gate: gate, Outcome: Inconclusive, Reason: "no data: " + reason, NoData: true, Details: details, At: time.Now()}
}

// Error is a failed operation of a gate, shaped like fs.PathError: Op is
// what was attempted ("GET /orders", "query", "scrape"), Target where (a
// URL without credentials), Err why.
type Error struct {
	Op     string
	Target string
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("analysis: %s %s: %v", e.Op, e.Target, e.Err) }

func (e *Error) Unwrap() error { return e.Err }
