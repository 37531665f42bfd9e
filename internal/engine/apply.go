package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/analysis"
	"github.com/upshift-dev/upshift/internal/backup"
	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/traffic"
)

// Apply takes the plan's lease and runs steps until the plan is Ready or
// Stalled, or ctx ends. Each step is journaled write-ahead: an intent
// before it acts, an outcome after. After a crash (an intent with no
// outcome) it observes first and runs the step again only when the world
// shows it not done; every step is safe to run again on an observation
// that says so (see each step's apply).
//
// When ctx ends, the current step is cancelled (its child processes
// killed), its outcome recorded as cancelled, and Apply returns an Outcome
// with reason Interrupted and a nil error. The error is for not being able
// to run at all: the lease held by another holder (errors.Is ErrLeaseHeld),
// lost during the run (ErrLeaseLost), or the journal unreachable.
func (e *Engine) Apply(ctx context.Context) (Outcome, error) {
	var out Outcome
	if e.cfg.Store == nil {
		return out, errors.New("apply needs a journal store")
	}
	lease, err := e.cfg.Store.Acquire(ctx, e.plan.Name, e.cfg.Holder, e.cfg.LeaseTTL)
	if err != nil {
		return out, fmt.Errorf("plan %q: %w", e.plan.Name, err)
	}
	defer func() { _ = lease.Release(context.WithoutCancel(ctx)) }()
	// Steps run under a context that ends with ctx or with the lease.
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(lease.Context(), func() { cancel(context.Cause(lease.Context())) })
	defer stop()
	// A read, hook or command that takes long is reported while it runs.
	inStep := &current{}
	actx, stopSlow := e.watchSlow(actx, inStep)
	defer stopSlow()

	j := &Journal{Store: e.cfg.Store, Lease: lease, Commit: e.cfg.Commit, Author: e.cfg.Author, Secrets: e.drv.Secrets, Notice: e.notice}
	if e.cfg.AgentID != "" {
		j.Actor = localActor()
		j.Actor.Agent = e.cfg.AgentID
	}
	h, cur, err := e.journal(actx)
	if err != nil {
		return out, err
	}
	if e.cfg.AgentID == "" && !e.cfg.TakeOver && cur.InProgress() && cur.Agent != "" {
		return out, &AgentRunError{Plan: e.plan.Name, Agent: cur.Agent, Commit: cur.Commit}
	}
	if h.newRun {
		// One run per cluster: refused before any step (cluster.go).
		if ce, err := e.clusterRun(actx); err != nil {
			return out, e.leaseErr(actx, err)
		} else if ce != nil {
			return out, ce
		}
		if _, err := j.Event(actx, EventRunStarted, map[string]string{"digest": e.digest, "cluster": e.plan.Cluster.Value, "run": strconv.Itoa(e.plan.RunNumber())}); err != nil {
			return out, fmt.Errorf("plan %q: start a run: %w", e.plan.Name, err)
		}
	} else if h.pending != nil {
		e.log.Warn("a step was interrupted; observing before deciding", "plan", e.plan.Name, "step", h.pending.Step, "intent_seq", h.pending.Seq)
		if _, err := j.Event(actx, EventRecovered, map[string]string{"step": h.pending.Step, "intent_seq": fmt.Sprint(h.pending.Seq)}); err != nil {
			return out, err
		}
	}

	failures := map[string]int{}
	skipped := map[string]bool{}            // steps reported as skipped (reportSkipped)
	announced := false                      // a rollback this pass started was reported
	var unsureSince, unsureReport time.Time // when the decision began to wait on a part it could not read; last reported
	// urgent: this pass may start a rollback (a failed gate, or the plan
	// requests one): Y's reads are bounded (urgent.go).
	urgent := e.plan.Rollback != nil && e.plan.Rollback.Requested.Value
	for {
		iter := time.Now()
		if actx.Err() != nil {
			// Stopped between steps (Ctrl-C, or the lease lost): nothing
			// is under way, nothing to record.
			if c := context.Cause(actx); errors.Is(c, ErrLeaseLost) {
				return out, fmt.Errorf("plan %q: %w", e.plan.Name, c)
			}
			return e.interrupted(out, ""), nil
		}
		if h, err = e.history(actx); err != nil {
			if actx.Err() != nil && !errors.Is(context.Cause(actx), ErrLeaseLost) {
				return e.interrupted(out, ""), nil
			}
			return out, e.leaseErr(actx, err)
		}
		if h.abort != "" && h.rollback == "" {
			urgent = true // upshift abort: as rollback { requested = true }
		}
		observer := e.drv.Observer
		if urgent {
			observer, urgent = e.urgentObserver(h), false
		}
		obs, err := observer.Observe(actx)
		observeTook := time.Since(iter)
		if err != nil {
			return e.interrupted(out, ""), nil
		}
		s := &state{obs: obs, h: h, p: e.plan, to: e.to}
		if rec, err := e.recoverMigrationsBaseline(actx, j, s); err != nil {
			return out, e.leaseErr(actx, err)
		} else if rec {
			continue // the history changed: read it again
		}
		d := e.decide(s)
		e.logDecision(obs, observeTook, d)
		if d.direction == "rollback" && h.rollback == "" && !announced {
			// Before the steps' lines: what is happening now.
			announced = true
			e.progress(Progress{Phase: PhaseInfo, Message: "Rolling back: " + e.rollbackReason(h)})
		}
		e.reportSkipped(s.h, d, skipped)
		if h.completed && d.direction == "upgrade" {
			out.Condition = Condition{Type: ConditionReady, Reason: ReasonConverged, Message: "completed: X was decommissioned"}
			return out, nil
		}
		if d.wait && d.next >= 0 {
			// A part the decision needs could not be read (or a migration
			// is still running): observe again, up to WaitTimeout, before
			// stalling; nothing runs meanwhile.
			if unsureSince.IsZero() {
				unsureSince = time.Now()
			}
			if time.Since(unsureSince) < e.cfg.WaitTimeout {
				if st := d.steps[d.next]; time.Since(unsureReport) >= time.Second {
					unsureReport = time.Now()
					e.progress(Progress{Step: st.name, Title: st.title, Phase: PhaseWait, Elapsed: time.Since(unsureSince), Index: d.next + 1, Total: len(d.steps),
						Remaining: (e.cfg.WaitTimeout - time.Since(unsureSince)).Round(time.Second), Message: "waiting: " + d.cond.Message})
				}
				if !sleepCtx(actx, e.cfg.PollInterval) {
					return e.interrupted(out, ""), nil
				}
				continue
			}
		} else {
			unsureSince = time.Time{}
		}
		if d.next < 0 || d.blocked != "" {
			if err := e.finish(actx, j, h, d); err != nil {
				return out, e.leaseErr(actx, err)
			}
			out.Condition = d.cond
			return out, nil
		}
		st := d.steps[d.next]
		if d.direction == "rollback" && h.rollback == "" {
			if _, err := j.Event(actx, EventRollbackRequested, map[string]string{"reason": e.rollbackReason(h)}); err != nil {
				return out, e.leaseErr(actx, err)
			}
		}
		if st.noReturn {
			if err := lease.Check(actx); err != nil {
				return out, fmt.Errorf("plan %q: before %s: %w", e.plan.Name, st.name, err)
			}
		}
		r := &run{e: e, j: j, state: s, step: &st, idx: d.next + 1, total: len(d.steps), start: time.Now()}
		intent, err := j.Intent(actx, st.name, h.intents[st.name]+1, map[string]string{"direction": d.direction})
		if err != nil {
			return out, e.leaseErr(actx, err)
		}
		Failpoint(st.name, PhaseBefore)
		e.progress(Progress{Step: st.name, Title: st.title, Phase: PhaseStart, Index: r.idx, Total: r.total})
		sctx := actx
		if FailpointDuring(st.name) {
			name := st.name
			sctx = context.WithValue(actx, startedKey{}, func() { Failpoint(name, PhaseDuring) })
			sctx = traffic.WithStarted(sctx, func([]string) { Failpoint(name, PhaseDuring) })
		}
		applyStart := time.Now()
		inStep.set(&st, r.idx, r.total)
		output, details, aerr := st.apply(sctx, r)
		inStep.set(nil, 0, 0)
		applyTook := time.Since(applyStart)
		Failpoint(st.name, PhaseAfter)
		result := ResultOK
		var aborted *abortError
		switch {
		case aerr != nil && actx.Err() != nil:
			result = ResultCancelled
		case errors.As(aerr, &aborted):
			result = ResultCancelled // upshift abort ended a pause's wait
		case aerr != nil:
			result = ResultFailed
		}
		if _, err := j.OutcomeDetails(context.WithoutCancel(actx), intent, result, aerr, output, applyTook, details); err != nil {
			return out, e.leaseErr(actx, err)
		}
		out.Ran = append(out.Ran, st.name)
		out.Timing = append(out.Timing, StepTiming{Step: st.name, Wall: time.Since(iter), External: observeTook + applyTook})
		if aborted != nil && actx.Err() == nil {
			e.progress(Progress{Step: st.name, Title: st.title, Phase: PhaseInfo, Elapsed: time.Since(r.start), Index: r.idx, Total: r.total, Message: aerr.Error()})
			continue // the next decision rolls back
		}
		if result == ResultCancelled {
			if c := context.Cause(actx); errors.Is(c, ErrLeaseLost) {
				return out, fmt.Errorf("plan %q: %s: %w", e.plan.Name, st.name, c)
			}
			return e.interrupted(out, st.name), nil
		}
		if aerr == nil {
			failures[st.name] = 0
			// The first line sums the step up (its other lines, a pause's
			// measurements or a check's results, were reported as they came).
			e.progress(Progress{Step: st.name, Title: st.title, Phase: PhaseDone, Elapsed: time.Since(r.start), Index: r.idx, Total: r.total, Message: firstLine(output)})
			continue
		}
		e.progress(Progress{Step: st.name, Title: st.title, Phase: PhaseFailed, Elapsed: time.Since(r.start), Index: r.idx, Total: r.total, Message: j.redact(aerr.Error())})
		var ge *gateError
		var he *haltError
		switch {
		case errors.As(aerr, &ge):
			if _, err := j.Event(actx, EventGate, map[string]string{"gate": st.name, "result": "failed", "message": ge.msg}); err != nil {
				return out, e.leaseErr(actx, err)
			}
			if d.direction == "upgrade" && (e.plan.Rollback == nil || !e.plan.Rollback.OnGateFailure.Set || e.plan.Rollback.OnGateFailure.Value) {
				if _, err := j.Event(actx, EventRollbackRequested, map[string]string{"reason": ge.msg, "gate": st.name}); err != nil {
					return out, e.leaseErr(actx, err)
				}
				e.progress(Progress{Phase: PhaseInfo, Message: "Rolling back: " + st.name + " failed: " + ge.msg})
				announced = true
				urgent = true
				continue
			}
			out.Condition = Condition{Type: ConditionStalled, Reason: ReasonGateFailed, Message: ge.msg + " (rollback.on_gate_failure = false: traffic stays as it is)"}
		case errors.As(aerr, &he):
			out.Condition = Condition{Type: ConditionStalled, Reason: he.reason, Message: st.name + ": " + j.redact(he.msg)}
		default:
			failures[st.name]++
			if failures[st.name] < e.cfg.Retries {
				wait := e.cfg.RetryBase << (failures[st.name] - 1)
				// The failure was reported just before (PhaseFailed): once.
				e.progress(Progress{Step: st.name, Title: st.title, Phase: PhaseWait, Index: r.idx, Total: r.total, Message: fmt.Sprintf("retry %d/%d in %s", failures[st.name]+1, e.cfg.Retries, wait)})
				if !sleepCtx(actx, wait) {
					return e.interrupted(out, st.name), nil
				}
				continue
			}
			out.Condition = Condition{Type: ConditionStalled, Reason: ReasonStepFailed,
				Message: fmt.Sprintf("%s failed %d times; last: %s", st.name, failures[st.name], j.redact(aerr.Error()))}
		}
		e.recordStall(actx, j, h, out.Condition)
		return out, nil
	}
}

