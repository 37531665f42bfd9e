package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/upshift-dev/upshift/schema"
)

// The journal is the engine's write-ahead record of what it did to a plan's
// world. Before a step's Apply the engine appends an Intent; after it, an
// Outcome that names the intent. Free-form Events record everything else a
// person reading the history needs (gate results, a rollback requested, a
// lease broken by whom).
//
// Contract shared by every Store (the conformance suite in
// journal_conformance_test.go checks it on each):
//   - Records of one plan are append-only and totally ordered; Seq starts at
//     1 and increases by exactly 1 per record of that plan, whoever writes.
//   - An Append that returned nil is durable (fsync'd file or committed
//     transaction); one that returned an error wrote nothing. A crash during
//     an Append leaves either the whole record or none of it.
//   - Appends are fenced by the plan's lease (see lease.go): an Intent needs
//     the live lease's token; an Outcome or Event carrying a token is
//     refused once a newer lease (or a Break) has superseded that token;
//     only Events may carry no token (a person's note, written by a command
//     that holds no lease).
//   - Reads never block on a live lease and never see a partial record.
//
// After a crash, an Intent with no Outcome (see [Pending]) means "observe
// first, then decide": the step may have run, partly or fully.

// Kind says what a Record is.
type Kind string

const (
	KindIntent  Kind = "intent"  // written before a step's Apply
	KindOutcome Kind = "outcome" // written after it, naming the intent
	KindEvent   Kind = "event"   // anything else worth a line in the history
)

// Result is an Outcome's verdict.
type Result string

const (
	ResultOK        Result = "ok"        // Apply returned nil
	ResultFailed    Result = "failed"    // Apply returned an error
	ResultCancelled Result = "cancelled" // the context ended (Ctrl-C, lease lost) before Apply finished
	ResultSkipped   Result = "skipped"   // observation after the intent showed nothing to do
)

// Well-known Event names. Events are free-form; these are the ones other
// packages rely on.
const (
	EventLeaseBroken       = "lease_broken"       // Details: holder, token, reason; Actor.Who: who broke it
	EventGate              = "gate"               // Details: gate, result, message
	EventRollbackRequested = "rollback_requested" // Details: reason
	// EventMeasurement is one measurement of an analysis during a pause.
	// Details: step, analysis, result (passed|failed|inconclusive),
	// value, reason; for compare = "kong_metrics" also x_requests,
	// x_error_rate, y_requests, y_error_rate, x_p99_ms, y_p99_ms, and for
	// a Prometheus side query x_value, y_value (decimal strings, empty
	// when unknown); against: window (X in the same window) or baseline
	// (X's baseline, read back from this run's earlier measurements).
	EventMeasurement = "measurement"
)

// Actor says who wrote a record.
type Actor struct {
	Host  string `json:"host,omitempty"`
	PID   int    `json:"pid,omitempty"`
	Agent string `json:"agent,omitempty"` // agent identity, empty for the CLI
	Who   string `json:"who,omitempty"`   // a person, for commands such as unlock
}

func (a Actor) String() string {
	s := fmt.Sprintf("%s/%d", a.Host, a.PID)
	if a.Agent != "" {
		s += " agent " + a.Agent
	}
	if a.Who != "" {
		s += " (" + a.Who + ")"
	}
	return s
}

// Record is one line of a plan's journal. The store sets Seq (and Time when
// zero); everything else is the writer's.
type Record struct {
	Plan  string    `json:"plan"`
	Seq   int64     `json:"seq"`
	Kind  Kind      `json:"kind"`
	Time  time.Time `json:"time"`
	Token int64     `json:"token,omitempty"` // fencing token of the lease it was written under; 0: none
	Actor Actor     `json:"actor"`

	Commit string `json:"commit,omitempty"` // the plan's commit, when known
	Author string `json:"author,omitempty"` // that commit's author, when known

	// Intent and Outcome.
	Step    string `json:"step,omitempty"`
	Attempt int    `json:"attempt,omitempty"` // 1 for the first try of a step in this run of the plan

	// Outcome.
	IntentSeq int64         `json:"intent_seq,omitempty"` // the Intent this Outcome closes
	Result    Result        `json:"result,omitempty"`
	Error     string        `json:"error,omitempty"`
	Output    string        `json:"output,omitempty"` // redacted, bounded (see Journal)
	Duration  time.Duration `json:"duration,omitempty"`

	// Event.
	Event string `json:"event,omitempty"`

	Details map[string]string `json:"details,omitempty"`
}

// Store keeps journals and leases of many plans. Implementations:
// [DirStore] (the default) and [PGStore]. All methods are safe for
// concurrent use, also by several processes sharing the same directory or
// database.
type Store interface {
	// Append validates rec, checks its fencing token (see the contract
	// above), gives it the plan's next Seq (and Time when zero) and makes
	// it durable. It returns the record as stored. Not idempotent: a retry
	// after an error whose outcome is unknown (a connection lost at commit)
	// may append twice; Seq tells the copies apart.
	Append(ctx context.Context, rec Record) (Record, error)
	// Records returns plan's records with Seq > since, in order. Read-only.
	Records(ctx context.Context, plan string, since int64) ([]Record, error)
	// Plans lists the plans that have a journal or a lease, sorted.
	Plans(ctx context.Context) ([]string, error)

	// Acquire takes plan's lease for holder for ttl, with a fencing token
	// greater than any the plan has seen. It fails with a *LeaseHeldError
	// (errors.Is ErrLeaseHeld) while another lease is live, also one held
	// by the same holder name. See [Lease] for renewal and loss.
	Acquire(ctx context.Context, plan, holder string, ttl time.Duration) (*Lease, error)
	// LeaseState reads plan's lease without changing it.
	LeaseState(ctx context.Context, plan string) (LeaseState, error)
	// Break ends plan's lease whoever holds it (upshift unlock): the token
	// is advanced so the old holder's later appends are refused, and an
	// EventLeaseBroken naming who and why is appended in the same critical
	// section. It returns the state as it was before. Breaking a free lease
	// still records the event.
	Break(ctx context.Context, plan, who, reason string) (LeaseState, error)

	// Close releases the store's resources (not its leases).
	Close() error
}

