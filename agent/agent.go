package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/notify"
	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
)

// Snapshot is one commit of the plans repository: its plan files
// (repo-relative path → content) and who made it.
type Snapshot struct {
	Commit, Parent string
	Author         string
	Time           time.Time
	Message        string
	Files          map[string][]byte
	// Signature is the commit's raw gpgsig header ("" when unsigned) and
	// SignedPayload the commit encoded without it: what a signature covers.
	Signature     string
	SignedPayload []byte
}

// Source is the repository of plans (package agent/gitsource implements
// it over go-git). Poll lists the remote and fetches only when the head
// moved (changed false: the previous snapshot). FilesAt reads the plan
// files of an older commit (a removed plan's last content).
type Source interface {
	Poll(ctx context.Context) (Snapshot, bool, error)
	FilesAt(ctx context.Context, commit string) (map[string][]byte, error)
}

// Config is an agent.
type Config struct {
	Source   Source
	Store    engine.Store
	Interval time.Duration // between polls; default 30s
	Workers  int           // plans applied at once; default 4
	// Holder names this agent in leases and journal records.
	Holder    string
	LookupEnv func(string) (string, bool) // default os.LookupEnv
	Logger    *slog.Logger
	// Verify, when set, judges a head commit (signed-commit policy) and
	// names who signed it (shown by status); an error means the commit is
	// reported and ignored: the last accepted snapshot stays the desired
	// state.
	Verify func(Snapshot) (signer string, err error)
	// Engine adjusts each engine's Config before New (tests: drivers,
	// hooks, timeouts).
	Engine func(*engine.Config)
	Now    func() time.Time
	// StatusMaxAge is how old an observation the status serves before it
	// observes the plan's world again (default 1s): the status shows what
	// the load balancer routes and what the nodes answer, not a memory.
	StatusMaxAge time.Duration
	// Notify receives every plan's notifications on top of the plan's own
	// notify blocks: the agent's --notify-* receivers and commit statuses
	// (the caller closes it). Nil: none.
	Notify notify.Sink
	// WedgedAfter is how long a poll (fetch, verify, reconcile) may run
	// before /healthz reports the poll loop wedged (default 5m).
	WedgedAfter time.Duration
	// AdminToken enables the runtime controls (controls.go); "" refuses
	// them. Never logged.
	AdminToken string
	// Comments, when set, receives each plan's read-only preflight report
	// (notify.PreflightReport) once per plan content, for a comment on its
	// commit (preflight.go; the caller closes it). Nil: no preflight runs.
	Comments notify.Sink
}

// Agent drives a repository of plans: each poll that sees a new head
// commit turns the plan files into the desired state; each plan is
// applied by the engine in a bounded worker pool; a plan removed while in
// progress is rolled back, a completed one archived.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	sem     chan struct{}
	kick    chan struct{}
	metrics *metrics
	// bg bounds the status's background observations (stopAll ends it).
	bg       context.Context
	bgCancel context.CancelFunc
	obsWG    sync.WaitGroup

	mu        sync.Mutex
	head      Snapshot
	haveHead  bool
	lastPoll  time.Time
	polling   time.Time // when the poll under way started; zero between polls
	pollErr   string
	rejected  string // the last head commit Verify refused, and why
	refused   string // that commit, logged and counted once
	signer    string // who signed the head (Verify's verdict), "" unverified
	plans     map[string]*planState
	wg        sync.WaitGroup
	leader    string // "" unknown; set by SetRole
	isLeader  bool
	roleKnown bool

	notifyMu  sync.Mutex
	notifiers map[string]*planNotify // per plan: its notify blocks (notify.go)
	// pollReqSeq is the last standby poll request seen (the leader's).
	pollReqSeq int64
	// preflighted: per plan, the content whose preflight comment this
	// process has handled (a.mu); preflightSem bounds those running at once.
	preflighted  map[string]string
	preflightSem chan struct{}
}