// logDecision logs, at debug, what a pass observed and decided.
func (e *Engine) logDecision(o Observed, took time.Duration, d decision) {
	if !e.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	next := ""
	if d.next >= 0 {
		next = d.steps[d.next].name
	}
	side := func(f *NodeFacts) string {
		switch {
		case f == nil:
			return "-"
		case !f.Reachable:
			return "unreachable: " + f.Error
		case f.Ready:
			return f.Version + " ready"
		}
		return f.Version + " not ready: " + f.ReadyReason + f.ReadyError
	}
	traffic := "-"
	if t := o.Traffic; t != nil {
		traffic = fmt.Sprintf("%d/%d", t.From, t.To)
		if t.Error != "" {
			traffic = "unreadable: " + t.Error
		}
	}
	e.log.Debug("observed", "plan", e.plan.Name, "took", took.Round(time.Millisecond), "x", side(o.From), "y", side(o.To),
		"traffic", traffic, "direction", d.direction, "next", next, "condition", d.cond.Type+"/"+d.cond.Reason, "message", d.cond.Message)
}

// reportSkipped reports, once per Apply, each step before the next one
// (all of them when none is next) that is done without having run in
// this run (observed done, or not needed), so that the step numbers go
// on without a gap. Steps up to the last one this run ran are not
// reported again: an apply that resumes starts where the last one
// stopped.
func (e *Engine) reportSkipped(h *history, d decision, reported map[string]bool) {
	limit := d.next
	if limit < 0 {
		limit = len(d.steps)
	}
	last := -1
	for i := range limit {
		if h.done(d.steps[i].name) {
			last = i
		}
	}
	for i := last + 1; i < limit; i++ {
		st, v := d.steps[i], d.views[i]
		if v.Status != StatusDone || reported[st.name] {
			continue
		}
		reported[st.name] = true
		e.progress(Progress{Step: st.name, Title: st.title, Phase: PhaseSkipped, Index: i + 1, Total: len(d.steps), Message: v.Reason})
	}
}

