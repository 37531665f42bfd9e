package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Runtime controls (upshift approve|pause|resume|abort): a person's
// decision written to the plan's journal as an event, so that it holds
// across an agent restart and a leader change, and for upshift apply
// too. The engine reads them at each step boundary (history): approved
// counts as consent at the gate, paused holds the next step, resumed ends
// the hold, abort_requested asks for a rollback as
// rollback { requested = true } does. A running step is never cut short,
// except a pause's wait: a hold stops its countdown, an abort ends it.
const (
	EventApproved       = "approved"        // Details: item, step, reason, by, gate_seq
	EventPaused         = "paused"          // Details: reason, by
	EventResumed        = "resumed"         // Details: reason, by
	EventAbortRequested = "abort_requested" // Details: reason, by
)

// ReasonPaused: a person paused the plan (upshift pause); the next step
// waits for upshift resume; traffic stays as it is.
const ReasonPaused = "Paused"

// Control actions.
const (
	ActionApprove = "approve"
	ActionPause   = "pause"
	ActionResume  = "resume"
	ActionAbort   = "abort"
)

// ControlRequest is one runtime control: Item is approve's consent item;
// By is who claims to ask (not verified: whoever holds the admin token).
type ControlRequest struct {
	Action string `json:"-"`
	Item   string `json:"item,omitempty"`
	Reason string `json:"reason"`
	By     string `json:"by,omitempty"`
}

// ErrNoPlan: the journal has no record of the plan.
var ErrNoPlan = errors.New("no such plan in the journal")

// ControlError is a control refused because of the run's state (HTTP 409).
type ControlError struct{ Msg string }

func (e *ControlError) Error() string { return e.Msg }

const maxControlText = 500

