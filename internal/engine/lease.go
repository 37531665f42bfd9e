package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// leaseBackend is what a Store does for a Lease it handed out. Each method
// is a compare-and-set on (plan, token) judged by the store's clock.
type leaseBackend interface {
	// renew extends the lease to now+ttl if it is still held with token
	// and unexpired; otherwise a *LeaseLostError.
	renew(ctx context.Context, plan string, token int64, ttl time.Duration) (time.Time, error)
	// check is renew without the extension.
	check(ctx context.Context, plan string, token int64) (time.Time, error)
	// release frees the lease if it is still held with token; a no-op
	// otherwise. The token is kept, so the next Acquire gets a greater one.
	release(ctx context.Context, plan string, token int64) error
}

// Lease is one holder's exclusive right to act on a plan, until it expires,
// is released, or is broken (upshift unlock). Its Token fences the
// journal: stores refuse appends whose token has been superseded.
//
// A goroutine owned by the Lease renews it every ttl/3 until Release. The
// Lease counts as lost, and Context is cancelled with a *LeaseLostError as
// its cause, as soon as any of these happens:
//   - a renewal or Check finds the lease expired, broken or taken over;
//   - no renewal has succeeded for ttl (measured from the start of the last
//     successful renewal on the local monotonic clock, so a store that
//     cannot be reached cancels the context before its lease can expire);
//   - Release is called.
//
// The engine runs every step's child processes under Context, so losing
// the lease kills them (exec.CommandContext).
type Lease struct {
	Plan   string
	Holder string
	Token  int64

	ttl     time.Duration
	backend leaseBackend

	ctx    context.Context
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	expires time.Time // by the store's clock, as last reported

	stopRenew chan struct{} // closed by stopRenewing (tests) or Release
	renewOnce sync.Once
	done      chan struct{} // closed when the keeper goroutine returns
}

// newLease starts the keeper goroutine; start is the local time just before
// the acquisition request was sent.
func newLease(b leaseBackend, plan, holder string, token int64, ttl time.Duration, expires, start time.Time) *Lease {
	ctx, cancel := context.WithCancelCause(context.Background())
	l := &Lease{
		Plan: plan, Holder: holder, Token: token, ttl: ttl, backend: b,
		ctx: ctx, cancel: cancel, expires: expires,
		stopRenew: make(chan struct{}), done: make(chan struct{}),
	}
	go l.keep(start)
	return l
}

// Context is cancelled when the lease is lost or released;
// context.Cause(l.Context()) says why (a *LeaseLostError).
func (l *Lease) Context() context.Context { return l.ctx }

// Expires is the expiry the store last reported.
func (l *Lease) Expires() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.expires
}

// Check asks the store whether the lease is still held and unexpired; call
// it just before every irreversible step. A nil error means the store saw
// the lease live at that moment. Read-only; safe to repeat. On loss it also
// cancels Context.
func (l *Lease) Check(ctx context.Context) error {
	if err := context.Cause(l.ctx); err != nil {
		return err
	}
	exp, err := l.backend.check(ctx, l.Plan, l.Token)
	return l.note(exp, err)
}

// Renew extends the lease by its ttl from the store's now. The keeper does
// this on its own; calling it is only needed to extend it at a chosen time.
// On loss it also cancels Context.
func (l *Lease) Renew(ctx context.Context) error {
	if err := context.Cause(l.ctx); err != nil {
		return err
	}
	exp, err := l.backend.renew(ctx, l.Plan, l.Token, l.ttl)
	return l.note(exp, err)
}

// note records a store answer: a new expiry, or a loss that cancels ctx.
// Other errors (store unreachable) are returned and change nothing: the
// keeper's local deadline decides when they amount to a loss.
func (l *Lease) note(exp time.Time, err error) error {
	if err != nil {
		if errors.Is(err, ErrLeaseLost) {
			l.cancel(err)
		}
		return err
	}
	l.mu.Lock()
	l.expires = exp
	l.mu.Unlock()
	return nil
}

// Release frees the lease in the store (if still held with this token),
// stops the keeper and cancels Context. Safe to call more than once, and
// after a loss.
func (l *Lease) Release(ctx context.Context) error {
	l.stopRenewing()
	l.cancel(&LeaseLostError{Plan: l.Plan, Token: l.Token, Reason: "released"})
	<-l.done
	if err := l.backend.release(ctx, l.Plan, l.Token); err != nil {
		return fmt.Errorf("release lease of plan %q: %w", l.Plan, err)
	}
	return nil
}

// stopRenewing stops renewals but keeps the local deadline: tests use it to
// play a holder that hangs.
func (l *Lease) stopRenewing() { l.renewOnce.Do(func() { close(l.stopRenew) }) }

// keep renews every ttl/3 and cancels the context when the lease is lost or
// when no renewal has succeeded for ttl.
func (l *Lease) keep(start time.Time) {
	defer close(l.done)
	every := l.ttl / 3
	if every <= 0 {
		every = time.Millisecond
	}
	renewT := time.NewTimer(every)
	defer renewT.Stop()
	deadline := time.NewTimer(time.Until(start.Add(l.ttl)))
	defer deadline.Stop()
	renewC, stop := renewT.C, l.stopRenew
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-stop:
			renewC, stop = nil, nil // a nil channel never fires
		case <-deadline.C:
			l.cancel(&LeaseLostError{Plan: l.Plan, Token: l.Token, Reason: fmt.Sprintf("no successful renewal for %v", l.ttl)})
			return
		case <-renewC:
			began := time.Now()
			ctx, cancel := context.WithDeadline(l.ctx, began.Add(l.ttl))
			err := l.Renew(ctx)
			cancel()
			if err == nil {
				deadline.Reset(time.Until(began.Add(l.ttl)))
			}
			renewT.Reset(every)
		}
	}
}