// finish records how a run ended (completed, rolled back) or a new
// stall, once.
func (e *Engine) finish(ctx context.Context, j *Journal, h *history, d decision) error {
	switch {
	case d.next < 0 && d.direction == "upgrade" && d.cond.Reason == ReasonConverged && !h.completed:
		_, err := j.Event(ctx, EventCompleted, map[string]string{"digest": e.digest})
		return err
	case d.next < 0 && d.direction == "rollback" && !h.rolledBack && d.cond.Reason != ReasonRestoreNeeded:
		d := map[string]string{"digest": e.digest, "reason": e.rollbackReason(h)}
		if h.gateFailed {
			d["automatic"] = "1" // a failed gate asked for it, not a person
		}
		_, err := j.Event(ctx, EventRolledBack, d)
		return err
	}
	if d.cond.Reason == ReasonAwaitingApproval {
		if err := e.recordGate(ctx, j, h, d.steps[d.next]); err != nil {
			return err
		}
	}
	e.recordStall(ctx, j, h, d.cond)
	return nil
}

// recordGate journals that the run waits at st's gate with the plan's
// approve list as it is now (see consent): the first time, and again when
// the item's presence or the plan's commit changed since, so that an
// operator who had written it before the gate can remove it and add it
// back, and the journal shows each commit the gate was seen at.
func (e *Engine) recordGate(ctx context.Context, j *Journal, h *history, st step) error {
	listed := ""
	if e.listed(st.approve) {
		listed = "1"
	}
	if g, ok := h.gates[st.approve]; ok && g.Details["listed"] == listed && g.Commit == j.Commit {
		return nil
	}
	approve := make([]string, 0, len(e.plan.Approve))
	for _, a := range e.plan.Approve {
		approve = append(approve, a.Value)
	}
	_, err := j.Event(ctx, EventAwaitingApproval, map[string]string{"step": st.name, "approve": st.approve,
		"listed": listed, "plan_approve": strings.Join(approve, ",")})
	return err
}

