package engine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// slowAfter is how long a read, hook or command runs before Apply says
// what it waits for; then again every slowAfter (a frozen Y answers
// nothing for as long as its timeout: the person sees why it is quiet).
const slowAfter = 5 * time.Second

// pending is what Apply waits on right now: reads (each part of an
// observation, a pause's health probe), hooks and commands, each with
// when it started and its limit. The engine puts one in the context of
// its steps and observations; code without one tracks nothing.
type pending struct {
	mu    sync.Mutex
	next  int
	waits map[int]*waitFor
}

type waitFor struct {
	what     string
	start    time.Time
	limit    time.Duration // 0: none known
	reported int           // slowAfter periods already reported
}

type pendingKey struct{}

// track records that ctx's holder waits for what (at most limit) until
// the returned function is called.
func track(ctx context.Context, what string, limit time.Duration) func() {
	p, _ := ctx.Value(pendingKey{}).(*pending)
	if p == nil {
		return func() {}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waits == nil {
		p.waits = map[int]*waitFor{}
	}
	id := p.next
	p.next++
	p.waits[id] = &waitFor{what: what, start: time.Now(), limit: limit}
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		delete(p.waits, id)
	}
}

// due lists the waits that have run another slowAfter since they were
// last reported, as "waiting for WHAT (5s of 15s)".
func (p *pending) due(now time.Time) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, w := range p.waits {
		d := now.Sub(w.start)
		n := int(d / slowAfter)
		if n <= w.reported {
			continue
		}
		w.reported = n
		of := ""
		if w.limit > 0 {
			of = " of " + w.limit.String()
		}
		out = append(out, fmt.Sprintf("waiting for %s (%s%s)", w.what, (time.Duration(n)*slowAfter).String(), of))
	}
	return out
}

// current is the step Apply is in, for the slow waits' reports.
type current struct{ p atomic.Pointer[Progress] }

func (c *current) set(st *step, idx, total int) {
	if st == nil {
		c.p.Store(nil)
		return
	}
	c.p.Store(&Progress{Step: st.name, Title: st.title, Index: idx, Total: total, Time: time.Now()})
}

// watchSlow reports, every second until ctx ends, the waits that are
// due (see pending.due) as PhaseWait progress of the current step. It
// returns ctx carrying p and a function that stops the watch.
func (e *Engine) watchSlow(ctx context.Context, cur *current) (context.Context, func()) {
	p := &pending{}
	ctx = context.WithValue(ctx, pendingKey{}, p)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-t.C:
				for _, msg := range p.due(now) {
					pr := Progress{Phase: PhaseWait, Message: msg}
					if c := cur.p.Load(); c != nil {
						pr.Step, pr.Title, pr.Index, pr.Total, pr.Elapsed = c.Step, c.Title, c.Index, c.Total, time.Since(c.Time)
					}
					e.progress(pr)
				}
			}
		}
	})
	return ctx, func() { close(done); wg.Wait() }
}
