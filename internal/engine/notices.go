package engine

import (
	"context"
	"fmt"
	"strconv"

	"github.com/upshift-dev/upshift/internal/notify"
)

// EventNotification records one notification's delivery, written by the
// dispatcher's goroutine with no lease token (it may come after the run's
// lease was released). Details: receiver (no URL), event, event_seq,
// result (sent | failed | dropped), attempts, error (masked).
const EventNotification = "notification"

// notice is where the engine's journal becomes notifications: the
// Journal calls it after each record it appended (see Journal.Notice), so
// that a notification reports what the journal durably holds, once.
func (e *Engine) notice(rec Record) {
	if e.cfg.Notify == nil {
		return
	}
	ev := notify.Event{ID: fmt.Sprintf("%s/%d", rec.Plan, rec.Seq), Plan: rec.Plan, Cluster: e.plan.Cluster.Value,
		Commit: rec.Commit, Run: e.plan.RunNumber(), Time: rec.Time}
	d := rec.Details
	switch {
	case rec.Kind == KindOutcome && rec.Result == ResultOK && e.noReturn(rec.Step):
		ev.Event, ev.Step, ev.Condition, ev.Reason = notify.NoReturnCrossed, rec.Step, ConditionProgressing, ReasonStepsPending
		ev.Message = rec.Step + " is done: the way back is a restore from the backup, no longer a rollback"
	case rec.Kind != KindEvent:
		return
	case rec.Event == EventMeasurement:
		e.noticeMu.Lock()
		e.measured = d
		e.noticeMu.Unlock()
		return
	case rec.Event == EventRunStarted:
		ev.Event, ev.Condition, ev.Reason = notify.RunStarted, ConditionProgressing, ReasonStepsPending
		if n, err := strconv.Atoi(d["run"]); err == nil {
			ev.Run = n
		}
		ev.Message = fmt.Sprintf("upgrading Kong %s to %s (%s)", e.plan.From.Version.Value, e.plan.To.Version.Value, e.plan.Strategy.Value)
	case rec.Event == EventAwaitingApproval:
		ev.Event, ev.Step, ev.Condition, ev.Reason = notify.AwaitingApproval, d["step"], ConditionStalled, ReasonAwaitingApproval
		ev.Message = e.gateMessage(step{name: d["step"], approve: d["approve"]})
	case rec.Event == EventGate && d["result"] == "failed":
		ev.Event, ev.Step, ev.Reason, ev.Message = notify.GateFailed, d["gate"], ReasonGateFailed, d["message"]
		e.noticeMu.Lock()
		if m := e.measured; m != nil && m["step"] == d["gate"] {
			ev.Measured = m
		}
		e.noticeMu.Unlock()
	case rec.Event == EventStalled && d["reason"] == ReasonAwaitingApproval:
		return // awaiting_approval said it, with the step
	case rec.Event == EventStalled:
		ev.Event, ev.Condition, ev.Reason, ev.Message = notify.Stalled, ConditionStalled, d["reason"], d["message"]
		if d["reason"] == ReasonDriftDetected {
			ev.Event = notify.DriftDetected
		}
	case rec.Event == EventRolledBack:
		ev.Event, ev.Condition, ev.Reason = notify.RolledBack, ConditionReady, ReasonRolledBack
		how := "on request"
		if d["automatic"] != "" {
			how = "automatically, after a failed gate"
		}
		ev.Message = "rolled back " + how + ": " + d["reason"]
	case rec.Event == EventCompleted:
		ev.Event, ev.Condition, ev.Reason = notify.Completed, ConditionReady, ReasonConverged
		ev.Message = fmt.Sprintf("converged on Kong %s", e.plan.To.Version.Value)
	default:
		return
	}
	e.cfg.Notify.Notify(ev)
}

// noReturn reports whether the upgrade's step name is a point of no return.
func (e *Engine) noReturn(name string) bool {
	for _, st := range e.table() {
		if st.name == name {
			return st.noReturn
		}
	}
	return false
}

// DeliveryRecorder journals each notification delivery of store's plans
// as an EventNotification (no lease token: a note, not a step's record).
func DeliveryRecorder(ctx context.Context, store Store, actor Actor) func(notify.Delivery) {
	if actor == (Actor{}) {
		actor = localActor()
	}
	return func(d notify.Delivery) {
		details := map[string]string{"receiver": d.Receiver, "event": d.Event.Event, "event_id": d.Event.ID,
			"result": d.Result, "attempts": strconv.Itoa(d.Attempts)}
		if d.Error != "" {
			details["error"] = redactSecrets(d.Error)
		}
		_, _ = store.Append(context.WithoutCancel(ctx), Record{Plan: d.Event.Plan, Kind: KindEvent, Event: EventNotification,
			Actor: actor, Commit: d.Event.Commit, Details: details})
	}
}