func (e *Engine) recordStall(ctx context.Context, j *Journal, h *history, c Condition) {
	if c.Type != ConditionStalled || h.lastStall == c.Reason+"\n"+c.Message {
		return
	}
	if _, err := j.Event(context.WithoutCancel(ctx), EventStalled, map[string]string{"reason": c.Reason, "message": c.Message}); err != nil {
		e.log.Warn("record a stall", "plan", e.plan.Name, "err", err)
	}
}

func (e *Engine) interrupted(out Outcome, step string) Outcome {
	msg := "interrupted; run apply again: it resumes from the journal"
	if step != "" {
		msg = "interrupted during " + step + "; run apply again: it resumes from the journal"
	}
	out.Condition = Condition{Type: ConditionProgressing, Reason: ReasonInterrupted, Message: msg}
	return out
}

// ErrAgentRun: the plan's current run is an agent's (see AgentRunError).
var ErrAgentRun = errors.New("an agent is running this plan")

// AgentRunError is Apply's refusal, for a caller that is not an agent, of
// a plan whose current run an agent started and has not finished: two
// controllers would fight over it. The plan changes through its git
// repository; Config.TakeOver overrides (the agent stopped for good).
type AgentRunError struct {
	Plan, Agent, Commit string
}

func (e *AgentRunError) Error() string {
	s := fmt.Sprintf("plan %q: agent %q is running this plan", e.Plan, e.Agent)
	if e.Commit != "" {
		s += " (from commit " + short(e.Commit) + ")"
	}
	return s
}

func (e *AgentRunError) Is(target error) bool { return target == ErrAgentRun }

// leaseErr prefers the lease's loss as the cause of an error.
func (e *Engine) leaseErr(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && errors.Is(c, ErrLeaseLost) {
		return fmt.Errorf("plan %q: %w", e.plan.Name, c)
	}
	return fmt.Errorf("plan %q: %w", e.plan.Name, err)
}

