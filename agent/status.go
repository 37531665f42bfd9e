package agent

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
)

// Status is what /api/v1/status serves and `upshift status` prints.
type Status struct {
	Time     time.Time    `json:"time"`
	Agent    string       `json:"agent"`
	Role     string       `json:"role"` // leader | follower | single
	Leader   string       `json:"leader,omitempty"`
	Head     string       `json:"head_commit,omitempty"`
	Author   string       `json:"head_author,omitempty"`
	Signer   string       `json:"head_signer,omitempty"` // verified signer (--verify-signatures)
	LastPoll time.Time    `json:"last_poll,omitzero"`
	PollErr  string       `json:"poll_error,omitempty"`
	Rejected string       `json:"rejected_commit,omitempty"`
	Plans    []PlanStatus `json:"plans"`
}

// PlanStatus is one plan's part of the status: its condition, what its
// world looks like now (observed at ObservedAt: versions, health, the
// split the load balancer routes) and the current run's journal.
type PlanStatus struct {
	Name      string           `json:"name"`
	Cluster   string           `json:"cluster,omitempty"`
	Strategy  string           `json:"strategy,omitempty"`
	File      string           `json:"file,omitempty"`
	Commit    string           `json:"commit,omitempty"`
	Author    string           `json:"author,omitempty"`
	Signer    string           `json:"signer,omitempty"`
	Condition engine.Condition `json:"condition"`
	Running   bool             `json:"running"`
	Step      string           `json:"current_step,omitempty"`
	Direction string           `json:"direction,omitempty"` // upgrade | rollback
	From      string           `json:"from_version,omitempty"`
	To        string           `json:"to_version,omitempty"`
	// ObservedAt is when X, Y and Traffic were read; ObserveError says
	// why the last observation failed (the facts below are then older).
	ObservedAt   time.Time     `json:"observed_at,omitzero"`
	ObserveError string        `json:"observe_error,omitempty"`
	X            *SideStatus   `json:"x,omitempty"`
	Y            *SideStatus   `json:"y,omitempty"`
	Traffic      *TrafficSplit `json:"traffic,omitempty"`
	// TrafficError: the load balancer could not be read (no split shown).
	TrafficError string        `json:"traffic_error,omitempty"`
	Steps        []StepStatus  `json:"steps,omitempty"`
	Gates        []JournalLine `json:"gates,omitempty"`
	// Run is the journal's current run; Journal its records in order from
	// its run_started (at most maxJournal, the newest); JournalOmitted
	// counts the plan's records not in Journal (earlier runs, and the
	// run's oldest beyond the cap).
	Run            *engine.RunInfo `json:"run,omitempty"`
	Journal        []JournalLine   `json:"journal,omitempty"`
	JournalOmitted int             `json:"journal_omitted,omitempty"`
	// Measurements are the run's analysis measurements as journaled;
	// TrafficHistory the split over the run's time (see SplitPoint).
	Measurements   []Measurement `json:"measurements,omitempty"`
	TrafficHistory []SplitPoint  `json:"traffic_history,omitempty"`
	// RunNote is what the plan's run attribute does now, as upshift plan
	// says it (engine.Preview.RunNote): how to upgrade again after a run
	// ended.
	RunNote string `json:"run_note,omitempty"`
}

// SideStatus is X or Y as observed: the version its nodes answer and
// whether they are ready.
type SideStatus struct {
	Planned string `json:"planned_version"`
	Version string `json:"version,omitempty"` // what the nodes answer; several: comma-separated
	// Health is ready, not_ready (answers, not ready), down (refuses
	// connections), unreachable (no answer: maybe hung) or unknown.
	Health string `json:"health"`
	Detail string `json:"detail,omitempty"`
	Nodes  int    `json:"nodes"`
}

