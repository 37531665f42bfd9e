package engine

import (
	"time"
)

// This file is the engine's surface for its callers (`upshift plan`,
// `upshift apply`, the sandbox and the agent): what a preview shows, what
// progress an apply reports, and the condition a plan ends in.

// Condition types (architecture.md, "statuses").
const (
	ConditionReady       = "Ready"       // converged: nothing left to do (or rolled back, and nothing more to do)
	ConditionProgressing = "Progressing" // steps are running or will run on the next apply
	ConditionStalled     = "Stalled"     // a person must act: approve, fix, or decide
)

// Condition reasons, PascalCase.
const (
	ReasonConverged        = "Converged"        // every step done
	ReasonStepsPending     = "StepsPending"     // a step is next and may run
	ReasonAwaitingApproval = "AwaitingApproval" // the next step is a point of no return not in approve
	ReasonStepFailed       = "StepFailed"       // a step failed; retried with backoff on the next apply
	ReasonGateFailed       = "GateFailed"       // a check or analysis failed; traffic went back to X
	ReasonRollingBack      = "RollingBack"      // rollback steps are pending
	ReasonRolledBack       = "RolledBack"       // rollback done; the plan stays so until it changes
	ReasonDriftDetected    = "DriftDetected"    // X's configuration changed after the backup
	ReasonPreconditionFail = "PreconditionFailed"
	ReasonRestoreNeeded    = "RestoreNeeded" // rollback past a point of no return without rollback.restore
	ReasonInterrupted      = "Interrupted"   // apply stopped by a signal after recording the current step
	// ReasonObservationFailed: a part of the observation a decision needs
	// (a database, the load balancer, the backups, X's fingerprint) could
	// not be read: nothing is done on doubt.
	ReasonObservationFailed = "ObservationFailed"
	// ReasonMigrationInDoubt: a `kong migrations` run of this run did not
	// finish and its SQL may have committed without schema_meta knowing;
	// Upshift does not run it again (kong-upgrade-failures.md §1).
	ReasonMigrationInDoubt = "MigrationInDoubt"
	// ReasonSideDown: a side stopped answering and this run did not stop it.
	ReasonSideDown = "SideDown"
	// ReasonNoData: an analysis had no data to the end of its max_window
	// and its on_no_data is "stall": a person decides; traffic stays.
	ReasonNoData = "AnalysisNoData"
)

// Condition is where a plan stands: a type, a reason and a message for a
// person.
type Condition struct {
	Type    string `json:"type"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Step statuses in a preview.
const (
	StatusDone    = "done"    // observed done
	StatusNext    = "next"    // the step the next apply runs
	StatusPending = "pending" // after the next one
	StatusBlocked = "blocked" // next, but cannot run (approval missing, precondition, drift)
)

// StepView is one step of a preview.
type StepView struct {
	Name  string `json:"name"`  // stable ID, the journal's step name and a failpoint name
	Title string `json:"title"` // what it does, for a person
	// Status is done, next, pending or blocked; Reason says why (the
	// observed fact that makes it done, or what blocks it).
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// NoReturn marks a point of no return; Approve is the consent item it
	// needs in approve = [...], and Approved whether the plan lists it.
	NoReturn bool   `json:"point_of_no_return,omitempty"`
	Approve  string `json:"approve,omitempty"`
	Approved bool   `json:"approved,omitempty"`
	// Reversible: the rollback undoes it (Undo says how).
	Reversible bool   `json:"reversible"`
	Undo       string `json:"undo,omitempty"`
}

// Preview is what `upshift plan` prints: the observation, the direction
// (upgrade or rollback), every step with its status, and the condition.
type Preview struct {
	Plan      string     `json:"plan"`
	Cluster   string     `json:"cluster,omitempty"`
	Strategy  string     `json:"strategy"`
	Mode      string     `json:"mode"`
	From      string     `json:"from_version"`
	To        string     `json:"to_version"`
	Direction string     `json:"direction"` // "upgrade" or "rollback"
	Condition Condition  `json:"condition"`
	Steps     []StepView `json:"steps"`
	Observed  Observed   `json:"observed"`
	// Run is the journal's current run of the plan (who started it, from
	// which commit, whether it ended); nil without a journal.
	Run *RunInfo `json:"run,omitempty"`
	// RunNote says what the plan's run attribute does: "set run = 2 to
	// upgrade again" after a run ended, or that a changed run starts one.
	RunNote string `json:"run_note,omitempty"`

	// ApproveInAdvance lists the gates the plan pre-approves
	// (approve_in_advance): the run crosses them without stopping.
	ApproveInAdvance []string `json:"approve_in_advance,omitempty"`
	// NotActedOn lists what the plan says that Upshift accepts and does
	// not act on yet (lint rule UP040; schema.NotActedOn).
	NotActedOn []string `json:"not_acted_on,omitempty"`
	// Preconditions predicts what the next step would stop at: an
	// analysis's inputs missing on X when the guard is next, on Y when the
	// next step sends Y its first traffic (each with its fix).
	Preconditions []string `json:"preconditions,omitempty"`
	// Guard is the guard's verdict when it is the next step of an
	// upgrade: its checks run read-only; nil otherwise.
	Guard *GuardVerdict `json:"guard,omitempty"`
}

// GuardVerdict predicts the guard: Pass, or the Problems it would refuse
// the run for (the message apply would stall with).
type GuardVerdict struct {
	Pass     bool     `json:"pass"`
	Problems []string `json:"problems,omitempty"`
}

// Pending reports whether any step is not done (plan --detailed-exitcode
// exits 3 then).
func (p *Preview) Pending() bool {
	for _, s := range p.Steps {
		if s.Status != StatusDone {
			return true
		}
	}
	return false
}

// Progress phases.
const (
	PhaseStart  = "start"  // a step begins
	PhaseDone   = "done"   // a step ended well
	PhaseFailed = "failed" // a step failed
	PhaseWait   = "wait"   // a pause or a wait is under way; Remaining counts down
	PhaseInfo   = "info"   // anything else worth a line (a gate result, drift)
	// PhaseSkipped: a step before the one that runs was found done
	// without running (observed so, or not needed); Message says why.
	PhaseSkipped = "skipped"
)

// Progress is one report of an apply's live progress.
type Progress struct {
	Time      time.Time     `json:"time"`
	Plan      string        `json:"plan"`
	Step      string        `json:"step,omitempty"`
	Title     string        `json:"title,omitempty"`
	Phase     string        `json:"phase"`
	Elapsed   time.Duration `json:"elapsed"`             // since the step started
	Remaining time.Duration `json:"remaining,omitempty"` // PhaseWait: time left in the pause
	Message   string        `json:"message,omitempty"`
	// Index and Total place the step in its table (1-based).
	Index int `json:"index,omitempty"`
	Total int `json:"total,omitempty"`
}

// Outcome is what an apply ended with: the condition, the steps it ran
// (names in order) and the engine's own timings.
type Outcome struct {
	Condition Condition `json:"condition"`
	Ran       []string  `json:"ran"`
	// Timing is the engine's own time: wall time minus time inside
	// external calls (drivers, hooks, kong) and pauses, per step run.
	Timing []StepTiming `json:"timing,omitempty"`
}

// StepTiming is one step's wall time and the part spent outside the
// engine (drivers, commands, pauses).
type StepTiming struct {
	Step     string        `json:"step"`
	Wall     time.Duration `json:"wall"`
	External time.Duration `json:"external"`
}

// Own is the engine's own time for the step.
func (t StepTiming) Own() time.Duration { return t.Wall - t.External }