// progress reports p to Config.Progress and logs it: waits at debug,
// everything else at info, so that --log-level and --log-format show the
// run as it goes. A failed step is info too: apply shows it already, and
// at its default level (warn) it is not printed twice.
func (e *Engine) progress(p Progress) {
	if e.drv != nil {
		// Messages carry commands' output and errors: masked as the
		// journal masks them, before anyone prints or logs them.
		p.Message = (&Journal{Secrets: e.drv.Secrets}).redact(p.Message)
	}
	level := slog.LevelInfo
	if p.Phase == PhaseWait {
		level = slog.LevelDebug
	}
	if e.log.Enabled(context.Background(), level) {
		args := []any{"plan", e.plan.Name, "phase", p.Phase}
		if p.Step != "" {
			args = append(args, "step", p.Step, "index", p.Index, "total", p.Total)
		}
		if p.Phase != PhaseStart && p.Phase != PhaseSkipped {
			args = append(args, "elapsed", p.Elapsed.Round(time.Millisecond))
		}
		if p.Remaining > 0 {
			args = append(args, "remaining", p.Remaining.Round(time.Millisecond))
		}
		msg := p.Message
		if p.Phase == PhaseStart {
			msg = p.Title
		}
		e.log.Log(context.Background(), level, msg, args...)
	}
	if e.cfg.Progress == nil {
		return
	}
	p.Time, p.Plan = time.Now(), e.plan.Name
	// Slow waits are reported from another goroutine (slow.go): calls
	// never overlap.
	e.progressMu.Lock()
	defer e.progressMu.Unlock()
	e.cfg.Progress(p)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// sleepCtx waits d or until ctx ends (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// run is one step being applied: what its apply needs from the engine.
type run struct {
	e          *Engine
	j          *Journal // nil in a preview
	state      *state
	step       *step
	idx, total int
	start      time.Time
	seenY      map[string]string // Y's identities at the last health probe (health.go)
}

// drain waits Config.Drain before a side that served traffic is stopped,
// when the plan has a load balancer.
func (r *run) drain(ctx context.Context) error {
	d := r.e.cfg.Drain
	if r.e.drv.Router == nil || d <= 0 {
		return nil
	}
	r.e.progress(Progress{Step: r.step.name, Title: r.step.title, Phase: PhaseWait, Elapsed: time.Since(r.start), Remaining: d,
		Index: r.idx, Total: r.total, Message: "draining in-flight requests before stopping"})
	defer track(ctx, "in-flight requests to drain before stopping", d)()
	if !sleepCtx(ctx, d) {
		return fmt.Errorf("drain: %w", context.Cause(ctx))
	}
	return nil
}

func (r *run) hook(ctx context.Context, argv []string) (string, error) {
	limit := DefaultHookTimeout
	if h, ok := r.e.drv.Hooks.(ExecHooks); ok && h.Timeout > 0 {
		limit = h.Timeout
	}
	defer track(ctx, "the hook "+hookName(argv), limit)()
	return r.e.drv.Hooks.Run(ctx, argv)
}

// hookName is a hook's program and first argument, enough to tell it.
func hookName(argv []string) string {
	if len(argv) > 2 {
		argv = argv[:2]
	}
	return strings.Join(argv, " ")
}

// kongMigrations runs Y's `kong migrations cmd` on the database at dsn,
// after waiting out another runner's live migrations lock (a runner
// killed half way leaves one until its TTL).
func (r *run) kongMigrations(ctx context.Context, cmd, dsn string) (string, error) {
	e := r.e
	if len(e.drv.Kong) == 0 {
		return "", &haltError{reason: ReasonPreconditionFail, msg: "the plan has no to.kong command"}
	}
	db, err := kong.ParseDSN(dsn)
	if err != nil {
		return "", &haltError{reason: ReasonPreconditionFail, msg: err.Error()}
	}
	if db.Password == "" {
		db.Password, _ = e.cfg.LookupEnv("PGPASSWORD")
	}
	err = r.waitUntil(ctx, "the migrations lock to be free", func(o Observed) (bool, string) {
		f := o.ToDatabase
		if f == nil || e.drv.ToDSN == "" || dsn != e.drv.ToDSN {
			f = o.FromDatabase
		}
		if f == nil {
			return true, ""
		}
		if f.Error != "" {
			return false, "database: " + f.Error
		}
		for _, l := range f.Locks {
			if l.Key == "migrations" && !l.Expired {
				return false, fmt.Sprintf("held by %s until %s", l.Owner, l.TTL.Format(time.RFC3339))
			}
		}
		return true, ""
	})
	if err != nil {
		return "", err
	}
	c := kong.Command{Argv: e.drv.Kong, DB: db}
	if f, ok := ctx.Value(startedKey{}).(func()); ok {
		c.Started = func(int) { f() }
	}
	done := track(ctx, "kong migrations "+cmd+" on database "+db.Database, 0)
	res, err := c.Run(ctx, "migrations", cmd)
	done()
	out := strings.TrimSpace(res.Stdout + "\n" + res.Stderr)
	if err != nil {
		return out, fmt.Errorf("kong migrations %s: %w", cmd, err)
	}
	return out, nil
}

// loadConfig posts this run's declarative backup to a DB-less Y node.
func (r *run) loadConfig(ctx context.Context, l ConfigLoader) error {
	e := r.e
	if e.drv.Backups == nil {
		return &haltError{reason: ReasonPreconditionFail, msg: "a DB-less Y node needs the plan's backup (X's configuration) to load"}
	}
	m, err := e.drv.Backups.Latest(ctx)
	if err != nil || m == nil {
		return fmt.Errorf("find the declarative backup: %v", err)
	}
	// Only the file that was backed up and verified (size, SHA-256).
	conf, err := m.DeclarativeConfig()
	var refused *backup.RefusedError
	if errors.As(err, &refused) {
		return &haltError{reason: ReasonPreconditionFail, msg: "Y is not loaded: " + refused.Reason}
	}
	if err != nil {
		return err
	}
	// Kong answers 429 "Currently loading previous configuration" while a
	// reload is in progress: that is a wait, not a failure. go-kong does
	// not expose Retry-After, so Upshift waits a second between tries,
	// within the wait timeout.
	deadline := time.Now().Add(e.cfg.WaitTimeout)
	for {
		err := l.PostConfig(ctx, conf)
		var api *gokong.APIError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &api) && api.Code() == http.StatusTooManyRequests && time.Now().Before(deadline):
			e.progress(Progress{Step: r.step.name, Title: r.step.title, Phase: PhaseWait, Elapsed: time.Since(r.start),
				Remaining: time.Until(deadline).Round(time.Second), Index: r.idx, Total: r.total,
				Message: "Y is still loading a previous configuration (429); trying again in 1s"})
			if !sleepCtx(ctx, time.Second) {
				return fmt.Errorf("load backup %s into Y: %w", m.Name, context.Cause(ctx))
			}
		default:
			return fmt.Errorf("load backup %s into Y: %w", m.Name, err)
		}
	}
}

