package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/plan"
)

// A step of a strategy's table (architecture.md, "Reconcile"). The engine
// runs the first step that is not done, then observes again.
type step struct {
	name, title string
	// done reads the observation and the journal's current run; the
	// string says why (shown by plan).
	done func(s *state) (bool, string)
	// apply acts. It returns what its commands printed (for the journal)
	// and details later decisions read back (a backup's name, a
	// fingerprint). An error of type *gateError is a failed gate, of type
	// *haltError stops without retrying.
	apply func(ctx context.Context, r *run) (string, map[string]string, error)

	reversible bool
	undo       string
	noReturn   bool   // a point of no return
	approve    string // the consent item it needs
	guarded    bool   // the drift guard runs before it
	// check, when set, must pass before apply (read from the
	// observation); it blocks the step with a reason otherwise.
	check func(s *state) string
	// doubt, when set, is asked before done: non-nil when the observation
	// cannot tell whether the step is done (a part it needs could not be
	// read), or shows a fault that must not count as progress (a side
	// that went down on its own, a migration that may have half
	// committed). The step is then neither done nor run: the plan stalls
	// with the reason. So done is done / not done / unknown.
	doubt func(s *state) *unsure
}

// unsure is why a step can neither count as done nor run.
type unsure struct {
	reason, msg string
	wait        bool // a later observation may clear it (Apply waits, up to WaitTimeout)
}

// unreadable is the stall for a part of the observation that could not be
// read.
func unreadable(what, err string) *unsure {
	return &unsure{reason: ReasonObservationFailed, msg: what + " cannot be read (" + err + "): nothing is done on doubt", wait: true}
}

// trafficUnread: the load balancer's split could not be read (nil when
// the plan has no load balancer or it was read).
func trafficUnread(s *state) *unsure {
	if t := s.obs.Traffic; t != nil && t.Error != "" {
		return unreadable("the load balancer's traffic split", t.Error)
	}
	return nil
}

// state is what done and check read.
type state struct {
	obs Observed
	h   *history
	p   *plan.Plan
	to  kongrelease.Version
}

// gateError is a failed check or analysis.
type gateError struct{ msg string }

func (e *gateError) Error() string { return e.msg }

// haltError stops the plan (Stalled with reason) without a retry.
type haltError struct {
	reason string
	msg    string
}

func (e *haltError) Error() string { return e.msg }

// table returns the steps of the plan's strategy, in order.
func (e *Engine) table() []step {
	p := e.plan
	var t []step
	t = append(t, e.stepGuard())
	if p.Freeze != nil && p.Freeze.Start.Given() {
		t = append(t, e.stepHook("freeze", "freeze admin writes (freeze.start)", p.Freeze.Start.Args))
	}
	t = append(t, e.stepBackup())
	if e.rehearseWanted() {
		t = append(t, e.stepRehearse()) // rehearse.go
	}
	switch p.Strategy.Value {
	case "dual_cluster":
		t = append(t, e.stepRestore(), e.stepMigrations("up", e.drv.ToDSN, false), e.stepMigrations("finish", e.drv.ToDSN, false),
			e.stepStart())
		t = append(t, e.stepChecks())
		t = append(t, e.rolloutSteps()...)
		t = append(t, e.stepUnfreeze()...)
		t = append(t, e.stepDecommission())
	case "blue_green":
		t = append(t, e.stepMigrations("up", e.drv.FromDSN, false), e.stepStart(), e.stepChecks())
		t = append(t, e.rolloutSteps()...)
		t = append(t, e.stepStopFrom(false), e.stepMigrations("finish", e.drv.FromDSN, true))
		t = append(t, e.stepUnfreeze()...)
		t = append(t, e.stepDecommission())
	case "in_place":
		t = append(t, e.stepStopFrom(true), e.stepMigrations("up", e.drv.FromDSN, false),
			e.stepMigrations("finish", e.drv.FromDSN, false), e.stepStart(), e.stepChecks())
		t = append(t, e.stepUnfreeze()...)
		t = append(t, e.stepDecommission())
	case "rolling":
		for _, n := range p.To.Nodes {
			t = append(t, e.stepStartNode(n))
		}
		if len(p.To.Nodes) == 0 {
			t = append(t, e.stepStart())
		}
		t = append(t, e.stepChecks())
		t = append(t, e.rolloutSteps()...)
		t = append(t, e.stepUnfreeze()...)
		t = append(t, e.stepDecommission())
	}
	return e.withPreflight(t) // preflight_step.go
}

func (e *Engine) stepGuard() step {
	return step{
		name: "guard", title: "check that X is as the plan says and nothing is half done",
		done: func(s *state) (bool, string) {
			if s.h.done("guard") {
				return true, "checked at the start of this run"
			}
			return false, ""
		},
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			r.state.obs.ToConfig = e.drv.Observer.ReadToConfig(ctx)
			msgs := append(guardProblems(r.state), e.analysisInputs(ctx, false)...) // inputs.go
			if len(msgs) > 0 {
				return "", nil, &haltError{reason: ReasonPreconditionFail, msg: strings.Join(msgs, "; ")}
			}
			return "X observed at " + e.plan.From.Version.Value + ", database clean", nil, nil
		},
	}
}