// Control validates req against the plan's current run, as the journal
// holds it now, and appends the control's event. Refused (a
// *ControlError): approve when the run does not wait at that item's gate,
// pause when paused, resume when not paused, anything when no run is in
// progress or a rollback already is. actor names the writer (the agent).
func Control(ctx context.Context, s Store, planName string, req ControlRequest, actor Actor) (Record, error) {
	req.Reason, req.By, req.Item = strings.TrimSpace(req.Reason), strings.TrimSpace(req.By), strings.TrimSpace(req.Item)
	switch {
	case req.Reason == "":
		return Record{}, &ControlError{"a reason is required (--reason)"}
	case utf8.RuneCountInString(req.Reason) > maxControlText || len(req.By) > 200 || len(req.Item) > 200:
		return Record{}, &ControlError{fmt.Sprintf("reason, by or item too long (at most %d characters)", maxControlText)}
	case req.Action == ActionApprove && req.Item == "":
		return Record{}, &ControlError{"approve needs the consent item (e.g. decommission)"}
	}
	recs, err := s.Records(ctx, planName, 0)
	if err != nil {
		return Record{}, fmt.Errorf("read the journal of plan %q: %w", planName, err)
	}
	if len(recs) == 0 {
		return Record{}, fmt.Errorf("plan %q: %w", planName, ErrNoPlan)
	}
	info := runInfo(recs)
	if !info.InProgress() {
		what := "no run has started"
		switch {
		case info.Completed:
			what = "its run completed"
		case info.RolledBack:
			what = "its run was rolled back"
		}
		return Record{}, &ControlError{fmt.Sprintf("plan %q: %s; %s acts only on a run in progress", planName, what, req.Action)}
	}
	h := readHistory(recs, info.Key)
	by := req.By
	if by == "" {
		by = "(not given)"
	}
	d := map[string]string{"reason": req.Reason, "by": by}
	var event string
	switch req.Action {
	case ActionApprove:
		g, ok := h.gates[req.Item]
		step := g.Details["step"]
		switch {
		case h.rollback != "" || h.abort != "":
			return Record{}, &ControlError{fmt.Sprintf("plan %q is rolling back (%s): there is nothing to approve", planName, firstOf(h.rollback, h.abort))}
		case !ok:
			return Record{}, &ControlError{fmt.Sprintf("plan %q is not waiting for approval of %q in this run: approve is consent given at the gate, once the run has stopped there (upshift status --plan %s shows where it stands)", planName, req.Item, planName)}
		case h.intents[step] > 0:
			return Record{}, &ControlError{fmt.Sprintf("plan %q: %s (%q) has already begun in this run: nothing to approve", planName, step, req.Item)}
		case h.approved[req.Item] != nil:
			a := h.approved[req.Item]
			return Record{}, &ControlError{fmt.Sprintf("plan %q: %q was already approved by %s at %s", planName, req.Item, a.Details["by"], a.Time.UTC().Format(time.RFC3339))}
		}
		event = EventApproved
		d["item"], d["step"], d["gate_seq"] = req.Item, step, fmt.Sprint(g.Seq)
	case ActionPause:
		switch {
		case h.rollback != "" || h.abort != "":
			return Record{}, &ControlError{fmt.Sprintf("plan %q is rolling back (%s): a rollback is not paused", planName, firstOf(h.rollback, h.abort))}
		case h.paused != nil:
			return Record{}, &ControlError{fmt.Sprintf("plan %q is already paused (by %s at %s: %s)", planName, h.paused.Details["by"], h.paused.Time.UTC().Format(time.RFC3339), h.paused.Details["reason"])}
		}
		event = EventPaused
	case ActionResume:
		if h.paused == nil {
			return Record{}, &ControlError{fmt.Sprintf("plan %q is not paused", planName)}
		}
		event = EventResumed
	case ActionAbort:
		if h.rollback != "" || h.abort != "" {
			return Record{}, &ControlError{fmt.Sprintf("plan %q is already rolling back (%s)", planName, firstOf(h.rollback, h.abort))}
		}
		event = EventAbortRequested
	default:
		return Record{}, &ControlError{fmt.Sprintf("unknown action %q (approve, pause, resume, abort)", req.Action)}
	}
	r, err := s.Append(ctx, Record{Plan: planName, Kind: KindEvent, Event: event, Actor: actor, Commit: info.Commit, Details: d})
	if err != nil {
		return Record{}, fmt.Errorf("plan %q: journal the %s: %w", planName, req.Action, err)
	}
	return r, nil
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// controlText is a control event for a person: "paused by NAME: REASON".
func controlText(r Record) string {
	what := map[string]string{EventApproved: "approved " + r.Details["item"], EventPaused: "paused",
		EventResumed: "resumed", EventAbortRequested: "abort requested"}[r.Event]
	return fmt.Sprintf("%s by %s: %s", what, r.Details["by"], r.Details["reason"])
}

// ControlText describes a control event ("" for other records).
func ControlText(r Record) string {
	switch r.Event {
	case EventApproved, EventPaused, EventResumed, EventAbortRequested:
		return controlText(r)
	}
	return ""
}

// pausedCondition is the hold's condition.
func pausedCondition(p *Record) Condition {
	return Condition{Type: ConditionStalled, Reason: ReasonPaused,
		Message: fmt.Sprintf("%s at %s; traffic stays as it is; upshift resume continues, upshift abort rolls back",
			controlText(*p), p.Time.UTC().Format(time.RFC3339))}
}

// controls reads the run's controls now (a pause's wait asks every
// second): paused and the abort's reason.
func (e *Engine) controls(ctx context.Context) (*Record, string, error) {
	if e.cfg.Store == nil {
		return nil, "", nil
	}
	h, err := e.history(ctx)
	if err != nil {
		return nil, "", err
	}
	return h.paused, h.abort, nil
}

// abortError ends a pause's wait: a person asked for a rollback.
type abortError struct{ reason string }

func (e *abortError) Error() string { return "the pause ended early: " + e.reason }