// waitUntil observes every PollInterval until cond holds, ctx ends, or
// WaitTimeout passes.
func (r *run) waitUntil(ctx context.Context, what string, cond func(Observed) (bool, string)) error {
	e := r.e
	deadline := time.Now().Add(e.cfg.WaitTimeout)
	lastReport := time.Time{}
	var why string
	for {
		o, err := e.drv.Observer.Observe(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		var ok bool
		if ok, why = cond(o); ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s: %s", e.cfg.WaitTimeout, what, why)
		}
		if time.Since(lastReport) >= time.Second {
			lastReport = time.Now()
			e.progress(Progress{Step: r.step.name, Title: r.step.title, Phase: PhaseWait, Elapsed: time.Since(r.start),
				Remaining: time.Until(deadline).Round(time.Second), Index: r.idx, Total: r.total, Message: "waiting for " + what + ": " + why})
		}
		if !sleepCtx(ctx, e.cfg.PollInterval) {
			return fmt.Errorf("waiting for %s: %w", what, context.Cause(ctx))
		}
	}
}

// waitNode waits until the node find picks is up at the plan's Y version
// and ready (up), or no longer answers (!up).
func (r *run) waitNode(ctx context.Context, label string, find func(Observed) *NodeFacts, up bool) error {
	want := r.e.plan.To.Version.Value
	if up {
		return r.waitUntil(ctx, label+" to be ready", func(o Observed) (bool, string) { return nodeAt(find(o), want) })
	}
	return r.waitUntil(ctx, label+" to stop", func(o Observed) (bool, string) {
		f := find(o)
		if f == nil || !f.Reachable {
			return true, ""
		}
		return false, "still answers"
	})
}

// waitAll waits until every node nodes picks is ready at version v.
func (r *run) waitAll(ctx context.Context, label string, nodes func(Observed) []*NodeFacts, v string) error {
	return r.waitUntil(ctx, label+" to be ready", func(o Observed) (bool, string) {
		for _, f := range nodes(o) {
			if ok, why := nodeAt(f, v); !ok {
				return false, label + nodeName(f) + ": " + why
			}
		}
		return true, ""
	})
}

// measure takes one measurement of g.
func (r *run) measure(ctx context.Context, g Gate) (GateResult, error) {
	defer track(ctx, "the measurement of "+g.Name(), 0)()
	res, err := g.Measure(ctx)
	if err != nil {
		return res, fmt.Errorf("measure %s: %w", g.Name(), err)
	}
	return res, nil
}

