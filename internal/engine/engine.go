package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/notify"
	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
)

// Config is one plan's engine.
type Config struct {
	Plan      *plan.Plan
	LookupEnv func(string) (string, bool) // nil: os.LookupEnv
	// Store keeps the journal and the lease: required by Apply; Preview
	// reads the history from it when set.
	Store   Store
	Holder  string // lease holder name (default "host/pid")
	AgentID string // the agent's identity in journal records (Actor.Agent); "" for the CLI
	// TakeOver lets a caller that is not an agent (AgentID "") apply a
	// plan whose current run an agent started and has not finished; by
	// default Apply refuses it with ErrAgentRun (upshift apply --take-over).
	TakeOver bool
	LeaseTTL time.Duration // default 30s
	// Commit and Author are the plan's commit (the agent sets them); the
	// journal records them.
	Commit, Author string
	// Rollback, when set, asks for a rollback for this reason (the agent:
	// the plan was removed while in progress).
	Rollback string
	// RunKey identifies the run this plan's content belongs to; default
	// Digest(plan). A rolled-back run stays rolled back while the key is
	// the same. The agent adds the commit that (re)introduced the plan, so
	// that committing a reverted plan again starts a new run.
	RunKey   string
	Logger   *slog.Logger   // nil: discard
	Progress func(Progress) // calls never overlap (one may come from another goroutine while a step waits); keep it fast
	// Drivers overrides the drivers built from the plan (tests).
	Drivers *Drivers

	// WaitTimeout bounds waiting for a node to become ready or stop, and
	// for another runner's migrations lock (default 2m).
	WaitTimeout time.Duration
	// Retries is how many times a failed step is tried in one apply before
	// the plan is Stalled (default 3); RetryBase the first backoff (1s,
	// doubled each time).
	Retries   int
	RetryBase time.Duration
	// PollInterval is how often waits observe (default 250ms).
	PollInterval time.Duration
	// Drain is how long the engine waits, after traffic has moved away
	// from a side, before stopping it (the load balancer's old workers
	// finish their in-flight requests; Argo Rollouts' scaleDownDelay).
	// Default 5s; 0 in Config means the default, a negative value none.
	Drain time.Duration
	// Notify receives the run's notifications (notices.go): run started,
	// waiting for approval, a point of no return crossed, a failed gate,
	// drift, rolled back, stalled, completed. Notify must not block; nil:
	// none.
	Notify notify.Sink
}

// Engine runs one plan. Build it with New.
type Engine struct {
	cfg    Config
	plan   *plan.Plan
	drv    *Drivers
	digest string
	log    *slog.Logger

	progressMu sync.Mutex        // serializes Config.Progress calls
	noticeMu   sync.Mutex        // guards measured
	measured   map[string]string // the last measurement's details, for a failed gate's notification
	from       kongrelease.Version
	to         kongrelease.Version
}

