package engine

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// The test switches: only this test binary reads them (see failpoint.go);
// the crash matrix sets them in its child processes.
//
//	UPSHIFT_FAILPOINT=STEP:PHASE[,STEP:PHASE...]
//	UPSHIFT_PAUSE_SCALE=FACTOR
//
// FACTOR multiplies every pause the engine waits (ScalePause): 0 makes
// them zero, 0.01 makes "10m" six seconds. Bad entries are reported on
// stderr and ignored.
const (
	EnvFailpoint  = "UPSHIFT_FAILPOINT"
	EnvPauseScale = "UPSHIFT_PAUSE_SCALE"
)

func init() {
	if spec := os.Getenv(EnvFailpoint); spec != "" {
		fps, err := parseFailpoints(spec)
		if err != nil {
			fmt.Fprintf(os.Stderr, "upshift: %s: %v (ignoring the bad entries)\n", EnvFailpoint, err)
		}
		failpoints = fps
	}
	f, err := parsePauseScale(os.Getenv(EnvPauseScale))
	if err != nil {
		fmt.Fprintf(os.Stderr, "upshift: %s: %v (using 1)\n", EnvPauseScale, err)
	}
	pauseScale = func() float64 { return f }
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