// pause waits d while measuring every analysis at its interval, and once
// more at the end; an analysis failing more than its Failures allow fails
// the pause (a gate failure). A measurement with no data (too little
// traffic in the window) is not counted: the analysis keeps measuring,
// the pause extending up to the analysis's max_window from its start, and
// one still without data then fails the pause or stalls the run
// (on_no_data). No data never passes. Each measurement is one journal
// event (EventMeasurement); comparisons get X's baseline read back from
// this run's earlier ones. The output's first line is the verdict with
// each analysis's last measurement.
func (r *run) pause(ctx context.Context, d time.Duration) (string, error) {
	e := r.e
	as := e.drv.Analyses
	if d <= 0 {
		// A step without a pause still gets one window to judge: the
		// longest interval (an empty window is no data, never a pass).
		for _, a := range as {
			d = max(d, a.Interval())
		}
	}
	for _, a := range as {
		if b, ok := a.(baselined); ok {
			b.SetBaseline(r.baseline(a))
		}
		if err := a.Begin(ctx); err != nil {
			e.log.Warn("analysis begin", "analysis", a.Name(), "err", err)
		}
	}
	begun := time.Now()
	end := begun.Add(d)
	last := make([]time.Time, len(as))
	fails := make([]int, len(as))
	lastRes := make([]GateResult, len(as))
	pending := make([]bool, len(as)) // the last measurement was no data and the window may still grow
	var lines []string
	limit := func(i int) time.Time { return begun.Add(max(d, as[i].Policy().MaxWindow)) }
	judge := func(i int) error {
		a := as[i]
		res, err := r.measure(ctx, a)
		if err != nil {
			return err
		}
		last[i], lastRes[i], pending[i] = time.Now(), res, false
		lines = append(lines, a.Name()+": "+res.String())
		if err := r.journalMeasurement(ctx, a, res); err != nil {
			return err
		}
		e.progress(Progress{Step: r.step.name, Title: r.step.title, Phase: PhaseInfo, Elapsed: time.Since(r.start), Index: r.idx, Total: r.total,
			Message: a.Name() + ": " + res.String()})
		if res.NoData || res.FromUnreadable {
			if time.Now().Before(limit(i)) {
				pending[i] = true
				return nil
			}
			if res.FromUnreadable {
				// Unknown is not Y's failure, and a rollback would send
				// the traffic to an X no one could read.
				return &haltError{reason: ReasonObservationFailed, msg: fmt.Sprintf("analysis %s could not read X in %s (the pause, extended up to max_window): %s; traffic stays as it is", a.Name(), time.Since(begun).Round(time.Millisecond), res.String())}
			}
			msg := fmt.Sprintf("analysis %s had no data in %s (the pause, extended up to max_window): %s", a.Name(), time.Since(begun).Round(time.Millisecond), res.String())
			if a.Policy().OnNoData == analysis.OnNoDataStall {
				return &haltError{reason: ReasonNoData, msg: msg + ` (on_no_data = "stall": traffic stays as it is until a person decides)`}
			}
			return &gateError{msg: msg}
		}
		if !res.OK() {
			fails[i]++
			if fails[i] > a.Failures() {
				return &gateError{msg: fmt.Sprintf("analysis %s failed %d times (tolerates %d): %s", a.Name(), fails[i], a.Failures(), res.String())}
			}
		}
		return nil
	}
	out := func(verdict string) string {
		return strings.Join(append([]string{verdict + r.lastText(as, lastRes)}, lines...), "\n")
	}
	for i := range as {
		last[i] = begun
	}
	// sleep waits until the next measurement is due, at most a second
	// (the progress line's rhythm), never past until.
	sleep := func(until time.Time, due func(int) bool) error {
		wait := min(time.Until(until), time.Second)
		for i, a := range as {
			if due(i) {
				wait = min(wait, time.Until(last[i].Add(a.Interval())))
			}
		}
		if !sleepCtx(ctx, max(wait, time.Millisecond)) {
			return fmt.Errorf("pause: %w", context.Cause(ctx))
		}
		return nil
	}
	always := func(int) bool { return true }
	// held moves the countdown by a hold's length (upshift pause): a
	// paused pause does not count down.
	held := func() error {
		d, err := r.hold(ctx)
		end, begun = end.Add(d), begun.Add(d)
		for i := range last {
			last[i] = last[i].Add(d)
		}
		return err
	}
	for {
		// A hold is seen before each measurement and at the end.
		if err := held(); err != nil {
			return out("aborted"), err
		}
		if !time.Now().Before(end) {
			break
		}
		e.progress(Progress{Step: r.step.name, Title: r.step.title, Phase: PhaseWait, Elapsed: time.Since(r.start),
			Remaining: time.Until(end).Round(time.Second), Index: r.idx, Total: r.total})
		if err := r.health(ctx); err != nil {
			return strings.Join(lines, "\n"), err
		}
		for i, a := range as {
			if time.Since(last[i]) >= a.Interval() {
				if err := judge(i); err != nil {
					return out("failed"), err
				}
			}
		}
		if !time.Now().Before(end) {
			continue
		}
		if err := sleep(end, always); err != nil {
			return out("interrupted"), err
		}
	}
	for i := range as {
		if err := judge(i); err != nil {
			return out("failed"), err
		}
	}
	// No data yet: the window grows up to max_window.
	isPending := func(i int) bool { return pending[i] }
	for slices.Contains(pending, true) {
		next := end
		for i := range as {
			if pending[i] {
				next = later(next, limit(i))
			}
		}
		e.progress(Progress{Step: r.step.name, Title: r.step.title, Phase: PhaseWait, Elapsed: time.Since(r.start),
			Remaining: time.Until(next).Round(time.Second), Index: r.idx, Total: r.total, Message: "no data yet: the window grows up to max_window"})
		if err := sleep(next, isPending); err != nil {
			return out("interrupted"), err
		}
		if err := held(); err != nil {
			return out("aborted"), err
		}
		// Y is probed while the window grows, as during the pause.
		if err := r.health(ctx); err != nil {
			return out("failed"), err
		}
		for i, a := range as {
			if pending[i] && (time.Since(last[i]) >= a.Interval() || !time.Now().Before(limit(i))) {
				if err := judge(i); err != nil {
					return out("failed"), err
				}
			}
		}
	}
	if len(as) == 0 {
		return fmt.Sprintf("no analysis: waited %s; nothing judged this pause", d), nil
	}
	return out("analyses passed"), nil
}