// guardProblems lists what makes the world unfit to start the upgrade.
func guardProblems(s *state) []string {
	var out []string
	o := s.obs
	want := s.p.From.Version.Value
	side := func(name string, f *NodeFacts) {
		switch {
		case f == nil:
		case !f.Reachable:
			out = append(out, fmt.Sprintf("X%s %s", name, f.unreadable()))
		case f.Version != want:
			out = append(out, fmt.Sprintf("X%s runs Kong %s, the plan says from.version = %q", name, f.Version, want))
		}
	}
	side("", o.From)
	for i := range o.FromNodes {
		side(" node "+o.FromNodes[i].Name, &o.FromNodes[i])
	}
	if cp := o.ControlPlane; cp != nil && s.p.ControlPlane != nil {
		if msg := controlPlaneProblem(*cp, s.p.ControlPlane.Version.Value, s.p.To.Version.Value); msg != "" {
			out = append(out, msg)
		}
	}
	if db := o.FromDatabase; db != nil {
		switch {
		case db.Error != "":
			out = append(out, "X's database cannot be read: "+db.Error)
		case db.NeedsBootstrap:
			out = append(out, "X's database is not bootstrapped")
		case db.ForFrom != nil && len(db.ForFrom.Pending) > 0:
			out = append(out, fmt.Sprintf("X's database has pending migrations left by an earlier upgrade (%s): finish that upgrade first (kong migrations finish with X's version)", migList(db.ForFrom.Pending)))
		case db.ForFrom != nil && len(db.ForFrom.New) > 0:
			out = append(out, fmt.Sprintf("X's database is missing migrations of %s (%s)", want, migList(db.ForFrom.New)))
		}
		for _, l := range db.Locks {
			if l.Key == "migrations" && !l.Expired {
				out = append(out, fmt.Sprintf("a migrations lock is held on X's database by %s until %s", l.Owner, l.TTL.Format(time.RFC3339)))
			}
		}
	}
	return append(out, guardYProblems(s)...)
}

// controlPlaneProblem: a hybrid_dp plan's control plane must answer and
// accept Y's data planes (kongrelease.DataPlaneAccepted, Kong's own rule).
// A control plane on another version than the plan says, which still
// accepts Y, is no problem: only acceptance matters to the data planes.
func controlPlaneProblem(cp NodeFacts, planned, to string) string {
	if !cp.Reachable {
		return "the control plane " + cp.unreadable()
	}
	cpv, err1 := kongrelease.Parse(cp.Version)
	tv, err2 := kongrelease.Parse(to)
	if err1 != nil || err2 != nil {
		return ""
	}
	if ok, reason := kongrelease.DataPlaneAccepted(cpv, tv); !ok {
		return fmt.Sprintf("the control plane runs Kong %s (the plan says control_plane.version = %q) and would refuse Y's data planes: %s; upgrade the control plane first",
			cp.Version, planned, reason)
	}
	return ""
}

func migList(m map[string][]string) string {
	var parts []string
	for sub, names := range m {
		parts = append(parts, sub+": "+strings.Join(names, ","))
	}
	return strings.Join(sortedStrings(parts), "; ")
}

func (e *Engine) stepHook(name, title string, argv []string) step {
	return step{
		name: name, title: title,
		done: func(s *state) (bool, string) {
			if s.h.done(name) {
				return true, "ran in this run"
			}
			return false, ""
		},
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			out, err := r.hook(ctx, argv)
			return out, nil, err
		},
	}
}

func (e *Engine) stepUnfreeze() []step {
	p := e.plan
	if p.Freeze == nil || !p.Freeze.End.Given() {
		return nil
	}
	return []step{e.stepHook("unfreeze", "reopen admin writes (freeze.end)", p.Freeze.End.Args)}
}

// verifyWanted: the plan asks for a test restore of its backups.
func (e *Engine) verifyWanted() bool {
	b := e.plan.Backup
	return b != nil && (!b.Verify.Set || b.Verify.Value)
}

func (e *Engine) stepBackup() step {
	return step{
		name: "backup", title: "back up X and verify the backup",
		// A backup taken again would become the run's baseline and
		// restore point, after migrations may have changed X's database.
		doubt: func(s *state) *unsure {
			name := s.h.detail("backup", "backup")
			b := s.obs.Backup
			switch {
			case name == "":
				return nil
			case b != nil && b.Error != "":
				return unreadable("the backup directory", b.Error)
			case (b == nil || !b.Present || b.Name != name) && s.h.pastBackup():
				// Another backup now would move the run's restore point
				// and baseline, and make restore run again on a Y that
				// may already serve.
				return &unsure{reason: ReasonPreconditionFail, msg: fmt.Sprintf(
					"this run's backup %s is no longer the newest in backup.dir, and steps after it ran: Upshift does not take another one mid-run. Put it back (or backup.dir back as it was), or roll back", name)}
			}
			return nil
		},
		done: func(s *state) (bool, string) {
			name := s.h.detail("backup", "backup")
			if name == "" {
				return false, ""
			}
			b := s.obs.Backup
			if b == nil || !b.Present || b.Name != name {
				return false, fmt.Sprintf("backup %s of this run is no longer the newest", name)
			}
			return true, "backup " + name
		},
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			if e.drv.Backups == nil {
				return "", nil, &haltError{reason: ReasonPreconditionFail, msg: "the plan has no backup block"}
			}
			m, err := e.drv.Backups.Backup(ctx)
			if err != nil {
				return "", nil, fmt.Errorf("back up X: %w", err)
			}
			// Both kinds: a test restore (pg_dump) or decK's validation and
			// X's fingerprint now (declarative, backup.VerifyDeclarative).
			if e.verifyWanted() {
				if err := m.Usable(); err != nil {
					return "", nil, &haltError{reason: ReasonPreconditionFail, msg: "the backup cannot be restored, so nothing more is done: " + err.Error()}
				}
			}
			d := map[string]string{"backup": m.Name, "fingerprint": m.Fingerprint.Hash, "counts": countsString(m.Fingerprint.Counts)}
			return fmt.Sprintf("backup %s (%s, %d bytes, %d entities)", m.Name, m.Kind, m.Size, m.Fingerprint.Entities()), d, nil
		},
	}
}