// planState is what the agent knows of one plan.
type planState struct {
	Name      string
	File      string
	Cluster   string
	Strategy  string
	Plan      *plan.Plan
	Digest    string
	RunKey    string
	Commit    string
	Author    string
	Signer    string // who signed Commit, when the agent verifies signatures
	Removed   bool   // no longer in the repository
	Archived  bool   // removed after completing: never undone
	Invalid   string // lint errors: not acted on
	Waiting   string // depends_on not completed
	Rollback  string // removed while in progress: rolled back for this reason
	Running   bool
	Step      string // the step running now
	Condition engine.Condition
	Preview   *engine.Preview
	Updated   time.Time
	// Note is the running step's last progress message (a wait, a
	// gate's result); Splits the splits observed since the agent started,
	// one point per change (the status page's chart).
	Note       string
	Title      string // the running step's title
	Splits     []SplitPoint
	ObserveErr string

	observing    chan struct{} // closed when the observation under way ends; nil: none
	observeAgain bool          // observe again when it ends
	// Live is the last light observation (X's and Y's nodes and the load
	// balancer only: what the status shows every second).
	Live   *engine.Observed
	living chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
	// seenSeq is the journal's last record when the last apply began: a
	// runtime control after it wakes a plan left alone.
	seenSeq int64
}