// hold waits while the run is paused (upshift pause) and says how long;
// an abort ends the wait (abortError). A journal that cannot be read
// here is logged and the pause goes on: the next step boundary reads it
// again and stops on it.
func (r *run) hold(ctx context.Context) (time.Duration, error) {
	if r.j == nil {
		return 0, nil
	}
	var since time.Time
	for {
		p, abort, err := r.e.controls(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return heldFor(since), fmt.Errorf("pause: %w", context.Cause(ctx))
			}
			r.e.log.Warn("read the journal's runtime controls during a pause", "plan", r.e.plan.Name, "err", err)
			return heldFor(since), nil
		}
		switch {
		case abort != "":
			return heldFor(since), &abortError{reason: abort}
		case p == nil:
			return heldFor(since), nil
		case since.IsZero():
			since = time.Now()
		}
		r.e.progress(Progress{Step: r.step.name, Title: r.step.title, Phase: PhaseWait, Elapsed: time.Since(r.start), Index: r.idx, Total: r.total,
			Message: controlText(*p) + ": the pause does not count down until upshift resume"})
		if !sleepCtx(ctx, time.Second) {
			return heldFor(since), fmt.Errorf("pause: %w", context.Cause(ctx))
		}
	}
}

func heldFor(since time.Time) time.Duration {
	if since.IsZero() {
		return 0
	}
	return time.Since(since)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// lastText is each analysis's last measurement, for the pause's line.
func (r *run) lastText(as []Analysis, res []GateResult) string {
	var parts []string
	for i, a := range as {
		if res[i].Outcome != "" {
			parts = append(parts, a.Name()+": "+res[i].String())
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; last: " + strings.Join(parts, " | ")
}

// baseline is X's baseline for a, from this run's measurement events.
func (r *run) baseline(a Analysis) analysis.Baseline {
	var ds []map[string]string
	for _, m := range r.state.h.measurements {
		if m.Details["analysis"] == a.Name() {
			ds = append(ds, m.Details)
		}
	}
	return analysis.BaselineFrom(ds, a.Policy().MinRequests)
}

// journalMeasurement records one measurement (EventMeasurement).
func (r *run) journalMeasurement(ctx context.Context, a Analysis, res GateResult) error {
	if r.j == nil {
		return nil
	}
	d := map[string]string{"step": r.step.name, "analysis": a.Name(), "result": string(res.Outcome), "value": res.Value, "reason": res.Reason}
	for k, v := range res.Details {
		d[k] = v
	}
	if _, err := r.j.Event(ctx, EventMeasurement, d); err != nil {
		return fmt.Errorf("journal a measurement of %s: %w", a.Name(), err)
	}
	return nil
}
