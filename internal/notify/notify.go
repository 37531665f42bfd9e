// Package notify tells people and systems what happened to a plan's run:
// a generic JSON webhook (HMAC-signed), a Slack incoming webhook, and a
// commit status on the plan's commit (GitHub, GitLab). The engine reports
// events to a [Sink] that never blocks it; a [Dispatcher] delivers them
// from one bounded queue per receiver, retrying with exponential backoff,
// and reports each delivery (sent, failed, dropped) for the journal.
//
// URLs and secrets never appear in a receiver's name, in a log line or in
// an error: a receiver is named by its kind, where it was configured and
// its host.
package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Event kinds: one per thing an on-call person wants to hear about.
const (
	RunStarted       = "run_started"
	AwaitingApproval = "awaiting_approval"
	NoReturnCrossed  = "point_of_no_return_crossed"
	GateFailed       = "gate_failed"
	DriftDetected    = "drift_detected"
	RolledBack       = "rolled_back"
	Stalled          = "stalled"
	Completed        = "completed"
)

// Kinds lists every event kind, in the order a run meets them.
var Kinds = []string{RunStarted, AwaitingApproval, NoReturnCrossed, GateFailed, DriftDetected, RolledBack, Stalled, Completed}

// Event is one notification; its JSON is the generic webhook's body.
type Event struct {
	// ID is the journal record the event reports ("plan/seq"): the same
	// event delivered twice (a retry after a lost answer) has one ID.
	ID        string    `json:"id"`
	Event     string    `json:"event"`
	Plan      string    `json:"plan"`
	Cluster   string    `json:"cluster,omitempty"`
	Commit    string    `json:"commit,omitempty"`
	Run       int       `json:"run,omitempty"`
	Step      string    `json:"step,omitempty"`
	Condition string    `json:"condition,omitempty"` // Progressing, Stalled, Ready
	Reason    string    `json:"reason,omitempty"`
	Message   string    `json:"message,omitempty"`
	Time      time.Time `json:"time"`
	// Measured holds the figures behind the event, where there are some:
	// a failed gate's last measurement (requests, error rates, p99s).
	Measured map[string]string `json:"measured,omitempty"`
}

// Sink takes events. Notify must return at once: it is called from the
// engine between and during steps.
type Sink interface {
	Notify(Event)
}

// Sinks fans an event out to several sinks.
type Sinks []Sink

func (s Sinks) Notify(ev Event) {
	for _, k := range s {
		if k != nil {
			k.Notify(ev)
		}
	}
}

// Receiver delivers one event somewhere. Send is one attempt; the
// Dispatcher retries. Its errors never carry the receiver's URL or secret.
type Receiver interface {
	// Name says what the receiver is without its secret parts
	// ("webhook (plan) hooks.example.com").
	Name() string
	// Wants reports whether the receiver takes events of this kind (a
	// commit status has nothing to say about some).
	Wants(ev Event) bool
	Send(ctx context.Context, ev Event) error
}

// Results of a delivery.
const (
	Sent    = "sent"
	Failed  = "failed"  // every attempt failed, or the dispatcher closed first
	Dropped = "dropped" // the receiver's queue was full: never attempted
)

// Delivery is what became of one event at one receiver.
type Delivery struct {
	Receiver string
	Event    Event
	Result   string
	Attempts int
	Error    string // the last attempt's, masked
}

// Options tune a Dispatcher; zero values take the defaults.
type Options struct {
	Queue    int           // events waiting per receiver (default 100); more are dropped
	Attempts int           // per event (default 5)
	Backoff  time.Duration // wait after the first failure (default 1s), doubled each time, at most MaxBackoff
	// MaxBackoff caps the wait between attempts (default 1m).
	MaxBackoff time.Duration
	Timeout    time.Duration // one attempt (default 10s)
	// Record reports each delivery (the journal); called from the
	// receiver's goroutine, never from Notify.
	Record func(Delivery)
	Logger *slog.Logger
}