func (e *Engine) stepRestore() step {
	return step{
		name: "restore", title: "restore the backup into Y's database", reversible: true,
		undo: "Y's database is kept (the plan owns it; the next run restores into it again)",
		doubt: func(s *state) *unsure {
			db := s.obs.ToDatabase
			switch {
			case db == nil:
				return &unsure{reason: ReasonObservationFailed, msg: "Y's database is not observed"}
			case db.Error != "":
				return unreadable("Y's database", db.Error)
			case s.h.detail("restore", "backup") != "" && s.h.detail("restore", "backup") == s.h.detail("backup", "backup") && !db.NeedsBootstrap:
				return nil // done
			}
			return trafficUnread(s)
		},
		done: func(s *state) (bool, string) {
			got, want := s.h.detail("restore", "backup"), s.h.detail("backup", "backup")
			if got == "" || got != want || s.obs.ToDatabase.NeedsBootstrap {
				return false, ""
			}
			return true, "Y's database holds backup " + got
		},
		check: restoreEvidence,
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			m, err := e.drv.Backups.Latest(ctx)
			if err != nil || m == nil {
				return "", nil, fmt.Errorf("find the backup to restore: %v", err)
			}
			if m.Name != r.state.h.detail("backup", "backup") {
				return "", nil, fmt.Errorf("the newest backup is %s, not this run's %s", m.Name, r.state.h.detail("backup", "backup"))
			}
			res, err := e.drv.Backups.Restore(ctx, m, e.drv.ToDSN, false)
			if err != nil {
				return "", nil, fmt.Errorf("restore %s into Y's database: %w", m.Name, err)
			}
			return fmt.Sprintf("%s: %s", res.Action, res.Database), map[string]string{"backup": m.Name}, nil
		},
	}
}

// stepMigrations runs `kong migrations up` or `finish` with Y's CLI on
// the database at dsn.
func (e *Engine) stepMigrations(cmd, dsn string, finishNoReturn bool) step {
	name := "migrations_" + cmd
	shared := e.drv.ToDSN == ""
	where := "Y's database"
	if shared {
		where = "the shared database"
	}
	st := step{
		name:  name,
		title: fmt.Sprintf("kong migrations %s on %s (Kong %s)", cmd, where, e.plan.To.Version.Value),
		done: func(s *state) (bool, string) {
			db := s.obs.ToDatabase
			if shared {
				db = s.obs.FromDatabase
			}
			if db == nil || db.Error != "" || db.ForTo == nil {
				return false, ""
			}
			if len(db.ForTo.New) > 0 || db.NeedsBootstrap {
				return false, fmt.Sprintf("new migrations for %s: %s", db.ForTo.Version, migList(db.ForTo.New))
			}
			if cmd == "finish" && len(db.ForTo.Pending) > 0 {
				return false, "pending migrations: " + migList(db.ForTo.Pending)
			}
			if cmd == "up" {
				return true, "no new migrations for " + db.ForTo.Version
			}
			return true, "no pending migrations for " + db.ForTo.Version
		},
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			out, err := r.kongMigrations(ctx, cmd, dsn)
			if err != nil {
				return out, nil, err
			}
			d := map[string]string{}
			if shared {
				// X's own configuration changed form (a migration may
				// rewrite plugin configs): the drift guard's baseline
				// moves to what the database holds now.
				if fp, err := e.drv.Observer.Fingerprint.Fingerprint(ctx); err == nil {
					d["fingerprint"], d["counts"] = fp.Hash, countsString(fp.Counts)
				}
			}
			return out, d, nil
		},
	}
	st.doubt = func(s *state) *unsure {
		db := s.obs.ToDatabase
		if shared {
			db = s.obs.FromDatabase
		}
		if db == nil {
			return nil
		}
		if db.Error != "" {
			return unreadable(where, db.Error)
		}
		if ok, _ := st.done(s); ok {
			return nil
		}
		if !shared || finishNoReturn {
			// Y's own database before Y serves; finish after traffic left X.
			if sd := trafficUnread(s); sd != nil {
				return sd
			}
		}
		return migrationDoubt(s, name, cmd, where, db)
	}
	switch {
	case finishNoReturn:
		st.noReturn, st.approve, st.guarded = true, "finish", true
		st.check = func(s *state) string {
			if f := s.obs.From; f != nil && f.Reachable {
				return "X still answers on its Admin API: finish would break an old node that may still take traffic"
			}
			if f := s.obs.From; f != nil && hung(f) {
				return "X does not answer but its address does not refuse connections (" + f.Error + "): it may hang rather than have stopped, and finish would break it"
			}
			if t := s.obs.Traffic; t != nil && t.From != 0 {
				return fmt.Sprintf("X still gets %d%% of traffic", t.From)
			}
			return ""
		}
	case cmd == "up" && e.plan.Strategy.Value == "in_place":
		// X's database changes form; only a restore goes back.
		st.noReturn, st.guarded = true, true
		st.check = func(s *state) string {
			for _, f := range xNodes(s.obs) {
				if f.Reachable && f.Version == e.plan.From.Version.Value {
					return "X" + nodeName(f) + " still answers (Kong " + f.Version + "): migrations would change the database it serves from"
				}
				if hung(f) {
					return "X" + nodeName(f) + " does not answer but its address does not refuse connections (" + f.Error + "): it may hang rather than have stopped, and migrations would change the database it serves from"
				}
			}
			return ""
		}
	case !shared:
		st.check = func(s *state) string {
			if t := s.obs.Traffic; t != nil && t.To != 0 {
				return fmt.Sprintf("Y gets %d%% of traffic: migrations would change the database it serves from", t.To)
			}
			return ""
		}
	}
	if !shared {
		st.reversible, st.undo = true, "Y's database is kept; X's is untouched"
	}
	return st
}

