package engine

import (
	"fmt"
	"os"
	"time"
)

// Failpoints and pause scaling are hooks FOR TESTS ONLY. They let the crash
// matrix stop the process at an exact point without sleeps, and make the
// plans' pauses short. They are package variables that only a test binary
// sets: failpoint_env_test.go (compiled into the engine's test binary,
// never into upshift) fills them from UPSHIFT_FAILPOINT and
// UPSHIFT_PAUSE_SCALE, so `upshift apply` and `upshift agent` ignore those
// variables.
//
// A failpoint is STEP:PHASE. PHASE is one of
//   - before: the engine exits after the step's Intent is durable and
//     before Apply starts;
//   - after: it exits after Apply returned and before the Outcome is
//     appended (the journal then holds an intent with no outcome, which is
//     the interesting case for recovery);
//   - during: the step itself decides where: a step that runs a child
//     process (a hook, kong, nginx's test and reload) calls
//     Failpoint(step, PhaseDuring) once the child has started (the child
//     keeps running, as after a kill -9 of upshift).
//
// The exit code is FailpointExitCode. Stores write every record through
// (fsync or commit) before Append returns, so there is nothing to flush
// before exiting. STEP "*" matches every step. When no failpoint is set, a
// Failpoint call costs a few nanoseconds (BenchmarkFailpointUnset).
const (
	// FailpointExitCode is the exit status of a process stopped by a
	// failpoint: distinct from upshift's 0-3 and from signal deaths.
	FailpointExitCode = 42
)

// Phase says where in a step a failpoint fires.
type Phase string

const (
	PhaseBefore Phase = "before"
	PhaseDuring Phase = "during"
	PhaseAfter  Phase = "after"
)

// failpoints (step -> phases) are set only by tests; nil in upshift.
var failpoints map[string]map[Phase]bool

// pauseScale multiplies every pause (ScalePause); set only by tests, 1 in
// upshift.
var pauseScale = func() float64 { return 1 }

func failpointSet(step string, ph Phase) bool {
	if failpoints == nil {
		return false
	}
	return failpoints[step][ph] || failpoints["*"][ph]
}

// Failpoint exits the process with FailpointExitCode when the failpoints
// names step at phase; otherwise it returns at once.
func Failpoint(step string, ph Phase) {
	if !failpointSet(step, ph) {
		return
	}
	fmt.Fprintf(os.Stderr, "upshift: failpoint %s:%s: exiting with code %d\n", step, ph, FailpointExitCode)
	os.Exit(FailpointExitCode)
}

// FailpointDuring reports whether step should stop itself part way (see
// PhaseDuring); the step then calls Failpoint(step, PhaseDuring) where it
// wants the crash.
func FailpointDuring(step string) bool { return failpointSet(step, PhaseDuring) }

// ScalePause is d scaled by the tests' pause scale (d itself in upshift).
func ScalePause(d time.Duration) time.Duration {
	f := pauseScale()
	if f == 1 {
		return d
	}
	return time.Duration(float64(d) * f)
}