// StepStatus is one step of the plan's pipeline: the engine's view of it
// (observed done, next, pending, blocked) with the run's journal.
type StepStatus struct {
	engine.StepView
	// State is the pipeline's: done, running, approval (a point of no
	// return waiting for approve), blocked, next, pending, or skipped (its
	// outcome in this run said there was nothing to do).
	State string `json:"state"`
	// At and Result are the step's last outcome in this run; Attempts
	// its intents.
	At       time.Time `json:"at,omitzero"`
	Result   string    `json:"result,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
}

// TrafficSplit is the observed split in percent.
type TrafficSplit struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// SplitPoint is the split from Time on: set by a traffic step of the run
// (Source "journal": the step's ok outcome) or read from the load
// balancer by this agent (Source "observed": one point per change).
type SplitPoint struct {
	Time   time.Time `json:"time"`
	From   int       `json:"from"`
	To     int       `json:"to"`
	Source string    `json:"source"`
	Step   string    `json:"step,omitempty"`
}

// Measurement is one journaled measurement of an analysis
// (engine.EventMeasurement): Details holds the rest of the record's
// details (x_error_rate, y_p99_ms, against, ...), decimal strings as
// recorded.
type Measurement struct {
	Seq      int64             `json:"seq"`
	Time     time.Time         `json:"time"`
	Step     string            `json:"step"`
	Analysis string            `json:"analysis"`
	Result   string            `json:"result"`
	Value    string            `json:"value,omitempty"`
	Reason   string            `json:"reason,omitempty"`
	Details  map[string]string `json:"details,omitempty"`
}

// JournalLine is one journal record, shortened for people.
type JournalLine struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	What   string    `json:"what"`
	Result string    `json:"result,omitempty"`
	Text   string    `json:"text,omitempty"`
	Commit string    `json:"commit,omitempty"`
}

// Bounds of one plan's status: the page polls it every second.
const (
	maxJournal      = 500
	maxMeasurements = 1000
	maxSplits       = 500
)

// SetRole records whether this agent leads (HA) and who does.
func (a *Agent) SetRole(isLeader bool, leader string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.isLeader, a.leader, a.roleKnown = isLeader, leader, true
}

// Status returns the agent's view, with each plan's current run read from
// the journal (so a follower shows what the leader did). An observation
// older than Config.StatusMaxAge is started again in the background; a
// plan never observed yet is waited for (up to 3s).
func (a *Agent) Status(ctx context.Context) Status {
	a.mu.Lock()
	s := Status{Time: a.cfg.Now().UTC(), Agent: a.cfg.Holder, Role: "single", Leader: a.leader,
		Head: a.head.Commit, Author: a.head.Author, Signer: a.signer, LastPoll: a.lastPoll, PollErr: a.pollErr, Rejected: a.rejected}
	if a.roleKnown {
		s.Role = "follower"
		if a.isLeader {
			s.Role = "leader"
		}
	}
	var first []<-chan struct{}
	for _, st := range a.plans {
		if st.Live == nil || a.cfg.Now().Sub(st.Live.At) > a.cfg.StatusMaxAge {
			if ch := a.observeLive(st); ch != nil && st.Live == nil {
				first = append(first, ch)
			}
		}
		if st.Preview == nil && !st.Running {
			a.observe(st) // the steps' view; a run refreshes it at each step's end
		}
	}
	a.mu.Unlock()
	if len(first) > 0 {
		t := time.NewTimer(3 * time.Second)
		for _, ch := range first {
			select {
			case <-ch:
			case <-t.C:
			case <-ctx.Done():
			}
		}
		t.Stop()
	}
	a.mu.Lock()
	for _, st := range a.plans {
		s.Plans = append(s.Plans, a.planStatus(st))
	}
	a.mu.Unlock()
	// A follower (or an agent that has not polled yet) shows the plans the
	// shared journal knows, with their records.
	if names, err := a.cfg.Store.Plans(ctx); err == nil {
		seen := map[string]bool{}
		for _, p := range s.Plans {
			seen[p.Name] = true
		}
		for _, n := range names {
			if !seen[n] && n != PollRequests {
				s.Plans = append(s.Plans, PlanStatus{Name: n, Condition: journalCondition(ctx, a, n)})
			}
		}
	}
	sort.Slice(s.Plans, func(i, j int) bool { return s.Plans[i].Name < s.Plans[j].Name })
	for i := range s.Plans {
		a.addJournal(ctx, &s.Plans[i])
	}
	return s
}

// planStatus is st's status without the journal; a.mu is held.
func (a *Agent) planStatus(st *planState) PlanStatus {
	ps := PlanStatus{Name: st.Name, Cluster: st.Cluster, Strategy: st.Strategy, File: st.File, Commit: st.Commit,
		Author: st.Author, Signer: st.Signer, Condition: st.Condition, Running: st.Running, Step: st.Step,
		ObserveError: st.ObserveErr}
	if p := st.Plan; p != nil && p.From != nil && p.To != nil {
		ps.From, ps.To = p.From.Version.Value, p.To.Version.Value
	}
	pv := st.Preview
	var obs *engine.Observed // the newest of the two observations
	if pv != nil {
		ps.Direction, ps.RunNote = pv.Direction, pv.RunNote
		for _, v := range pv.Steps {
			ps.Steps = append(ps.Steps, StepStatus{StepView: v, State: v.Status})
		}
		obs = &pv.Observed
	}
	if st.Live != nil && (obs == nil || st.Live.At.After(obs.At)) {
		obs = st.Live
	}
	if obs != nil {
		ps.ObservedAt = obs.At
		ps.X = side(ps.From, obs.From, obs.FromNodes)
		ps.Y = side(ps.To, obs.To, obs.ToNodes)
		if t := obs.Traffic; t != nil {
			if t.Error == "" {
				ps.Traffic = &TrafficSplit{From: t.From, To: t.To}
			} else {
				ps.TrafficError = t.Error
			}
		}
	}
	if st.Running {
		// The condition of the last apply no longer holds while one runs
		// (a gate it stopped at, a stall): say what runs now.
		rollback := strings.HasPrefix(st.Step, "rollback_") || st.Step == "" && (st.Rollback != "" || pv != nil && pv.Direction == "rollback")
		ps.Condition = engine.Condition{Type: engine.ConditionProgressing, Reason: engine.ReasonStepsPending}
		ps.Direction = "upgrade"
		if rollback {
			ps.Condition.Reason, ps.Direction = engine.ReasonRollingBack, "rollback"
		}
		msg := "applying"
		if st.Step != "" {
			msg = "running " + st.Step
			if st.Title != "" {
				msg += " (" + st.Title + ")"
			}
		}
		if st.Note != "" {
			msg += ": " + st.Note
		}
		ps.Condition.Message = msg
	}
	ps.TrafficHistory = append(ps.TrafficHistory, st.Splits...)
	return ps
}

// side is X's or Y's status from its observed nodes.
func side(planned string, node *engine.NodeFacts, nodes []engine.NodeFacts) *SideStatus {
	var all []engine.NodeFacts
	if node != nil {
		all = append(all, *node)
	}
	all = append(all, nodes...)
	s := &SideStatus{Planned: planned, Health: "unknown", Nodes: len(all)}
	if len(all) == 0 {
		return s
	}
	var versions, details []string
	s.Health = "ready"
	worse := func(h string) {
		rank := map[string]int{"ready": 0, "not_ready": 1, "unreachable": 2, "down": 3}
		if rank[h] > rank[s.Health] {
			s.Health = h
		}
	}
	for _, n := range all {
		name := n.Name
		if name == "" {
			name = "node"
		}
		switch {
		case n.Reachable && n.Ready:
		case n.Reachable:
			worse("not_ready")
			details = append(details, name+": not ready "+n.ReadyReason+n.ReadyError)
		case n.Refused:
			worse("down")
			details = append(details, name+": "+n.Error)
		default:
			worse("unreachable")
			details = append(details, name+": "+n.Error)
		}
		if n.Version != "" && !slices.Contains(versions, n.Version) {
			versions = append(versions, n.Version)
		}
	}
	s.Version, s.Detail = strings.Join(versions, ","), strings.Join(details, "; ")
	return s
}

// observe starts an observation of st's world (engine.Preview: it writes
// nothing and takes no lease) and returns the channel closed when it ends
// (nil: nothing to observe). While one is under way, another starts when
// it ends: it may have read the world before what the caller just did (a
// step that moved traffic). a.mu is held.
func (a *Agent) observe(st *planState) <-chan struct{} {
	if st.observing != nil {
		st.observeAgain = true
		return st.observing
	}
	if st.Plan == nil || st.Invalid != "" || st.Archived || a.bg.Err() != nil {
		return nil
	}
	done := make(chan struct{})
	st.observing = done
	cfg := a.engineConfig(st.Plan, st.RunKey, st.Rollback, st.Commit, st.Author)
	a.obsWG.Add(1)
	go func() {
		defer a.obsWG.Done()
		ctx, cancel := context.WithTimeout(a.bg, 30*time.Second)
		defer cancel()
		var pv *engine.Preview
		e, err := engine.New(cfg)
		if err == nil {
			pv, err = e.Preview(ctx)
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		st.observing = nil
		close(done)
		if err != nil {
			st.ObserveErr = fmt.Sprintf("observe: %v", err)
		} else {
			st.ObserveErr = ""
			a.setPreview(st, pv)
		}
		if st.observeAgain {
			st.observeAgain = false
			a.observe(st)
		}
	}()
	return done
}

// observeLive starts a light observation of st's world: X's and Y's
// nodes and the load balancer, no database, backup or fingerprint read
// (the status asks for one every second while someone looks). It returns
// the channel closed when it ends (nil: nothing to observe). a.mu is held.
func (a *Agent) observeLive(st *planState) <-chan struct{} {
	if st.living != nil {
		return st.living
	}
	if st.Plan == nil || st.Invalid != "" || st.Archived || a.bg.Err() != nil {
		return nil
	}
	cfg := a.engineConfig(st.Plan, st.RunKey, st.Rollback, st.Commit, st.Author)
	done := make(chan struct{})
	st.living = done
	a.obsWG.Add(1)
	go func() {
		defer a.obsWG.Done()
		ctx, cancel := context.WithTimeout(a.bg, 30*time.Second)
		defer cancel()
		var obs engine.Observed
		o, err := lightObserver(cfg)
		if err == nil {
			obs, err = o.Observe(ctx)
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		st.living = nil
		close(done)
		if err != nil {
			st.ObserveErr = fmt.Sprintf("observe: %v", err)
			return
		}
		if st.Live == nil || obs.At.After(st.Live.At) {
			st.Live = &obs
			a.recordSplit(st, obs.Traffic)
		}
	}()
	return done
}

// lightObserver is the plan's observer without its database, backup,
// data plane and fingerprint reads.
func lightObserver(cfg engine.Config) (*engine.Observer, error) {
	full := (*engine.Observer)(nil)
	if cfg.Drivers != nil {
		full = cfg.Drivers.Observer
	}
	if full == nil {
		var err error
		if full, err = engine.NewObserver(cfg.Plan, cfg.LookupEnv); err != nil {
			return nil, err
		}
	}
	o := *full
	o.FromDB, o.ToDB, o.Backups, o.Fingerprint, o.ToFingerprint, o.DataPlanes = nil, nil, nil, nil, nil, nil
	return &o, nil
}

// setPreview keeps pv unless a newer preview is kept already, and
// records a changed split. a.mu is held.
func (a *Agent) setPreview(st *planState, pv *engine.Preview) {
	if st.Preview != nil && pv.Observed.At.Before(st.Preview.Observed.At) {
		return
	}
	st.Preview = pv
	a.recordSplit(st, pv.Observed.Traffic)
}

// recordSplit adds t to st's splits when it changed. a.mu is held.
func (a *Agent) recordSplit(st *planState, t *engine.TrafficFacts) {
	if t == nil || t.Error != "" {
		return
	}
	if n := len(st.Splits); n > 0 && (st.Splits[n-1].From == t.From && st.Splits[n-1].To == t.To || t.ReadAt.Before(st.Splits[n-1].Time)) {
		return // no change, or read before the last point (a slower observation)
	}
	st.Splits = append(st.Splits, SplitPoint{Time: t.ReadAt, From: t.From, To: t.To, Source: "observed"})
	if len(st.Splits) > maxSplits {
		st.Splits = slices.Delete(st.Splits, 0, len(st.Splits)-maxSplits)
	}
}

// journalCondition describes a plan this agent does not drive from the
// journal alone.
func journalCondition(ctx context.Context, a *Agent, name string) engine.Condition {
	info, err := engine.ReadRun(ctx, a.cfg.Store, name)
	switch {
	case err != nil:
		return engine.Condition{Type: "Unknown", Reason: "JournalUnreadable", Message: err.Error()}
	case info.Completed:
		return engine.Condition{Type: engine.ConditionReady, Reason: engine.ReasonConverged, Message: "completed (from the journal)"}
	case info.RolledBack:
		return engine.Condition{Type: engine.ConditionReady, Reason: engine.ReasonRolledBack, Message: "rolled back (from the journal)"}
	case info.InProgress():
		if c, ok := journalStall(ctx, a, name, info.StartSeq); ok {
			return c
		}
		return engine.Condition{Type: engine.ConditionProgressing, Reason: "InProgress", Message: "in progress (from the journal; the leader drives it)"}
	}
	return engine.Condition{Type: "Unknown", Reason: "NotStarted", Message: "no run in the journal"}
}

// journalStall is the stall a run in progress stopped on (a gate waiting
// for approval, a failure), when no step ran since it was journaled: a
// run that upshift apply left at a gate waits for a person, it does not
// progress.
func journalStall(ctx context.Context, a *Agent, name string, start int64) (engine.Condition, bool) {
	recs, err := a.cfg.Store.Records(ctx, name, start)
	if err != nil {
		return engine.Condition{}, false
	}
	var stall *engine.Record
	for i, r := range recs {
		switch {
		case r.Kind == engine.KindEvent && r.Event == engine.EventStalled:
			stall = &recs[i]
		case r.Kind == engine.KindIntent || r.Kind == engine.KindOutcome:
			stall = nil
		}
	}
	if stall == nil {
		return engine.Condition{}, false
	}
	return engine.Condition{Type: engine.ConditionStalled, Reason: stall.Details["reason"],
		Message: stall.Details["message"] + " (from the journal)"}, true
}

// addJournal reads p's journal: the current run's records, its gates and
// measurements, the splits its traffic steps set, and each step's last
// outcome. An unreadable journal is said, not hidden.
func (a *Agent) addJournal(ctx context.Context, p *PlanStatus) {
	recs, err := a.cfg.Store.Records(ctx, p.Name, 0)
	if err != nil {
		p.Journal = []JournalLine{{Kind: "error", What: "journal", Text: fmt.Sprintf("read the journal: %v", err)}}
		return
	}
	startIdx := 0
	for i, r := range recs {
		if r.Kind == engine.KindEvent && r.Event == engine.EventRunStarted {
			startIdx = i
		}
	}
	run := recs[startIdx:]
	if len(run) > 0 && run[0].Event == engine.EventRunStarted {
		p.Run = runOf(run)
	}
	type last struct {
		at       time.Time
		result   string
		attempts int
	}
	steps := map[string]*last{}
	var lines, gates []JournalLine
	var splits []SplitPoint
	for _, r := range run {
		l := JournalLine{Seq: r.Seq, Time: r.Time, Kind: string(r.Kind), Result: string(r.Result), Commit: short(r.Commit)}
		switch r.Kind {
		case engine.KindEvent:
			l.What, l.Text = r.Event, eventText(r)
		default:
			l.What, l.Text = r.Step, r.Error
			if l.Text == "" {
				l.Text = firstLine(r.Output)
			}
			if steps[r.Step] == nil {
				steps[r.Step] = &last{}
			}
			if r.Kind == engine.KindIntent {
				steps[r.Step].attempts++
			} else {
				steps[r.Step].at, steps[r.Step].result = r.Time, string(r.Result)
				if r.Result == engine.ResultOK {
					if w, ok := setSplit(r.Step); ok {
						splits = append(splits, SplitPoint{Time: r.Time, From: 100 - w, To: w, Source: "journal", Step: r.Step})
					}
				}
			}
		}
		if r.Kind == engine.KindOutcome && (r.Step == "checks" || strings.HasPrefix(r.Step, "pause_")) || r.Event == engine.EventGate {
			gates = append(gates, l)
		}
		if r.Event == engine.EventMeasurement {
			m := Measurement{Seq: r.Seq, Time: r.Time, Step: r.Details["step"], Analysis: r.Details["analysis"],
				Result: r.Details["result"], Value: r.Details["value"], Reason: r.Details["reason"], Details: map[string]string{}}
			for k, v := range r.Details {
				switch k {
				case "step", "analysis", "result", "value", "reason":
				default:
					m.Details[k] = v
				}
			}
			p.Measurements = append(p.Measurements, m)
		}
		lines = append(lines, l)
	}
	p.JournalOmitted = startIdx
	if len(lines) > maxJournal {
		p.JournalOmitted += len(lines) - maxJournal
		lines = lines[len(lines)-maxJournal:]
	}
	if len(gates) > 10 {
		gates = gates[len(gates)-10:]
	}
	if n := len(p.Measurements); n > maxMeasurements {
		p.Measurements = p.Measurements[n-maxMeasurements:]
	}
	p.Journal, p.Gates = lines, gates
	for i := range p.Steps {
		s := &p.Steps[i]
		if l := steps[s.Name]; l != nil {
			s.At, s.Result, s.Attempts = l.at, l.result, l.attempts
		}
		switch {
		case p.Running && s.Name == p.Step:
			s.State = "running"
		case s.Status == engine.StatusDone && s.Result == string(engine.ResultSkipped):
			s.State = "skipped"
		case s.Status == engine.StatusBlocked && s.NoReturn && !s.Approved:
			s.State = "approval"
		}
	}
	// The run's splits: those its steps set, then those this agent read
	// (each kept from the run's start on), in time order.
	var since time.Time
	if p.Run != nil {
		since = p.Run.StartedAt
	}
	for _, sp := range p.TrafficHistory {
		if !sp.Time.Before(since) {
			splits = append(splits, sp)
		}
	}
	sort.SliceStable(splits, func(i, j int) bool { return splits[i].Time.Before(splits[j].Time) })
	if len(splits) > maxSplits {
		splits = splits[len(splits)-maxSplits:]
	}
	p.TrafficHistory = splits
}

// runOf is engine.ReadRun's answer from the run's records already read
// (the page asks every second: one read of the journal, not two).
func runOf(run []engine.Record) *engine.RunInfo {
	r := run[0]
	info := &engine.RunInfo{Started: true, Key: r.Details["digest"], LastSeq: run[len(run)-1].Seq, Agent: r.Actor.Agent, Commit: r.Commit,
		Cluster: r.Details["cluster"], Run: 1, StartSeq: r.Seq, StartedAt: r.Time, Starter: r.Actor.String()}
	if n, err := strconv.Atoi(r.Details["run"]); err == nil && n > 1 {
		info.Run = n
	}
	for _, r := range run[1:] {
		switch r.Event {
		case engine.EventCompleted:
			info.Completed = true
		case engine.EventRolledBack:
			info.RolledBack = true
		}
	}
	return info
}

// setSplit is the weight to Y a step sets when it ends well.
func setSplit(step string) (int, bool) {
	if step == "rollback_traffic" {
		return 0, true
	}
	if w, ok := strings.CutPrefix(step, "traffic_"); ok {
		if n, err := strconv.Atoi(w); err == nil {
			return n, true
		}
	}
	return 0, false
}

// eventText is an event's details for a person, each part separated.
func eventText(r engine.Record) string {
	d := r.Details
	switch r.Event {
	case engine.EventMeasurement:
		s := d["analysis"] + " " + d["result"]
		if d["value"] != "" {
			s += " " + d["value"]
		}
		if d["reason"] != "" {
			s += ": " + d["reason"]
		}
		return s
	case engine.EventAwaitingApproval:
		return fmt.Sprintf("%s waits for approve = [%q]", d["step"], d["approve"])
	case engine.EventGate:
		return strings.TrimSpace(d["gate"] + " " + d["result"] + ": " + d["message"])
	case engine.EventNotification:
		s := fmt.Sprintf("%s to %s: %s (attempts: %s)", d["event"], d["receiver"], d["result"], d["attempts"])
		if d["error"] != "" {
			s += ": " + d["error"]
		}
		return s
	case engine.EventApproved, engine.EventPaused, engine.EventResumed, engine.EventAbortRequested:
		return engine.ControlText(r)
	}
	var parts []string
	for _, k := range []string{"reason", "message"} {
		if d[k] != "" {
			parts = append(parts, d[k])
		}
	}
	if len(parts) == 0 {
		keys := make([]string, 0, len(d))
		for k := range d {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			parts = append(parts, k+"="+d[k])
		}
		return strings.Join(parts, " ")
	}
	return strings.Join(parts, ": ")
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

// wedged says why the poll loop is stuck ("" when it is not): a poll
// that has run longer than Config.WedgedAfter. A liveness probe restarts
// the process; the journal keeps what it did.
func (a *Agent) wedged() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.polling.IsZero() {
		if d := a.cfg.Now().Sub(a.polling); d > a.cfg.WedgedAfter {
			return fmt.Sprintf("poll loop wedged: the poll started at %s has run for %s (more than %s)",
				a.polling.UTC().Format(time.RFC3339), d.Round(time.Second), a.cfg.WedgedAfter)
		}
	}
	return ""
}

// ready says what this agent is when it can serve (the leader; a standby
// that reaches the shared journal; an agent alone that has polled) and
// why not otherwise. A standby's journal is read with a short timeout:
// the status it serves comes from there.
func (a *Agent) ready(ctx context.Context) (string, error) {
	a.mu.Lock()
	known, leads, polled := a.roleKnown, a.isLeader, a.haveHead
	a.mu.Unlock()
	switch {
	case known && leads:
		return "leader", nil
	case !known && !polled:
		return "", errors.New("no successful poll yet")
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := a.cfg.Store.Plans(pctx); err != nil {
		return "", fmt.Errorf("the journal is not reachable: %s", engine.RedactSecrets(err.Error()))
	}
	if known {
		return "standby, journal reachable", nil
	}
	return "polled, journal reachable", nil
}

//go:embed page/index.html
var page embed.FS

// Handler serves /healthz, /readyz, /metrics, /api/v1/status and the
// status page at /. The webhook is mounted by the caller.
func (a *Agent) Handler() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if why := a.wedged(); why != "" {
			http.Error(w, "unhealthy: "+why, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		what, err := a.ready(r.Context())
		if err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok: " + what + "\n"))
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		conds := map[string]int{}
		for _, st := range a.plans {
			conds[st.Condition.Type]++
		}
		leader := !a.roleKnown || a.isLeader
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		a.metrics.write(w, conds, leader)
	})
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(a.Status(r.Context()))
	})
	a.controlRoutes(mux) // POST /api/v1/plans/{name}/approve|pause|resume|abort
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := page.ReadFile("page/index.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
		_, _ = w.Write(b)
	})
	return mux
}