// recoverMigrationsBaseline closes a shared-database migrations intent
// left by a crash between the action and its outcome, which is where the
// drift guard's new baseline is recorded: without it the resumed run
// compares the migrated configuration with the pre-migration baseline and
// stalls on a drift nobody made. The outcome is written (with the live
// fingerprint as the baseline) only on evidence: schema_meta shows the
// step's effect (its done), and the live fingerprint has exactly the
// baseline's entity counts (a migration rewrites entities, it adds or
// removes none). Otherwise nothing is written, and the guard reports the
// drift. Not told apart: an admin write that only changed an existing
// entity while the step ran.
func (e *Engine) recoverMigrationsBaseline(ctx context.Context, j *Journal, s *state) (bool, error) {
	p := s.h.pending
	if p == nil || e.drv.ToDSN != "" || (p.Step != "migrations_up" && p.Step != "migrations_finish") {
		return false, nil
	}
	var st *step
	for _, t := range e.table() {
		if t.name == p.Step {
			st = &t
			break
		}
	}
	fp := s.obs.Fingerprint
	if st == nil || fp == nil || fp.Error != "" {
		return false, nil
	}
	ok, why := st.done(s)
	if !ok {
		return false, nil
	}
	var counts string
	var baseSeq int64
	for _, r := range s.h.ok {
		if r.Details["fingerprint"] != "" && r.Seq > baseSeq {
			counts, baseSeq = r.Details["counts"], r.Seq
		}
	}
	if baseSeq == 0 || counts != countsString(fp.Counts) {
		return false, nil
	}
	_, err := j.OutcomeDetails(ctx, *p, ResultOK, nil, "observed done after a crash: "+why+"; drift baseline taken from the database (entity counts unchanged)", 0,
		map[string]string{"fingerprint": fp.Hash, "counts": countsString(fp.Counts), "recovered": "true"})
	return err == nil, err
}

func (e *Engine) stepStart() step {
	// Titles name only the hooks the plan has.
	title, undo := "start Y (to.start) and wait until it is ready", "stop Y (to.stop)"
	if !e.plan.To.Start.Given() {
		title = "wait until Y is ready (the plan has no to.start: Y is started outside Upshift)"
	}
	if !e.plan.To.Stop.Given() {
		undo = "stop Y by hand (the plan has no to.stop)"
	}
	return step{
		name: "start_to", title: title, reversible: true, undo: undo,
		done: func(s *state) (bool, string) {
			if ok, why := nodeAt(s.obs.To, s.p.To.Version.Value); !ok {
				return ok, why + hookGone(s, "start_to", s.obs.To, "to.start", e.plan.To.Start.Args)
			}
			return e.toDataPlaneServes(s.obs)
		},
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			if err := yDownUnderTraffic(r.state, r.state.obs.To); err != nil {
				return "", nil, err
			}
			var out string
			if e.plan.To.Start.Given() {
				o, err := r.hook(ctx, e.plan.To.Start.Args)
				out = o
				if err != nil {
					return out, nil, err
				}
			}
			if l := e.drv.ConfigLoaders[""]; l != nil {
				if err := r.loadConfig(ctx, l); err != nil {
					return out, nil, err
				}
			}
			if err := r.waitNode(ctx, "Y", func(o Observed) *NodeFacts { return o.To }, true); err != nil {
				return out, nil, hookNoNode(ctx, err, "to.start", e.plan.To.Start.Args)
			}
			if e.plan.Mode.Value == "hybrid_cp" {
				if err := r.waitUntil(ctx, "a data plane of Y's control plane to load its configuration", e.toDataPlaneServes); err != nil {
					return out, nil, err
				}
			}
			if msg, details := e.downtime(r.state, time.Now()); msg != "" {
				return strings.TrimSpace(msg + "\n" + out), details, nil
			}
			return out, nil, nil
		},
	}
}

// downtime measures an in-place upgrade's downtime when Y is ready at now:
// from stop_from's last intent, written just before from.stop runs (X
// stops serving while the hook runs, before the engine sees it down; in
// place there is no drain before it), to now (Y observed ready). The
// intent is in the journal before X is touched, so a crash anywhere in
// between keeps the start, and the time the process was down counts: the
// proxy served nothing then either. The figure is compared with
// max_downtime; exceeding it is reported, not undone (rolling back would
// only add downtime).
func (e *Engine) downtime(s *state, now time.Time) (string, map[string]string) {
	stop, ok := s.h.lastIntent["stop_from"]
	if e.plan.Strategy.Value != "in_place" || !ok || stop.Time.IsZero() {
		return "", nil
	}
	d := now.Sub(stop.Time).Round(time.Millisecond)
	msg := fmt.Sprintf("downtime %s (X stopped from %s, stop_from's intent; Y observed ready at %s)", d, stop.Time.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))
	if max, err := e.plan.MaxDowntime.Duration(); e.plan.MaxDowntime.Set && err == nil {
		if d > max {
			msg += fmt.Sprintf("; EXCEEDS max_downtime = %q", e.plan.MaxDowntime.Value)
		} else {
			msg += fmt.Sprintf("; within max_downtime = %q", e.plan.MaxDowntime.Value)
		}
	}
	return msg, map[string]string{"downtime_ms": strconv.FormatInt(d.Milliseconds(), 10),
		"downtime_from": stop.Time.UTC().Format(time.RFC3339Nano), "downtime_to": now.UTC().Format(time.RFC3339Nano)}
}

