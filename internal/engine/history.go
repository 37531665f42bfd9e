package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/plan"
)

// Events the engine writes to mark a run of a plan (see history).
const (
	EventRunStarted = "run_started" // Details: digest, cluster
	EventCompleted  = "completed"   // every upgrade step done
	EventRolledBack = "rolled_back" // Details: digest, reason
	EventRecovered  = "recovered"   // Details: step, intent_seq: an intent found with no outcome
	EventStalled    = "stalled"     // Details: reason, message (written once per distinct stall)
	// EventAwaitingApproval: the run stopped at a gate. Details: step,
	// approve (the gate's consent item), listed ("1" when the plan's
	// approve already held the item then), plan_approve, and the record's
	// commit. Written when the run first stops there and again whenever
	// the item's presence or the commit changes while it waits; consent
	// counts only for an item absent from the last one (see consent).
	EventAwaitingApproval = "awaiting_approval"
)

// history is what the journal says about the current run of a plan: the
// records since the last run_started. A run ends when the plan completes
// (never undone) or is rolled back; a rolled-back run stays the current
// one, so the plan stays rolled back, until the plan's content changes
// (its digest): then the next apply starts a new run.
type history struct {
	start  int64  // seq of run_started; 0 when there is no run yet
	digest string // the run's plan digest
	newRun bool   // an apply would start a new run (nothing counts yet)
	run    int    // the current run's run attribute (run_started's "run", default 1)

	ok       map[string]Record // last ok outcome per step in this run
	intents  map[string]int    // intents per step in this run
	failures map[string]Record // last failed outcome per step (since its last ok)
	pending  *Record           // an intent with no outcome (a crash)
	last     map[string]Record // last intent or outcome per step in this run

	lastIntent map[string]Record // last intent per step in this run (outcome or not)

	rollback   string // reason, when a rollback was requested in this run
	gateFailed bool   // the rollback was asked for by a failed gate
	rolledBack bool
	completed  bool

	lastStall string // reason+message of the last stalled event in this run
	// measurements are this run's measurement events, in order: X's
	// baseline for the analyses is read back from them.
	measurements []Record
	gates        map[string]Record // last awaiting_approval event per consent item in this run
	// Runtime controls in this run (control.go): approved holds the
	// consent items approved after the run stopped at their gate; paused
	// the pause in force (nil: none, or resumed); abort the rollback a
	// person asked for.
	approved map[string]*Record
	paused   *Record
	abort    string
	lastSeq  int64
	// earlierActed: an earlier run of this plan in this journal ran a
	// step that acts on Y (anything past guard, freeze and backup).
	earlierActed bool
}

// readHistory reads the current run from recs (one plan's records, in
// order) for a plan whose content has digest.
func readHistory(recs []Record, digest string) *history {
	h := &history{}
	startIdx := -1
	for i, r := range recs {
		if r.Kind == KindEvent && r.Event == EventRunStarted {
			startIdx = i
		}
	}
	if len(recs) > 0 {
		h.lastSeq = recs[len(recs)-1].Seq
	}
	h.reset()
	if startIdx < 0 {
		h.newRun = true
		return h
	}
	for _, r := range recs[:startIdx] {
		if r.Kind == KindOutcome && r.Result == ResultOK && !preparatory(r.Step) {
			h.earlierActed = true
		}
	}
	h.start = recs[startIdx].Seq
	h.digest = recs[startIdx].Details["digest"]
	h.run = 1
	if n, err := strconv.Atoi(recs[startIdx].Details["run"]); err == nil && n > 1 {
		h.run = n
	}
	run := recs[startIdx+1:]
	h.pending, _ = pendingIn(run)
	for _, r := range run {
		if r.Kind == KindIntent || r.Kind == KindOutcome {
			h.last[r.Step] = r
		}
		switch r.Kind {
		case KindIntent:
			h.intents[r.Step]++
			h.lastIntent[r.Step] = r
		case KindOutcome:
			switch r.Result {
			case ResultOK:
				h.ok[r.Step] = r
				delete(h.failures, r.Step)
			case ResultFailed:
				h.failures[r.Step] = r
			}
		case KindEvent:
			switch r.Event {
			case EventRollbackRequested:
				if h.rollback == "" {
					h.rollback = r.Details["reason"]
					h.gateFailed = r.Details["gate"] != ""
				}
			case EventRolledBack:
				h.rolledBack = true
			case EventCompleted:
				h.completed = true
			case EventStalled:
				h.lastStall = r.Details["reason"] + "\n" + r.Details["message"]
			case EventAwaitingApproval:
				h.gates[r.Details["approve"]] = r
			case EventMeasurement:
				h.measurements = append(h.measurements, r)
			case EventApproved:
				// Consent at the gate: only after the run stopped there.
				if _, ok := h.gates[r.Details["item"]]; ok {
					h.approved[r.Details["item"]] = &r
				}
			case EventPaused:
				h.paused = &r
			case EventResumed:
				h.paused = nil
			case EventAbortRequested:
				if h.abort == "" {
					h.abort = controlText(r)
				}
			}
		}
	}
	if h.rolledBack && h.digest != digest {
		// The plan changed after its rollback: a new run.
		h.reset()
		h.newRun = true
	}
	return h
}

