package engine

import (
	"testing"
)

// TestPreflightOncePerRun: each preflight pass runs until it passes, once
// per run. A pass that never finished (a crash: an intent without an
// outcome) or failed runs again; a passed one is not repeated; a run
// whose steps after it ran (begun before the engine ran preflight) does
// not go back to it. preflight_y comes right before the checks.
func TestPreflightOncePerRun(t *testing.T) {
	src := evidencePlan("dual_cluster", "")
	obs := baseObs()
	obs.ToDatabase = migrated(false)
	obs.Traffic = split(100, 0)
	for _, c := range []struct {
		name, want string
		log        func(*runLog)
	}{
		{"after the guard", "preflight", func(l *runLog) { l.ok("guard") }},
		{"interrupted", "preflight", func(l *runLog) { l.ok("guard"); l.intent("preflight") }},
		{"failed", "preflight", func(l *runLog) { l.ok("guard").failed("preflight", "NOT clean", "1 error: PFX-1") }},
		{"passed", "backup", func(l *runLog) { l.ok("guard", "preflight") }},
		{"Y started", "preflight_y", func(l *runLog) {
			l.ok("guard", "preflight", "backup", "restore", "migrations_up", "migrations_finish", "start_to")
		}},
		{"Y interrupted", "preflight_y", func(l *runLog) {
			l.ok("guard", "preflight", "backup", "restore", "migrations_up", "migrations_finish", "start_to")
			l.intent("preflight_y")
		}},
		{"Y passed", "checks", func(l *runLog) {
			l.ok("guard", "preflight", "backup", "restore", "migrations_up", "migrations_finish", "start_to", "preflight_y")
		}},
		// Runs begun before the engine ran preflight.
		{"begun before: past the backup", "preflight_y", func(l *runLog) {
			l.ok("guard", "backup", "restore", "migrations_up", "migrations_finish", "start_to")
		}},
		{"begun before: past the checks", "traffic_50", func(l *runLog) {
			l.ok("guard", "backup", "restore", "migrations_up", "migrations_finish", "start_to", "checks")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, _ := decideOn(t, src, obs, c.log)
			wantRuns(t, d, c.want)
		})
	}
}