func (e *Engine) stepStartNode(n *plan.Node) step {
	name := n.Name
	find := func(o Observed) *NodeFacts {
		for i := range o.ToNodes {
			if o.ToNodes[i].Name == name {
				return &o.ToNodes[i]
			}
		}
		return nil
	}
	return step{
		name: "start_to:" + name, title: "start Y node " + name + " and wait until it is ready", reversible: true, undo: "stop Y node " + name,
		done: func(s *state) (bool, string) {
			ok, why := nodeAt(find(s.obs), s.p.To.Version.Value)
			if !ok {
				why += hookGone(s, "start_to:"+name, find(s.obs), "node "+name+"'s start", n.Start.Args)
			}
			return ok, why
		},
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			if err := yDownUnderTraffic(r.state, find(r.state.obs)); err != nil {
				return "", nil, err
			}
			var out string
			if n.Start.Given() {
				o, err := r.hook(ctx, n.Start.Args)
				out = o
				if err != nil {
					return out, nil, err
				}
			}
			if l := e.drv.ConfigLoaders[name]; l != nil {
				if err := r.loadConfig(ctx, l); err != nil {
					return out, nil, err
				}
			}
			if err := r.waitNode(ctx, "Y node "+name, find, true); err != nil {
				return out, nil, hookNoNode(ctx, err, "node "+name+"'s start", n.Start.Args)
			}
			// The node's own staging checks as it starts: a node that
			// fails them stops the rollout before any traffic moves.
			o, err := e.drv.Observer.observeNodes(ctx)
			if err != nil {
				return out, nil, fmt.Errorf("observe Y node %s: %w", name, err)
			}
			var ids string
			if f := find(o); f != nil {
				ids = identities([]*NodeFacts{f})
			}
			co, err := r.checks(ctx, e.yRequests(name))
			out = strings.TrimSpace(out + "\n" + co)
			if err != nil {
				return out, nil, err
			}
			return out, map[string]string{identityKey: ids}, nil
		},
	}
}

// toDataPlaneServes: in hybrid_cp mode, Y is only ready when its control
// plane lists at least one data plane that loaded the configuration
// (sync_status normal, a config hash that is not the empty one): a control
// plane serves no traffic itself, and a data plane that has just connected
// has nothing yet. Any version counts (Kong's hybrid upgrades move control
// planes first; in place, X's data planes reconnect to Y). Other modes:
// true.
func (e *Engine) toDataPlaneServes(o Observed) (bool, string) {
	if e.plan.Mode.Value != "hybrid_cp" {
		return true, ""
	}
	for _, src := range o.DataPlanes {
		if src.Source != "to" {
			continue
		}
		if src.Error != "" {
			return false, "Y's control plane's data-plane list cannot be read: " + src.Error
		}
		for _, dp := range src.Planes {
			if dp.SyncStatus == "normal" && dp.ConfigHash != "" && dp.ConfigHash != kong.EmptyConfigHash {
				return true, "data plane " + dp.Hostname + " (Kong " + dp.Version + ") serves configuration " + short(dp.ConfigHash)
			}
		}
		if len(src.Planes) == 0 {
			return false, "Y's control plane lists no data plane"
		}
		return false, fmt.Sprintf("none of the %d data planes of Y's control plane has loaded the configuration yet", len(src.Planes))
	}
	return false, "Y's control plane's data planes are not observed"
}

// nodeAt: the node answers, runs version v and is ready.
func nodeAt(f *NodeFacts, v string) (bool, string) {
	switch {
	case f == nil:
		return false, ""
	case f.Rejected:
		return false, "rejected the admin token (" + f.Error + ")"
	case !f.Reachable && f.Error != "":
		return false, "not reachable (" + f.Error + ")"
	case !f.Reachable:
		return false, "not reachable"
	case f.Version != v:
		return false, "runs " + f.Version
	case !f.Ready:
		return false, "not ready: " + f.ReadyReason + f.ReadyError
	}
	return true, "Kong " + v + " ready"
}

func (e *Engine) stepChecks() step {
	return step{
		name: "checks", title: fmt.Sprintf("run %d staging checks", len(e.drv.Checks)),
		done: func(s *state) (bool, string) {
			if s.h.done("checks") {
				return true, "passed in this run"
			}
			return false, ""
		},
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			// Identities are taken before the checks: a node that
			// restarts in between is checked again at the next traffic
			// step.
			ids := identities(yNodes(r.state.obs))
			out, err := r.checks(ctx, e.drv.Checks)
			if err != nil {
				return out, nil, err
			}
			// A summary first (the progress line shows it), then each
			// check's result (reported as it came).
			if out == "" {
				return "no check", map[string]string{identityKey: ids}, nil
			}
			sum := fmt.Sprintf("all %d passed", strings.Count(out, "\n")+1)
			return sum + "\n" + out, map[string]string{identityKey: ids}, nil
		},
	}
}

// checks measures gs in order, every one (a failure does not hide the
// others): the output has a line per check and proxy, and a failure is a
// gateError naming each that did not pass.
func (r *run) checks(ctx context.Context, gs []Gate) (string, error) {
	var lines, failed []string
	for _, g := range gs {
		res, err := r.measure(ctx, g)
		if err != nil {
			return strings.Join(lines, "\n"), err
		}
		line := checkLabel(g) + ": " + string(res.Outcome) + ": " + res.Reason
		if res.Value != "" {
			line = checkLabel(g) + ": " + string(res.Outcome) + " (" + res.Value + "): " + res.Reason
		}
		lines = append(lines, line)
		r.e.progress(Progress{Step: r.step.name, Title: r.step.title, Phase: PhaseInfo, Elapsed: time.Since(r.start), Index: r.idx, Total: r.total, Message: line})
		if !res.OK() {
			failed = append(failed, line)
		}
	}
	if len(failed) > 0 {
		return strings.Join(lines, "\n"), &gateError{msg: "check failed: " + strings.Join(failed, "; ")}
	}
	return strings.Join(lines, "\n"), nil
}