// nextRun starts a new run when the current one ended (completed or
// rolled back) and the plan's run attribute says another: the explicit
// way to upgrade again. While a run is in progress run changes nothing
// (plan says so).
func (h *history) nextRun(run int) {
	if h.start == 0 || h.newRun || !(h.completed || h.rolledBack) || h.run == run {
		return
	}
	h.reset()
	h.newRun = true
}

func (h *history) reset() {
	h.ok = map[string]Record{}
	h.intents = map[string]int{}
	h.lastIntent = map[string]Record{}
	h.failures = map[string]Record{}
	h.last = map[string]Record{}
	h.pending = nil
	h.rollback, h.gateFailed, h.rolledBack, h.completed = "", false, false, false
	h.lastStall = ""
	h.gates = map[string]Record{}
	h.measurements = nil
	h.approved, h.paused, h.abort = map[string]*Record{}, nil, ""
}

func (h *history) done(step string) bool { _, ok := h.ok[step]; return ok }

// pastBackup: a step after the backup has an intent in this run.
func (h *history) pastBackup() bool {
	for st, n := range h.intents {
		if n > 0 && st != "guard" && st != "preflight" && st != "freeze" && st != "backup" {
			return true
		}
	}
	return false
}

// pastPreflight: a step after preflight has an intent in this run.
func (h *history) pastPreflight() bool {
	for st, n := range h.intents {
		if n > 0 && st != "guard" && st != "preflight" {
			return true
		}
	}
	return false
}

// detail is a detail of step's last ok outcome.
func (h *history) detail(step, key string) string { return h.ok[step].Details[key] }

// Digest identifies a plan's content: a hash of its decoded form without
// source positions, so moving or commenting a block does not change it
// but changing any value does. A rolled-back plan starts again only when
// its digest changes.
func Digest(p *plan.Plan) string {
	b, err := json.Marshal(p)
	if err != nil {
		return ""
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return ""
	}
	v = stripPositions(v)
	b, _ = json.Marshal(v)
	if n := p.RunNumber(); n > 1 {
		// Only then: a plan without run keeps its digest (journals
		// written before the attribute existed).
		b = append(b, fmt.Sprintf(";run=%d", n)...)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// stripPositions removes source ranges and file names from a decoded plan.
func stripPositions(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if k == "File" || strings.HasSuffix(k, "Range") || strings.HasSuffix(k, "Ranges") {
				continue
			}
			out[k] = stripPositions(x)
		}
		return out
	case []any:
		for i := range t {
			t[i] = stripPositions(t[i])
		}
		return t
	}
	return v
}

// RunInfo is what the journal says of a plan's current run, for callers
// that schedule plans (the agent): whether one started, completed or was
// rolled back, and its key.
type RunInfo struct {
	Started    bool   `json:"started"`
	Completed  bool   `json:"completed"`
	RolledBack bool   `json:"rolled_back"`
	Key        string `json:"key,omitempty"` // the run's RunKey (digest)
	LastSeq    int64  `json:"last_seq"`
	// Agent is the agent that started the run (its run_started record's
	// Actor.Agent); "" when the CLI did. Commit is that record's commit.
	Agent  string `json:"agent,omitempty"`
	Commit string `json:"commit,omitempty"`
	// Cluster is the plan's cluster as run_started recorded it ("" in
	// journals older than the record); StartSeq, StartedAt and Starter
	// (its Actor) say which run and who started it.
	Cluster   string    `json:"cluster,omitempty"`
	Run       int       `json:"run,omitempty"` // the plan's run attribute when it started (1 in older journals)
	StartSeq  int64     `json:"start_seq,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Starter   string    `json:"starter,omitempty"`
	// Rollback is the reason of the run's rollback once one was
	// requested (a failed gate, the plan); "" otherwise.
	Rollback string `json:"rollback,omitempty"`
}

// InProgress: a run started and neither completed nor rolled back.
func (r RunInfo) InProgress() bool { return r.Started && !r.Completed && !r.RolledBack }

// ReadRun reads plan's current run from s. Read-only.
func ReadRun(ctx context.Context, s Store, plan string) (RunInfo, error) {
	recs, err := s.Records(ctx, plan, 0)
	if err != nil {
		return RunInfo{}, err
	}
	return runInfo(recs), nil
}

// runInfo is ReadRun on records already read.
func runInfo(recs []Record) RunInfo {
	h := readHistory(recs, "")
	if h.start == 0 {
		return RunInfo{LastSeq: h.lastSeq}
	}
	// readHistory resets a rolled-back run whose key differs from the one
	// given; read the flags from the records themselves.
	info := RunInfo{Started: true, Key: h.digest, LastSeq: h.lastSeq, Run: h.run, Rollback: h.rollback}
	for _, r := range recs {
		if r.Seq == h.start {
			info.Agent, info.Commit = r.Actor.Agent, r.Commit
			info.Cluster, info.StartSeq, info.StartedAt, info.Starter = r.Details["cluster"], r.Seq, r.Time, r.Actor.String()
		}
		if r.Seq <= h.start || r.Kind != KindEvent {
			continue
		}
		switch r.Event {
		case EventCompleted:
			info.Completed = true
		case EventRolledBack:
			info.RolledBack = true
		}
	}
	return info
}