// New builds an agent; it contacts nothing.
func New(cfg Config) (*Agent, error) {
	if cfg.Source == nil || cfg.Store == nil {
		return nil, errors.New("agent: a source and a journal store are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.LookupEnv == nil {
		cfg.LookupEnv = os.LookupEnv
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Holder == "" {
		h, _ := os.Hostname()
		cfg.Holder = fmt.Sprintf("agent %s/%d", h, os.Getpid())
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.StatusMaxAge <= 0 {
		cfg.StatusMaxAge = time.Second
	}
	if cfg.WedgedAfter <= 0 {
		cfg.WedgedAfter = 5 * time.Minute
	}
	bg, bgCancel := context.WithCancel(context.Background())
	return &Agent{cfg: cfg, log: log, sem: make(chan struct{}, cfg.Workers), kick: make(chan struct{}, 1),
		plans: map[string]*planState{}, notifiers: map[string]*planNotify{}, metrics: newMetrics(), bg: bg, bgCancel: bgCancel,
		preflighted: map[string]string{}, preflightSem: make(chan struct{}, 2)}, nil
}

// Trigger asks for a poll now (the webhook); it never blocks.
func (a *Agent) Trigger() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Run polls until ctx ends, then cancels the plans' applies (each records
// its current step) and waits for them.
func (a *Agent) Run(ctx context.Context) error {
	defer a.stopAll()
	backoff := a.cfg.Interval
	for {
		err := a.PollOnce(ctx)
		wait := a.cfg.Interval
		if err != nil && ctx.Err() == nil {
			// An unreachable remote: retry sooner at first, then back off
			// up to the interval's 4×; the last good commit stays desired.
			backoff = min(max(backoff*2, time.Second), 4*a.cfg.Interval)
			wait = backoff
		} else {
			backoff = a.cfg.Interval / 4
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-a.kick:
			t.Stop()
		}
	}
}

// PollOnce polls the source and reconciles every plan once.
func (a *Agent) PollOnce(ctx context.Context) error {
	start := a.cfg.Now()
	a.mu.Lock()
	a.polling = start
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.polling = time.Time{}
		a.mu.Unlock()
	}()
	snap, changed, err := a.cfg.Source.Poll(ctx)
	a.metrics.observePoll(time.Since(start), err)
	a.mu.Lock()
	a.lastPoll = a.cfg.Now()
	if err != nil {
		a.pollErr = err.Error()
		a.mu.Unlock()
		a.log.Warn("poll failed; the last good commit stays the desired state", "err", err)
		a.driveAll(ctx) // plans keep converging on the last good snapshot
		return err
	}
	a.pollErr = ""
	first := !a.haveHead
	a.mu.Unlock()
	if changed || first {
		var signer string
		if a.cfg.Verify != nil {
			var verr error
			if signer, verr = a.cfg.Verify(snap); verr != nil {
				a.mu.Lock()
				again := a.refused == snap.Commit
				a.rejected, a.refused = fmt.Sprintf("%s: %v", snap.Commit, verr), snap.Commit
				a.mu.Unlock()
				// Until a person pushes another commit, every poll
				// judges this one again: say it once.
				if !again {
					a.metrics.refusedCommits.Add(1)
					a.log.Warn("head commit refused: ignored", "commit", snap.Commit, "author", snap.Author, "err", verr)
				}
				a.driveAll(ctx)
				return nil
			}
		}
		a.mu.Lock()
		a.head, a.haveHead, a.rejected, a.refused, a.signer = snap, true, "", "", signer
		a.mu.Unlock()
		a.metrics.setHead(snap.Commit)
		a.reconcile(ctx, snap)
	}
	a.driveAll(ctx)
	return nil
}

// parsed is the desired state of one snapshot.
type parsed struct {
	plans   map[string]*plan.Plan
	invalid map[string]string // plan name (or file) → lint errors
	files   map[string]string // plan name → file
}

// parse turns a snapshot's files into plans, linting them together; a file
// with errors makes its plans invalid, without stopping the others.
func parse(files map[string][]byte) parsed {
	out := parsed{plans: map[string]*plan.Plan{}, invalid: map[string]string{}, files: map[string]string{}}
	p := plan.NewParser()
	set := &plan.Set{}
	bad := map[string][]string{}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ps, diags := p.LoadSource(name, files[name])
		for _, d := range diags {
			if d.Severity == hcl.DiagError {
				bad[name] = append(bad[name], diagString(d))
			}
		}
		set.Plans = append(set.Plans, ps...)
		set.Files = append(set.Files, name)
	}
	for _, d := range schema.Lint(set, schema.Options{}) {
		if schema.SeverityOf(d) == schema.SeverityError && d.Subject != nil {
			bad[d.Subject.Filename] = append(bad[d.Subject.Filename], diagString(d))
		}
	}
	for _, pl := range set.Plans {
		file := pl.DeclRange.Filename
		out.files[pl.Name] = file
		if errs := bad[file]; len(errs) > 0 {
			out.invalid[pl.Name] = strings.Join(errs, "; ")
			continue
		}
		out.plans[pl.Name] = pl
	}
	for file, errs := range bad {
		found := false
		for _, f := range out.files {
			found = found || f == file
		}
		if !found {
			out.invalid[file] = strings.Join(errs, "; ")
		}
	}
	return out
}

func diagString(d *hcl.Diagnostic) string {
	s := d.Summary
	if d.Subject != nil {
		s = fmt.Sprintf("%s:%d:%d: %s", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, d.Summary)
	}
	if id := schema.RuleID(d); id != "" {
		s += " (" + id + ")"
	}
	return s
}

// reconcile updates the desired state from snap.
func (a *Agent) reconcile(ctx context.Context, snap Snapshot) {
	want := parse(snap.Files)
	known, err := a.cfg.Store.Plans(ctx)
	if err != nil {
		a.log.Warn("list the journal's plans", "err", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for name, reason := range want.invalid {
		st := a.state(name)
		st.Invalid, st.File = reason, want.files[name]
		st.Condition = engine.Condition{Type: engine.ConditionStalled, Reason: "Invalid", Message: reason}
		st.Updated = a.cfg.Now()
	}
	for name, p := range want.plans {
		st := a.state(name)
		digest := engine.Digest(p)
		firstSight := st.Plan == nil && !st.Removed
		reintroduced := st.Removed || st.Plan == nil
		changed := st.Digest != digest
		st.Plan, st.File, st.Invalid, st.Removed, st.Archived, st.Rollback = p, want.files[name], "", false, false, ""
		st.Cluster, st.Strategy = p.Cluster.Value, p.Strategy.Value
		if changed || reintroduced {
			st.Digest = digest
			st.Commit, st.Author, st.Signer = snap.Commit, snap.Author, a.signer // reconcile holds a.mu; snap is the head
			st.RunKey = a.runKey(ctx, name, digest, snap.Commit, firstSight)
			st.Updated = time.Time{} // a changed plan is applied again
			if st.Running && st.cancel != nil {
				st.cancel() // the plan changed under a running apply: restart on the new state
			}
		}
		a.preflightAt(ctx, p, st.Digest, st.Commit)
	}
	// Removed plans: those we knew and those the journal knows.
	for _, name := range known {
		if name == PollRequests {
			continue
		}
		if _, ok := want.plans[name]; !ok {
			if _, inv := want.invalid[name]; !inv {
				a.state(name)
			}
		}
	}
	for name, st := range a.plans {
		if _, ok := want.plans[name]; ok {
			continue
		}
		if _, ok := want.invalid[name]; ok {
			continue
		}
		if st.Removed {
			continue
		}
		info, err := engine.ReadRun(ctx, a.cfg.Store, name)
		if err != nil {
			// Unknown is not "nothing to undo": the removal is looked at
			// again on the next poll, and an apply this agent runs for the
			// plan stops (the removal asks for a rollback, not more steps).
			a.log.Warn("read the journal of a removed plan", "plan", name, "err", err)
			st.Condition = engine.Condition{Type: engine.ConditionStalled, Reason: engine.ReasonObservationFailed,
				Message: "removed from the repository, but its journal cannot be read (" + err.Error() + "): whether a rollback is needed is decided on the next poll"}
			if st.Running && st.cancel != nil {
				st.cancel()
			}
			continue
		}
		st.Removed = true
		switch {
		case info.InProgress():
			st.Rollback = fmt.Sprintf("plan removed in commit %s by %s", short(snap.Commit), snap.Author)
			if st.Plan == nil && snap.Parent != "" {
				st.Plan = a.planAt(ctx, snap.Parent, name)
			}
			st.Updated = time.Time{}
			if st.Running && st.cancel != nil {
				st.cancel()
			}
			a.metrics.rollbacks.Add(1)
		case info.RolledBack:
			// Also after a restart: the journal, not this process, knows
			// that the run was rolled back.
			st.Condition = engine.Condition{Type: engine.ConditionReady, Reason: engine.ReasonRolledBack,
				Message: "rolled back (from the journal); removed from the repository"}
		case info.Completed:
			st.Archived = true
			st.Condition = engine.Condition{Type: engine.ConditionReady, Reason: "Archived", Message: "removed after it completed: archived, never undone"}
			a.archive(ctx, name, snap)
		default:
			st.Condition = engine.Condition{Type: engine.ConditionReady, Reason: "Removed", Message: "removed from the repository"}
		}
	}
}

// runKey keeps the journal's run key when it is for this content (an
// agent restart), else names the commit that (re)introduced it.
func (a *Agent) runKey(ctx context.Context, name, digest, commit string, firstSight bool) string {
	if firstSight {
		if info, err := engine.ReadRun(ctx, a.cfg.Store, name); err == nil && strings.HasPrefix(info.Key, digest+"@") {
			return info.Key
		}
	}
	return digest + "@" + short(commit)
}

func short(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// planAt reads plan name from an older commit (a removed plan's last form).
func (a *Agent) planAt(ctx context.Context, commit, name string) *plan.Plan {
	files, err := a.cfg.Source.FilesAt(ctx, commit)
	if err != nil {
		a.log.Warn("read a removed plan's last commit", "plan", name, "commit", commit, "err", err)
		return nil
	}
	return parse(files).plans[name]
}

// archive records that a completed plan left the repository.
func (a *Agent) archive(ctx context.Context, name string, snap Snapshot) {
	_, err := a.cfg.Store.Append(ctx, engine.Record{Plan: name, Kind: engine.KindEvent, Event: "archived",
		Commit: snap.Commit, Author: snap.Author, Actor: engine.Actor{Agent: a.cfg.Holder},
		Details: map[string]string{"reason": "removed from the repository after it completed"}})
	if err != nil {
		a.log.Warn("record the archive of a plan", "plan", name, "err", err)
	}
}

func (a *Agent) state(name string) *planState {
	st := a.plans[name]
	if st == nil {
		st = &planState{Name: name}
		a.plans[name] = st
	}
	return st
}

// driveAll starts an apply for every plan that may act and is not running.
func (a *Agent) driveAll(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	for _, st := range a.plans {
		if st.Running || st.Plan == nil || st.Invalid != "" || st.Archived || (st.Removed && st.Rollback == "") {
			continue
		}
		if !a.needsApply(st) && !a.controlled(ctx, st) {
			continue
		}
		if w := a.waitingOn(ctx, st); w != "" {
			st.Waiting = w
			st.Condition = engine.Condition{Type: engine.ConditionProgressing, Reason: "Waiting", Message: w}
			continue
		}
		st.Waiting = ""
		a.start(ctx, st)
	}
}

// needsApply: conditions a new commit must change are left alone.
func (a *Agent) needsApply(st *planState) bool {
	switch st.Condition.Reason {
	case engine.ReasonAwaitingApproval, engine.ReasonGateFailed, engine.ReasonRestoreNeeded,
		engine.ReasonDriftDetected, engine.ReasonPreconditionFail, engine.ReasonConverged, engine.ReasonRolledBack, engine.ReasonPaused:
		return st.Updated.IsZero() // after a plan change Updated is reset
	}
	return true
}

// waitingOn says which depends_on plan has not completed ("" none).
func (a *Agent) waitingOn(ctx context.Context, st *planState) string {
	for _, d := range st.Plan.DependsOn {
		info, err := engine.ReadRun(ctx, a.cfg.Store, d.Value)
		if err != nil {
			return fmt.Sprintf("waiting for %s: %v", d.Value, err)
		}
		if !info.Completed {
			if dep := a.plans[d.Value]; dep != nil && dep.Archived {
				continue
			}
			return "waiting for " + d.Value + " to complete (depends_on)"
		}
	}
	return ""
}

// start runs one apply of st in the worker pool.
func (a *Agent) start(ctx context.Context, st *planState) {
	pctx, cancel := context.WithCancel(ctx)
	st.Running, st.cancel, st.done = true, cancel, make(chan struct{})
	p, runKey, rollback, commit, author := st.Plan, st.RunKey, st.Rollback, st.Commit, st.Author
	name := st.Name
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(st.done)
		defer cancel()
		select {
		case a.sem <- struct{}{}:
		case <-pctx.Done():
			a.finish(name, engine.Condition{Type: engine.ConditionProgressing, Reason: engine.ReasonInterrupted, Message: "cancelled before it started"}, nil)
			return
		}
		defer func() { <-a.sem }()
		// A runtime control journaled after this read wakes the plan
		// again if the apply leaves it alone (controlled).
		seen := int64(0)
		if info, err := engine.ReadRun(pctx, a.cfg.Store, name); err == nil {
			seen = info.LastSeq
		}
		cond, pv := a.apply(pctx, p, runKey, rollback, commit, author)
		a.finish(name, cond, pv)
		a.mu.Lock()
		st.seenSeq = seen
		a.mu.Unlock()
	}()
}

// engineConfig is the engine's configuration for p, for an apply and for
// the status's observations alike.
func (a *Agent) engineConfig(p *plan.Plan, runKey, rollback, commit, author string) engine.Config {
	cfg := engine.Config{Plan: p, LookupEnv: a.cfg.LookupEnv, Store: a.cfg.Store, Holder: a.cfg.Holder, AgentID: a.cfg.Holder,
		Commit: commit, Author: author, RunKey: runKey, Rollback: rollback, Logger: a.log}
	if a.cfg.Engine != nil {
		a.cfg.Engine(&cfg)
	}
	return cfg
}

func (a *Agent) apply(ctx context.Context, p *plan.Plan, runKey, rollback, commit, author string) (engine.Condition, *engine.Preview) {
	cfg := a.engineConfig(p, runKey, rollback, commit, author)
	cfg.Progress = func(pr engine.Progress) { a.progress(p.Name, pr) }
	cfg.Notify = a.sinkFor(p)
	e, err := engine.New(cfg)
	if err != nil {
		return engine.Condition{Type: engine.ConditionStalled, Reason: "EngineError", Message: err.Error()}, nil
	}
	out, err := e.Apply(ctx)
	cond := out.Condition
	if err != nil {
		reason := "ApplyError"
		switch {
		case errors.Is(err, engine.ErrLeaseHeld):
			reason = "LeaseHeld"
		case errors.Is(err, engine.ErrClusterBusy):
			reason = "ClusterBusy" // another plan of the cluster has an unfinished run: tried again next pass
		}
		cond = engine.Condition{Type: engine.ConditionStalled, Reason: reason, Message: err.Error()}
	}
	for _, t := range out.Timing {
		a.metrics.observeStep(t.Step, t.Wall)
	}
	if cond.Reason == engine.ReasonStepFailed || cond.Reason == engine.ReasonGateFailed {
		a.metrics.failures.Add(1)
	}
	if cond.Reason == engine.ReasonGateFailed {
		a.metrics.rollbacks.Add(1)
	}
	pv, perr := e.Preview(context.WithoutCancel(ctx))
	if perr != nil {
		a.log.Warn("preview after apply", "plan", p.Name, "err", perr)
	}
	return cond, pv
}

func (a *Agent) progress(name string, pr engine.Progress) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if st := a.plans[name]; st != nil && pr.Step != "" { // "": the run's news (a rollback begins)
		st.Step = pr.Step // the engine logs the report itself
		switch pr.Phase {
		case engine.PhaseStart:
			st.Note, st.Title = "", pr.Title
			a.observeLive(st) // the step's starting point, for the status
		case engine.PhaseDone, engine.PhaseFailed:
			st.Note = pr.Message
			a.observe(st) // what the step changed
		default:
			if pr.Message != "" {
				st.Note = pr.Message
			}
		}
	}
}

func (a *Agent) finish(name string, cond engine.Condition, pv *engine.Preview) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.plans[name]
	if st == nil {
		return
	}
	st.Running, st.Step, st.Note, st.cancel = false, "", "", nil
	if cond.Reason == engine.ReasonInterrupted {
		// Restarted by a plan change or stopping: not a state to keep;
		// poll again now so that the new state is applied at once.
		st.Updated = time.Time{}
		a.Trigger()
		return
	}
	st.Condition, st.Updated = cond, a.cfg.Now()
	if pv != nil {
		a.setPreview(st, pv)
	}
	if cond.Reason == engine.ReasonRolledBack && st.Removed {
		st.Rollback = "" // done: nothing more to drive
	}
}

// stopAll cancels every running apply and waits for them.
func (a *Agent) stopAll() {
	a.mu.Lock()
	for _, st := range a.plans {
		if st.cancel != nil {
			st.cancel()
		}
	}
	a.mu.Unlock()
	a.wg.Wait()
	a.closeNotifiers()
	a.bgCancel()
	a.obsWG.Wait()
}

// Wait waits for the running applies (tests).
func (a *Agent) Wait() { a.wg.Wait() }