// yRequests are the checks' requests to Y's proxies (node's only, unless
// node is "*").
func (e *Engine) yRequests(node string) []Gate {
	var out []Gate
	for _, g := range e.drv.Checks {
		if yRequest(g, node) {
			out = append(out, g)
		}
	}
	return out
}

// rolloutSteps are a traffic step and a pause per rollout step.
func (e *Engine) rolloutSteps() []step {
	if e.plan.Rollout == nil || e.drv.Router == nil {
		return nil
	}
	var out []step
	for _, rs := range e.plan.Rollout.Steps {
		w := rs.Weight.Value
		pause, _ := rs.Pause.Duration()
		out = append(out, step{
			name: "traffic_" + strconv.Itoa(w), title: fmt.Sprintf("send %d%% of traffic to Y", w),
			reversible: true, undo: "all traffic back to X", guarded: true,
			doubt: func(s *state) *unsure {
				// A configuration written and not loaded (a crash between
				// nginx's file and its reload) is not doubt for a traffic
				// step: setting the weights again reloads, and the read
				// back must then show them loaded (issue 10, finding 4).
				if t := s.obs.Traffic; t == nil || !t.NotLoaded {
					if sd := trafficUnread(s); sd != nil {
						return sd
					}
				}
				return e.xDownUnexpectedly(s)
			},
			done: func(s *state) (bool, string) {
				t := s.obs.Traffic
				if t != nil && t.NotLoaded {
					// Earlier traffic steps of this run stay done; the
					// step whose write was not loaded runs again.
					if s.h.done("traffic_" + strconv.Itoa(w)) {
						return true, "set in this run; the load balancer has not loaded the newest configuration"
					}
					return false, "the load balancer has not loaded the newest configuration: set it again"
				}
				if t == nil || t.Error != "" {
					return false, ""
				}
				if t.To > w {
					// Said so: "traffic_10: sends 100%" read as if this step had sent it.
					return true, fmt.Sprintf("load balancer sends %d%% to Y, past this step's %d%%", t.To, w)
				}
				if t.To == w {
					return true, fmt.Sprintf("load balancer sends %d%% to Y", t.To)
				}
				return false, fmt.Sprintf("load balancer sends %d%% to Y", t.To)
			},
			check: func(s *state) string {
				if t := s.obs.Traffic; t != nil && t.To > 0 {
					return "" // Y serves already: apply judges it, as a gate
				}
				return yNotReady(s)
			},
			apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
				// A Y node found not ready while Y carries traffic (it
				// died at the end of a pause, or while the agent was
				// down) fails the step as a gate: the rollback moves
				// traffic back to X instead of leaving it on a dead node.
				if why := yNotReady(r.state); why != "" {
					if t := r.state.obs.Traffic; t != nil && t.To > 0 {
						return "", nil, &gateError{msg: fmt.Sprintf("%s while it gets %d%% of traffic", why, t.To)}
					}
					return "", nil, &haltError{reason: ReasonPreconditionFail, msg: why}
				}
				// Every Y proxy passes its staging checks again before it
				// gets more traffic: a node may have restarted (a new
				// process, maybe without its configuration) since they
				// last passed.
				var lines []string
				restarts := yRestarts(checkedIdentities(r.state.h), r.state.obs)
				for _, c := range restarts {
					lines = append(lines, c+" since its checks passed: checked again")
				}
				ids := identities(yNodes(r.state.obs))
				out, err := r.checks(ctx, e.yRequests("*"))
				if out != "" {
					lines = append(lines, out)
				}
				var ge *gateError
				if errors.As(err, &ge) && len(restarts) > 0 {
					err = &gateError{msg: strings.Join(restarts, "; ") + "; " + ge.msg}
				}
				if err != nil {
					return strings.Join(lines, "\n"), nil, err
				}
				if err := e.yInputsProblem(ctx, r.state); err != nil { // inputs.go
					return strings.Join(lines, "\n"), nil, err
				}
				wt := Weights{From: 100 - w, To: w}
				if err := e.drv.Router.SetWeights(ctx, wt); err != nil {
					return strings.Join(lines, "\n"), nil, fmt.Errorf("set traffic %s: %w", wt, err)
				}
				got, err := e.drv.Router.Weights(ctx)
				if err != nil {
					return strings.Join(lines, "\n"), nil, fmt.Errorf("read traffic back: %w", err)
				}
				if got != wt {
					return strings.Join(lines, "\n"), nil, fmt.Errorf("the load balancer reports %s after setting %s", got, wt)
				}
				// The traffic line first: the progress line shows it.
				return strings.Join(append([]string{"traffic " + wt.String()}, lines...), "\n"), map[string]string{identityKey: ids}, nil
			},
		})
		name := "pause_" + strconv.Itoa(w)
		// A pause without analysis says so: nothing judged it.
		title, doneText := fmt.Sprintf("pause %s at %d%% with %d analyses", rs.Pause.Value, w, len(e.drv.Analyses)), "analyses passed"
		if len(e.drv.Analyses) == 0 {
			title, doneText = fmt.Sprintf("pause %s at %d%% with no analysis", rs.Pause.Value, w), "no analysis: waited"
		}
		out = append(out, step{
			name: name, title: title,
			done: func(s *state) (bool, string) {
				if s.h.done(name) {
					// The recorded verdict with the last measurements.
					if v := firstLine(s.h.ok[name].Output); v != "" {
						return true, v
					}
					return true, doneText
				}
				return false, ""
			},
			apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
				out, err := r.pause(ctx, ScalePause(pause))
				return out, nil, err
			},
		})
	}
	return out
}