// Dispatcher delivers events to its receivers, each from its own bounded
// queue and goroutine: a receiver that hangs delays only its own queue.
type Dispatcher struct {
	opts   Options
	queues []*queue
	ctx    context.Context // ends when Close gives up
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
}

type queue struct {
	r  Receiver
	ch chan Event
}

// NewDispatcher starts one goroutine per receiver; Close stops them.
func NewDispatcher(rs []Receiver, o Options) *Dispatcher {
	if o.Queue <= 0 {
		o.Queue = 100
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d := &Dispatcher{opts: o}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for _, r := range rs {
		q := &queue{r: r, ch: make(chan Event, o.Queue)}
		d.queues = append(d.queues, q)
		d.wg.Add(1)
		go d.run(q)
	}
	return d
}

// Receivers names the receivers, in order.
func (d *Dispatcher) Receivers() []string {
	out := make([]string, 0, len(d.queues))
	for _, q := range d.queues {
		out = append(out, q.r.Name())
	}
	return out
}

// Notify queues ev for every receiver that wants it; it never blocks. A
// full queue drops the event for that receiver (reported as Dropped).
func (d *Dispatcher) Notify(ev Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	for _, q := range d.queues {
		if !q.r.Wants(ev) {
			continue
		}
		select {
		case q.ch <- ev:
		default:
			d.opts.Logger.Warn("notification dropped: the receiver's queue is full", "receiver", q.r.Name(), "plan", ev.Plan, "event", ev.Event)
			// Reported from a goroutine: Notify must not wait on the journal.
			go d.record(Delivery{Receiver: q.r.Name(), Event: ev, Result: Dropped, Error: fmt.Sprintf("queue full (%d waiting)", cap(q.ch))})
		}
	}
}

// Close stops taking events and delivers what is queued until ctx ends;
// then it gives up on the rest (each reported as Failed) and returns.
func (d *Dispatcher) Close(ctx context.Context) {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		for _, q := range d.queues {
			close(q.ch)
		}
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		d.cancel()
		<-done
	}
	d.cancel()
}

func (d *Dispatcher) run(q *queue) {
	defer d.wg.Done()
	for ev := range q.ch {
		d.record(d.deliver(q.r, ev))
	}
}

// deliver tries ev at r up to Attempts times, backing off between tries.
func (d *Dispatcher) deliver(r Receiver, ev Event) Delivery {
	del := Delivery{Receiver: r.Name(), Event: ev, Result: Failed}
	wait := d.opts.Backoff
	for del.Attempts < d.opts.Attempts {
		if d.ctx.Err() != nil {
			del.Error = joinErr(del.Error, "gave up: the process is stopping")
			return del
		}
		del.Attempts++
		actx, cancel := context.WithTimeout(d.ctx, d.opts.Timeout)
		err := r.Send(actx, ev)
		cancel()
		if err == nil {
			del.Result, del.Error = Sent, ""
			return del
		}
		del.Error = err.Error()
		d.opts.Logger.Warn("notification not delivered", "receiver", r.Name(), "plan", ev.Plan, "event", ev.Event, "attempt", del.Attempts, "err", err)
		if del.Attempts == d.opts.Attempts {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-d.ctx.Done():
			t.Stop()
		}
		wait = min(2*wait, d.opts.MaxBackoff)
	}
	return del
}

func (d *Dispatcher) record(del Delivery) {
	if del.Result == Sent {
		d.opts.Logger.Info("notification sent", "receiver", del.Receiver, "plan", del.Event.Plan, "event", del.Event.Event, "attempts", del.Attempts)
	}
	if d.opts.Record != nil {
		d.opts.Record(del)
	}
}

func joinErr(last, s string) string {
	if last == "" {
		return s
	}
	return s + "; last attempt: " + last
}

// errNoCommit: a commit status needs the plan's commit.
var errNoCommit = errors.New("no commit")