// New checks cfg and builds the plan's drivers; it contacts nothing.
func New(cfg Config) (*Engine, error) {
	p := cfg.Plan
	if p == nil || p.From == nil || p.To == nil {
		return nil, errNoSide
	}
	if cfg.LookupEnv == nil {
		cfg.LookupEnv = os.LookupEnv
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = 2 * time.Minute
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 3
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if cfg.Drain == 0 {
		cfg.Drain = 5 * time.Second
	}
	if cfg.Holder == "" {
		cfg.Holder = localActor().String()
	}
	e := &Engine{cfg: cfg, plan: p, digest: cfg.RunKey, log: cfg.Logger}
	if e.digest == "" {
		e.digest = Digest(p)
	}
	if e.log == nil {
		e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var err error
	if e.from, err = kongrelease.Parse(p.From.Version.Value); err != nil {
		return nil, fmt.Errorf("plan %q: from.version: %w", p.Name, err)
	}
	if e.to, err = kongrelease.Parse(p.To.Version.Value); err != nil {
		return nil, fmt.Errorf("plan %q: to.version: %w", p.Name, err)
	}
	switch p.Strategy.Value {
	case "dual_cluster", "blue_green", "in_place", "rolling":
	default:
		return nil, fmt.Errorf("plan %q: unknown strategy %q", p.Name, p.Strategy.Value)
	}
	if cfg.Drivers != nil {
		e.drv = cfg.Drivers
	} else if e.drv, err = buildDrivers(p, cfg.LookupEnv); err != nil {
		return nil, err
	}
	if e.drv.Hooks == nil {
		e.drv.Hooks = ExecHooks{}
	}
	if p.Strategy.Value == "dual_cluster" && e.drv.ToDSN == "" {
		return nil, fmt.Errorf("plan %q: dual_cluster needs Y's own database (to.database) distinct from X's", p.Name)
	}
	return e, nil
}

// rollbackReason says why the plan asks for a rollback ("" when it does not).
func (e *Engine) rollbackReason(h *history) string {
	switch {
	case e.cfg.Rollback != "":
		return e.cfg.Rollback
	case e.plan.Rollback != nil && e.plan.Rollback.Requested.Value:
		return "rollback { requested = true }"
	case e.plan.To.Version.Value == e.plan.From.Version.Value:
		return "to.version is set back to from.version"
	case h.abort != "": // upshift abort
		return h.abort
	case h.rollback != "":
		return h.rollback
	}
	return ""
}

// history reads the plan's current run from the store (empty without one).
func (e *Engine) history(ctx context.Context) (*history, error) {
	h, _, err := e.journal(ctx)
	return h, err
}

// journal reads the plan's records once: the history the decisions use
// and the current run's RunInfo (nil without a store).
func (e *Engine) journal(ctx context.Context) (*history, *RunInfo, error) {
	if e.cfg.Store == nil {
		return readHistory(nil, e.digest), nil, nil
	}
	recs, err := e.cfg.Store.Records(ctx, e.plan.Name, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("read the journal of plan %q: %w", e.plan.Name, err)
	}
	info := runInfo(recs)
	h := readHistory(recs, e.digest)
	h.nextRun(e.plan.RunNumber())
	return h, &info, nil
}

// decision is what decide found: the table, the index of the next step
// (-1: none), and the condition.
type decision struct {
	direction string
	steps     []step
	views     []StepView
	next      int
	cond      Condition
	blocked   string // reason the next step cannot run now
	// doubt is set when the next step's doubt stopped it (its status is
	// unknown, or the world shows a fault); wait when a later observation
	// may clear it (a part that could not be read).
	doubt *unsure
	wait  bool
}

// decide computes every step's status from the state.
func (e *Engine) decide(s *state) decision {
	d := decision{direction: "upgrade", next: -1}
	reason := e.rollbackReason(s.h)
	var stall *Condition
	if reason != "" {
		d.direction = "rollback"
		d.steps, stall = e.rollbackTable(s.h)
	} else {
		d.steps = e.table()
	}
	approved := e.consent(s.h)
	for i, st := range d.steps {
		v := StepView{Name: st.name, Title: st.title, NoReturn: st.noReturn, Approve: st.approve,
			Approved: st.approve == "" || approved[st.approve], Reversible: st.reversible, Undo: st.undo}
		var sd *unsure
		if d.next < 0 && st.doubt != nil {
			sd = st.doubt(s)
		}
		ok, why := false, ""
		if sd == nil {
			ok, why = st.done(s)
		}
		v.Reason = why
		switch {
		case sd != nil:
			d.next, d.doubt, d.wait, d.blocked = i, sd, sd.wait, sd.msg
			v.Status, v.Reason = StatusBlocked, sd.msg
		case ok:
			v.Status = StatusDone
		case d.next >= 0:
			v.Status = StatusPending
		default:
			d.next = i
			v.Status = StatusNext
			if b := e.blocker(s, st, approved); b != "" {
				v.Status, v.Reason, d.blocked = StatusBlocked, b, b
			}
		}
		d.views = append(d.views, v)
	}
	switch {
	case stall != nil:
		d.cond = *stall
	case d.next < 0 && d.direction == "rollback":
		d.cond = Condition{Type: ConditionReady, Reason: ReasonRolledBack, Message: "rolled back: " + reason}
		if s.h.gateFailed {
			d.cond = Condition{Type: ConditionStalled, Reason: ReasonGateFailed,
				Message: "rolled back after a failed gate (" + reason + "); the plan stays rolled back until it changes"}
		}
	case d.next < 0:
		d.cond = Condition{Type: ConditionReady, Reason: ReasonConverged, Message: fmt.Sprintf("converged on Kong %s", e.plan.To.Version.Value)}
	case d.doubt != nil:
		d.cond = Condition{Type: ConditionStalled, Reason: d.doubt.reason, Message: d.steps[d.next].name + ": " + d.doubt.msg}
	case d.blocked != "":
		st := d.steps[d.next]
		switch {
		case st.approve != "" && !approved[st.approve]:
			d.cond = Condition{Type: ConditionStalled, Reason: ReasonAwaitingApproval, Message: e.gateMessage(st)}
		case isDrift(d.blocked):
			d.cond = Condition{Type: ConditionStalled, Reason: ReasonDriftDetected, Message: d.blocked}
		case hasPrefix(d.blocked, driftBlindPrefix):
			d.cond = Condition{Type: ConditionStalled, Reason: ReasonObservationFailed, Message: st.name + ": " + d.blocked}
			d.wait = true
		default:
			d.cond = Condition{Type: ConditionStalled, Reason: ReasonPreconditionFail, Message: st.name + ": " + d.blocked}
		}
	case d.direction == "rollback":
		d.cond = Condition{Type: ConditionProgressing, Reason: ReasonRollingBack, Message: "rolling back: " + reason}
	default:
		d.cond = Condition{Type: ConditionProgressing, Reason: ReasonStepsPending, Message: "next: " + d.steps[d.next].name}
		if st := d.steps[d.next]; s.h.done(st.name) && d.views[d.next].Reason != "" {
			// Done earlier in this run and no longer observed so: say why.
			d.cond.Message += " again: " + d.views[d.next].Reason
		}
	}
	if p := s.h.paused; p != nil && d.direction == "upgrade" && d.next >= 0 && d.blocked == "" && d.doubt == nil {
		// upshift pause holds the next step (a rollback is never held).
		d.cond = pausedCondition(p)
		d.blocked = d.cond.Message
		d.views[d.next].Status, d.views[d.next].Reason = StatusBlocked, "paused"
	}
	return d
}

// consent says which consent items count now: approve_in_advance's, and
// approve's items that were absent from the plan when the run last
// recorded stopping at their gate (and, for the agent, read from another
// commit than that record's). An item written before the gate was
// reached was consent to nothing anyone had looked at.
func (e *Engine) consent(h *history) map[string]bool {
	ok := map[string]bool{}
	for _, a := range e.plan.ApproveInAdvance {
		ok[a.Value] = true
	}
	for _, a := range e.plan.Approve {
		g, seen := h.gates[a.Value]
		if seen && g.Details["listed"] == "" && (e.cfg.Commit == "" || g.Commit != e.cfg.Commit) {
			ok[a.Value] = true
		}
	}
	for item := range h.approved { // upshift approve, given at the gate
		ok[item] = true
	}
	return ok
}

// listed reports whether the plan's approve list holds item.
func (e *Engine) listed(item string) bool {
	for _, a := range e.plan.Approve {
		if a.Value == item {
			return true
		}
	}
	return false
}

// gateMessage tells the operator how to consent to st's gate.
func (e *Engine) gateMessage(st step) string {
	if e.listed(st.approve) {
		return fmt.Sprintf("%s is a point of no return: %q was already in approve = [...] when the run stopped here, so it is not consent: "+
			"remove it, let the run see the removal (the agent reads the commit; or upshift apply), then add it back in a later commit "+
			"(approve_in_advance = [%q] is for unattended runs)", st.name, st.approve, st.approve)
	}
	return fmt.Sprintf("%s is a point of no return: add %q to approve = [...] in a new commit to go on "+
		"(an item already there before the run stopped at this gate does not count; approve_in_advance is for unattended runs)", st.name, st.approve)
}

const (
	driftPrefix      = "X's configuration changed after the backup"
	driftBlindPrefix = "the drift guard cannot run"
)

func isDrift(s string) bool { return hasPrefix(s, driftPrefix) }

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// blocker says why st cannot run now: consent missing, the drift guard,
// or its own check.
func (e *Engine) blocker(s *state, st step, approved map[string]bool) string {
	if st.approve != "" && !approved[st.approve] {
		return fmt.Sprintf("needs approve = [%q]", st.approve)
	}
	// A point of no return whose intent this run already wrote was begun
	// (a crash stopped it half way): the guard protected the crossing,
	// which happened; finishing the step is the only way on. Guarding it
	// again could only stall it, e.g. a rolling decommission that already
	// stopped the X node the fingerprint is read from.
	if st.guarded && !(st.noReturn && s.h.intents[st.name] > 0) {
		if d := driftSummary(s); d != "" {
			return d
		}
	}
	if st.check != nil {
		return st.check(s)
	}
	return ""
}

// driftSummary compares X's live fingerprint with the baseline: the
// fingerprint recorded by this run's backup, or by a later step that
// changed X's database on purpose (migrations on a shared database). No
// baseline, or no fingerprint observed, is no pass: the guard cannot
// tell, and says so (driftBlindPrefix).
func driftSummary(s *state) string {
	base, counts := "", ""
	var baseSeq int64
	for _, r := range s.h.ok {
		if fp := r.Details["fingerprint"]; fp != "" && r.Seq > baseSeq {
			base, counts, baseSeq = fp, r.Details["counts"], r.Seq
		}
	}
	fp := s.obs.Fingerprint
	switch {
	case base == "":
		return driftBlindPrefix + ": this run's backup recorded no configuration fingerprint to compare X with"
	case fp == nil:
		return driftBlindPrefix + ": X's configuration fingerprint is not observed (the plan gives neither X's database nor an Admin API to read it from)"
	case fp.Error != "":
		return driftBlindPrefix + ": X's configuration fingerprint cannot be read (" + fp.Error + ")"
	}
	if fp.Hash == base {
		return ""
	}
	return fmt.Sprintf("%s (fingerprint %s, now %s; entities then: %s; now: %s): an admin write happened during the freeze. Undo it on X, or roll back and start again so that Y gets it",
		driftPrefix, short(base), short(fp.Hash), counts, countsString(fp.Counts))
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// Preview observes and decides; it writes nothing and takes no lease.
func (e *Engine) Preview(ctx context.Context) (*Preview, error) {
	h, run, err := e.journal(ctx)
	if err != nil {
		return nil, err
	}
	obs, err := e.drv.Observer.Observe(ctx)
	if err != nil {
		return nil, err
	}
	s := &state{obs: obs, h: h, p: e.plan, to: e.to}
	d := e.decide(s)
	if h.completed && d.direction == "upgrade" {
		d.cond = Condition{Type: ConditionReady, Reason: ReasonConverged, Message: "completed: X was decommissioned"}
	}
	pv := &Preview{Plan: e.plan.Name, Cluster: e.plan.Cluster.Value, Strategy: e.plan.Strategy.Value, Mode: modeOf(e.plan),
		From: e.plan.From.Version.Value, To: e.plan.To.Version.Value, Direction: d.direction, Condition: d.cond,
		Steps: d.views, Observed: obs, Run: run}
	pv.RunNote = e.runNote(run, h.newRun)
	for _, a := range e.plan.ApproveInAdvance {
		pv.ApproveInAdvance = append(pv.ApproveInAdvance, a.Value)
	}
	for _, in := range schema.NotActedOn(e.plan) {
		pv.NotActedOn = append(pv.NotActedOn, in.What)
	}
	pv.Preconditions = e.predictInputs(ctx, s, d)
	e.predictGuard(ctx, s, d, pv) // guard_y.go
	return pv, nil
}

// runNote says what the plan's run attribute does with the journal's
// current run: how to upgrade again once it ended, that a changed run
// starts a new one, or waits for the one in progress. newRun: the
// history already starts a new run (run changed, or the plan's content
// after a rollback).
func (e *Engine) runNote(r *RunInfo, newRun bool) string {
	if r == nil || !r.Started {
		return ""
	}
	n, was := e.plan.RunNumber(), max(r.Run, 1)
	ended := "completed"
	if r.RolledBack {
		ended = "rolled back"
	}
	requested := e.plan.Rollback != nil && e.plan.Rollback.Requested.Value
	switch {
	case r.InProgress() && n != was:
		return fmt.Sprintf("run = %d changes nothing while run %d is in progress; it starts a new run once that one completes or rolls back", n, was)
	case r.InProgress():
		return ""
	case requested && n != was:
		// Whatever else changed, the plan still asks for a rollback: a
		// new run would upgrade nothing (the usual state right after a
		// rollback, whose request changed the plan's content).
		return fmt.Sprintf("run %d %s; run = %d starts a new run, but the plan still requests a rollback: remove rollback { requested = true } to upgrade again", was, ended, n)
	case requested:
		return fmt.Sprintf("run %d %s; to upgrade again, remove rollback { requested = true } and set run = %d", was, ended, was+1)
	case n != was:
		return fmt.Sprintf("run %d %s; run = %d starts a new run: apply (or the agent) begins again from the first step", was, ended, n)
	case newRun:
		return fmt.Sprintf("run %d %s; the plan changed since, so apply (or the agent) starts a new run from the first step", was, ended)
	}
	return fmt.Sprintf("run %d %s; set run = %d to upgrade again", was, ended, was+1)
}

func modeOf(p *plan.Plan) string {
	if p.Mode.Value == "" {
		return plan.DefaultMode
	}
	return p.Mode.Value
}

// ErrInterrupted is returned by waits when ctx ended.
var ErrInterrupted = errors.New("interrupted")

func sortedStrings(s []string) []string { sort.Strings(s); return s }