// yDownUnderTraffic: a Y node to (re)start while Y already gets traffic
// went down or stopped being ready after it passed (the agent may have
// been down, or the pause ended first): a failed gate, so that traffic
// goes back to X, not a start hook run under traffic and the rollout
// going on as if nothing happened. Once this run stopped X, starting Y
// again is the way on.
func yDownUnderTraffic(s *state, f *NodeFacts) error {
	t := s.obs.Traffic
	if t == nil || t.To == 0 || f == nil || s.h.intents["stop_from"] > 0 || s.h.intents["decommission"] > 0 {
		return nil
	}
	if ok, why := nodeAt(f, s.p.To.Version.Value); !ok {
		return &gateError{msg: fmt.Sprintf("Y%s went down (%s) while it gets %d%% of traffic", nodeName(f), why, t.To)}
	}
	return nil
}

// yNotReady says which Y nodes the observation does not show ready at
// Y's version ("" when every one is).
func yNotReady(s *state) string {
	var notReady []string
	for _, f := range yNodes(s.obs) {
		if ok, why := nodeAt(f, s.p.To.Version.Value); !ok {
			notReady = append(notReady, "Y"+nodeName(f)+": "+why)
		}
	}
	if len(notReady) == 0 {
		return ""
	}
	return "Y is not ready (" + strings.Join(notReady, "; ") + ")"
}

// stepStopFrom stops X: reversible in blue-green (after the rollout, before
// finish), a point of no return in place (consent stop_current).
func (e *Engine) stepStopFrom(inPlace bool) step {
	st := step{
		name: "stop_from", title: "stop X (from.stop) and wait until it no longer answers",
		// X observed down counts only when this run stopped it: an X that
		// went down on its own is a fault to look into, not progress.
		doubt: func(s *state) *unsure {
			if sd := e.xDownUnexpectedly(s); sd != nil {
				return sd
			}
			if !inPlace {
				return trafficUnread(s)
			}
			return nil
		},
		done: func(s *state) (bool, string) {
			ok, why := e.xStopped(s.obs)
			if ok && s.h.intents["stop_from"] == 0 {
				return false, why + ", but this run did not stop it"
			}
			return ok, why
		},
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			if err := r.drain(ctx); err != nil {
				return "", nil, err
			}
			out, err := r.hook(ctx, e.plan.From.Stop.Args)
			if err != nil {
				return out, nil, err
			}
			return out, nil, r.waitUntil(ctx, "X to stop", e.xStopped)
		},
	}
	if inPlace {
		st.noReturn, st.approve, st.guarded = true, "stop_current", true
		st.title = "stop X (from.stop): downtime starts"
	} else {
		st.reversible, st.undo = true, "start X again (from.start), then traffic back to X"
		st.check = func(s *state) string {
			if t := s.obs.Traffic; t != nil && t.From != 0 {
				return fmt.Sprintf("X still gets %d%% of traffic", t.From)
			}
			return ""
		}
	}
	return st
}

// xDownUnexpectedly: X (a node of X) does not answer, or answers with
// another version, and this run neither stopped nor decommissioned it.
func (e *Engine) xDownUnexpectedly(s *state) *unsure {
	if s.h.intents["stop_from"] > 0 || s.h.intents["decommission"] > 0 {
		return nil
	}
	for _, f := range xNodes(s.obs) {
		switch {
		case !f.Reachable:
			why := "does not answer"
			if f.Error != "" {
				why += " (" + f.Error + ")"
			}
			return &unsure{reason: ReasonSideDown, msg: "X" + nodeName(f) + " " + why + ", and this run did not stop it: find out why, and start it again (from.start) to go on"}
		case f.Version != e.plan.From.Version.Value:
			return &unsure{reason: ReasonSideDown, msg: "X" + nodeName(f) + "'s address answers with Kong " + f.Version + ", not " + e.plan.From.Version.Value + ", and this run did not stop X"}
		}
	}
	return nil
}

// xStopped: X's address refuses connections, or what answers there is
// another version than from.version (in place, Y takes over X's address).
// A timeout is not evidence: a hung X may still hold its database.
func (e *Engine) xStopped(o Observed) (bool, string) {
	f := o.From
	switch {
	case f == nil:
		return false, "X is not observed"
	case !f.Reachable && !f.Refused:
		return false, "X does not answer but its address does not refuse connections either (" + f.Error + "): it may hang rather than have stopped"
	case !f.Reachable:
		return true, "X does not answer (connection refused)"
	case f.Version != e.plan.From.Version.Value:
		return true, "X's address answers with Kong " + f.Version
	}
	return false, "X answers"
}

func (e *Engine) stepDecommission() step {
	return step{
		name: "decommission", title: "decommission X (from.stop): no rollback to X afterwards",
		noReturn: true, approve: "decommission", guarded: true,
		doubt: func(s *state) *unsure {
			if s.h.done("decommission") {
				return nil
			}
			return trafficUnread(s)
		},
		done: func(s *state) (bool, string) {
			if s.h.done("decommission") {
				return true, "X decommissioned in this run"
			}
			return false, ""
		},
		check: func(s *state) string {
			if t := s.obs.Traffic; t != nil && t.To != 100 {
				return fmt.Sprintf("Y gets %d%% of traffic, not 100%%", t.To)
			}
			for _, f := range yNodes(s.obs) {
				if ok, why := nodeAt(f, s.p.To.Version.Value); !ok {
					return "Y" + nodeName(f) + " is not observed ready (" + why + "): X is all there is to go back to"
				}
			}
			return ""
		},
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			var outs []string
			hooks := [][]string{}
			if e.plan.From.Stop.Given() {
				hooks = append(hooks, e.plan.From.Stop.Args)
			}
			for _, n := range e.plan.From.Nodes {
				if n.Stop.Given() {
					hooks = append(hooks, n.Stop.Args)
				}
			}
			if err := r.drain(ctx); err != nil {
				return "", nil, err
			}
			for _, h := range hooks {
				out, err := r.hook(ctx, h)
				outs = append(outs, out)
				if err != nil {
					return strings.Join(outs, "\n"), nil, err
				}
			}
			return strings.Join(outs, "\n"), nil, nil
		},
	}
}