// LeaseState is a plan's lease as the store sees it.
type LeaseState struct {
	Plan     string
	Holder   string    // empty when free
	Token    int64     // the latest token handed out (or advanced by Break)
	Expires  time.Time // zero when free
	Live     bool      // held and not expired, by the store's clock
	BrokenBy string    // who broke the last lease, if the last change was a Break
	Reason   string    // why
}

// Errors. Each concrete error type below matches one of these with errors.Is.
var (
	ErrLeaseHeld     = errors.New("lease held")
	ErrLeaseLost     = errors.New("lease lost")
	ErrFenced        = errors.New("append fenced")
	ErrCorrupt       = errors.New("journal corrupt")
	ErrInvalidRecord = errors.New("invalid record")
)

// LeaseHeldError: Acquire found a live lease.
type LeaseHeldError struct {
	Plan, Holder string
	Token        int64
	Expires      time.Time
}

func (e *LeaseHeldError) Error() string {
	return fmt.Sprintf("plan %q: lease held by %s (token %d) until %s", e.Plan, e.Holder, e.Token, e.Expires.UTC().Format(time.RFC3339Nano))
}
func (e *LeaseHeldError) Is(target error) bool { return target == ErrLeaseHeld }

// LeaseLostError: the lease with Token is no longer held (Reason says how).
type LeaseLostError struct {
	Plan   string
	Token  int64
	Reason string
}

func (e *LeaseLostError) Error() string {
	return fmt.Sprintf("plan %q: lease (token %d) lost: %s", e.Plan, e.Token, e.Reason)
}
func (e *LeaseLostError) Is(target error) bool { return target == ErrLeaseLost }

// FencedError: an append was refused because its token is not (or no
// longer) the plan's lease.
type FencedError struct {
	Plan    string
	Kind    Kind
	Token   int64 // the record's
	Current int64 // the store's
	Reason  string
}

func (e *FencedError) Error() string {
	return fmt.Sprintf("plan %q: %s with token %d refused (current token %d): %s", e.Plan, e.Kind, e.Token, e.Current, e.Reason)
}
func (e *FencedError) Is(target error) bool { return target == ErrFenced }

// validPlanName refuses a name that cannot be a journal identity: the rule
// of schema's UP038 (schema.ValidPlanName), which keeps plan names safe as
// file names.
func validPlanName(name string) error {
	if !schema.ValidPlanName(name) {
		return fmt.Errorf("plan name %q: want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit: %w", name, ErrInvalidRecord)
	}
	return nil
}

// checkRecord validates what a writer must fill in before Append.
func checkRecord(rec *Record) error {
	if err := validPlanName(rec.Plan); err != nil {
		return err
	}
	bad := func(msg string) error {
		return fmt.Errorf("plan %q: %s record: %s: %w", rec.Plan, rec.Kind, msg, ErrInvalidRecord)
	}
	if rec.Token < 0 {
		return bad("negative token")
	}
	switch rec.Kind {
	case KindIntent:
		if rec.Step == "" {
			return bad("no step")
		}
		if rec.Token == 0 {
			return bad("an intent needs the lease's token")
		}
	case KindOutcome:
		if rec.Step == "" || rec.IntentSeq <= 0 || rec.Result == "" {
			return bad("an outcome needs step, intent_seq and result")
		}
		if rec.Token == 0 {
			return bad("an outcome needs the lease's token")
		}
	case KindEvent:
		if rec.Event == "" {
			return bad("no event name")
		}
	default:
		return bad("unknown kind")
	}
	return nil
}

// fence decides whether rec may be appended given the plan's lease: cur is
// the current token, live whether a lease with it is held and unexpired.
func fence(rec *Record, cur int64, live bool) error {
	if rec.Token == 0 { // only events get here (checkRecord)
		return nil
	}
	if rec.Token != cur {
		reason := "a newer lease or a break superseded it"
		if rec.Token > cur {
			reason = "no such lease was handed out"
		}
		return &FencedError{Plan: rec.Plan, Kind: rec.Kind, Token: rec.Token, Current: cur, Reason: reason}
	}
	if rec.Kind == KindIntent && !live {
		return &FencedError{Plan: rec.Plan, Kind: rec.Kind, Token: rec.Token, Current: cur, Reason: "the lease is released or expired; an intent needs a live lease"}
	}
	return nil
}

// Pending returns plan's last Intent that has no Outcome, if any: after a
// crash, the step it names must be observed before anything is decided.
// Only the last intent counts: an earlier unanswered intent was already
// followed by other work, so it was resolved by observation then.
func Pending(ctx context.Context, s Store, plan string) (*Record, bool, error) {
	recs, err := s.Records(ctx, plan, 0)
	if err != nil {
		return nil, false, err
	}
	r, ok := pendingIn(recs)
	return r, ok, nil
}

func pendingIn(recs []Record) (*Record, bool) {
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Kind != KindIntent {
			continue
		}
		for _, later := range recs[i+1:] {
			if later.Kind == KindOutcome && later.IntentSeq == recs[i].Seq {
				return nil, false
			}
		}
		r := recs[i]
		return &r, true
	}
	return nil, false
}
