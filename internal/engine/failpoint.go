package engine

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Failpoints and pause scaling are hooks FOR TESTS ONLY. They let the crash
// matrix stop the process at an exact point without sleeps, and make the
// plans' pauses short. Nothing in production sets them.
//
//	UPSHIFT_FAILPOINT=STEP:PHASE[,STEP:PHASE...]
//
// PHASE is one of
//   - before: the engine exits after the step's Intent is durable and
//     before Apply starts;
//   - after: it exits after Apply returned and before the Outcome is
//     appended (the journal then holds an intent with no outcome, which is
//     the interesting case for recovery);
//   - during: the step itself decides where: a step that runs a child
//     process asks FailpointDuring(step) and, when true, calls
//     Failpoint(step, PhaseDuring) once the child has started (the child
//     keeps running, as after a kill -9 of upshift), or kills the child
//     first if it wants the half-done state.
//
// The exit code is FailpointExitCode. Stores write every record through
// (fsync or commit) before Append returns, so there is nothing to flush
// before exiting. STEP "*" matches every step.
//
//	UPSHIFT_PAUSE_SCALE=FACTOR
//
// multiplies every pause the engine waits (ScalePause): 0 makes them zero,
// 0.01 makes "10m" six seconds. A value that is not a number >= 0 is
// reported on stderr and ignored.
//
// UPSHIFT_FAILPOINT is read once when the package initialises,
// UPSHIFT_PAUSE_SCALE on first use; when unset, a Failpoint call costs a few
// nanoseconds (BenchmarkFailpointUnset: 7 ns on a 2-core VM).
const (
	EnvFailpoint  = "UPSHIFT_FAILPOINT"
	EnvPauseScale = "UPSHIFT_PAUSE_SCALE"

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

// failpoints is the parsed UPSHIFT_FAILPOINT (step -> phases), read once
// when the package initialises; nil when unset.
var failpoints = loadFailpoints()

func loadFailpoints() map[string]map[Phase]bool {
	spec := os.Getenv(EnvFailpoint)
	if spec == "" {
		return nil
	}
	fps, err := parseFailpoints(spec)
	if err != nil {
		fmt.Fprintf(os.Stderr, "upshift: %s: %v (ignoring the bad entries)\n", EnvFailpoint, err)
	}
	return fps
}

// parseFailpoints parses the UPSHIFT_FAILPOINT syntax; good entries are
// returned even when others are bad.
func parseFailpoints(spec string) (map[string]map[Phase]bool, error) {
	var out map[string]map[Phase]bool
	var bad []string
	for _, ent := range strings.Split(spec, ",") {
		ent = strings.TrimSpace(ent)
		if ent == "" {
			continue
		}
		i := strings.LastIndexByte(ent, ':')
		if i <= 0 {
			bad = append(bad, ent)
			continue
		}
		step, ph := ent[:i], Phase(ent[i+1:])
		if ph != PhaseBefore && ph != PhaseDuring && ph != PhaseAfter {
			bad = append(bad, ent)
			continue
		}
		if out == nil {
			out = map[string]map[Phase]bool{}
		}
		if out[step] == nil {
			out[step] = map[Phase]bool{}
		}
		out[step][ph] = true
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("want STEP:before|during|after, got %q", bad)
	}
	return out, nil
}

func failpointSet(step string, ph Phase) bool {
	if failpoints == nil {
		return false
	}
	return failpoints[step][ph] || failpoints["*"][ph]
}

// Failpoint exits the process with FailpointExitCode when UPSHIFT_FAILPOINT
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

// pauseScale is the parsed UPSHIFT_PAUSE_SCALE.
var pauseScale = sync.OnceValue(func() float64 {
	f, err := parsePauseScale(os.Getenv(EnvPauseScale))
	if err != nil {
		fmt.Fprintf(os.Stderr, "upshift: %s: %v (using 1)\n", EnvPauseScale, err)
	}
	return f
})

func parsePauseScale(v string) (float64, error) {
	if v == "" {
		return 1, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 1, fmt.Errorf("want a number >= 0, got %q", v)
	}
	return f, nil
}

// ScalePause is d scaled by UPSHIFT_PAUSE_SCALE (tests only; d unchanged
// when unset).
func ScalePause(d time.Duration) time.Duration {
	f := pauseScale()
	if f == 1 {
		return d
	}
	return time.Duration(float64(d) * f)
}