func countsString(m map[string]int64) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	return strings.Join(sortedStrings(parts), " ")
}

// restoreEvidence is the positive evidence a restore into Y's database
// needs, from this observation (the database and the split were read:
// doubt): Y carries no traffic; Y's database is absent, empty, or holds
// this run's own earlier restore (its fingerprint equals the backup's);
// and Y does not answer on a database that holds anything.
func restoreEvidence(s *state) string {
	if t := s.obs.Traffic; t != nil && t.To != 0 {
		return fmt.Sprintf("Y gets %d%% of traffic: a restore would replace the database it serves from", t.To)
	}
	db := s.obs.ToDatabase
	if db.Absent || (db.ContentRead && db.Empty) {
		return ""
	}
	for _, f := range yNodes(s.obs) {
		if f.Reachable {
			return fmt.Sprintf("Y%s answers (Kong %s) and its database is not empty: a restore would replace the configuration it serves", nodeName(f), f.Version)
		}
		if hung(f) {
			return fmt.Sprintf("Y%s does not answer but its address does not refuse connections (%s), and its database is not empty: it may hang rather than have stopped", nodeName(f), f.Error)
		}
	}
	want := s.h.detail("backup", "fingerprint")
	switch b, mk := s.obs.Backup, db.Restore; {
	case !db.ContentRead:
		return "what Y's database holds was not read: a restore needs it absent, empty or holding this run's backup"
	case want != "" && db.Fingerprint == want:
		return "" // this run's own earlier restore
	case mk != nil && mk.Owned && b != nil && b.Present && b.Name == s.h.detail("backup", "backup") && b.SHA256 != "" && mk.Manifest == b.SHA256:
		return "" // Upshift's marker: this run's backup is (being) restored into it; a crash stopped it half way
	}
	return fmt.Sprintf("Y's database holds a configuration (fingerprint %s) that is not this run's backup %s (fingerprint %s): Upshift does not replace it. If nothing uses it, drop it, or point to.database at an empty database",
		short(db.Fingerprint), s.h.detail("backup", "backup"), short(want))
}

// migrationDoubt: a `kong migrations cmd` of this run did not end well
// (it failed, was cancelled, or has an intent and no outcome), and the
// database still shows it not done. Re-running it is safe only when Kong
// never started a migration; otherwise the migration Kong was at may have
// committed its SQL without schema_meta knowing (kong-upgrade-failures.md
// §1, Kong/kong#12978), and running it again could apply it twice.
func migrationDoubt(s *state, name, cmd, where string, db *DatabaseFacts) *unsure {
	last, ok := s.h.last[name]
	if !ok || (last.Kind == KindOutcome && (last.Result == ResultOK || last.Result == ResultSkipped)) {
		return nil
	}
	if running := db.MigrationRunning(); running != "" {
		return &unsure{reason: ReasonMigrationInDoubt, wait: true,
			msg: fmt.Sprintf("kong migrations %s did not finish in this run and on %s %s: waiting for it to end", cmd, where, running)}
	}
	var what string
	switch {
	case last.Kind == KindIntent:
		// No outcome: the runner stopped. A migrations lock row left
		// behind says Kong started and did not end cleanly.
		for _, l := range db.Locks {
			if l.Key == "migrations" {
				what = fmt.Sprintf("the runner stopped while it ran (a migrations lock row of %s is left)", l.Owner)
			}
		}
	case kongStarted(last.Output + "\n" + last.Error):
		what = "it " + string(last.Result) + " after Kong began migrating: " + firstLine(last.Error)
	}
	if what == "" {
		return nil // Kong never began a migration: running it again is what was meant
	}
	next := "the first new migration of each subsystem"
	if f := db.ForTo; f != nil {
		m := f.New
		if cmd == "finish" {
			m = f.Pending
		}
		var firsts []string
		for sub, names := range m {
			if len(names) > 0 {
				firsts = append(firsts, sub+"/"+names[0])
			}
		}
		if len(firsts) > 0 {
			next = strings.Join(sortedStrings(firsts), ", ")
		}
	}
	return &unsure{reason: ReasonMigrationInDoubt, msg: fmt.Sprintf(
		"kong migrations %s did not finish in this run (%s), and schema_meta on %s does not record %s: its SQL may have committed without schema_meta knowing, and Upshift does not run it again. "+
			"Inspect pg_stat_activity and the locks table on %s, and the data %s changes; then run kong migrations %s with Kong %s yourself, or restore backup %s; the next apply observes the result",
		cmd, what, where, next, where, next, cmd, s.p.To.Version.Value, s.h.detail("backup", "backup"))}
}

// kongStarted: Kong's output or error shows it began running migrations
// (it prints "migrating SUBSYSTEM on database ..." first, and names the
// migration when one fails).
func kongStarted(out string) bool {
	return strings.Contains(out, "migrating ") || strings.Contains(out, "migrated up to") ||
		strings.Contains(out, "failed to run migration") || strings.Contains(out, "failed to record migration")
}
