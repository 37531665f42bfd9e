package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSlowWaitsAreDue: a tracked wait is due once per slowAfter period
// it has run, saying what it waits for and how long of its limit; a
// finished one is never due; without a tracker nothing is recorded.
func TestSlowWaitsAreDue(t *testing.T) {
	p := &pending{}
	ctx := context.WithValue(context.Background(), pendingKey{}, p)
	done := track(ctx, "Y's Admin API at http://127.0.0.1:8001", 15*time.Second)
	start := p.waits[0].start
	if got := p.due(start.Add(4 * time.Second)); len(got) != 0 {
		t.Errorf("due after 4s: %q", got)
	}
	if got := p.due(start.Add(5100 * time.Millisecond)); len(got) != 1 || got[0] != "waiting for Y's Admin API at http://127.0.0.1:8001 (5s of 15s)" {
		t.Errorf("due after 5.1s: %q", got)
	}
	if got := p.due(start.Add(6 * time.Second)); len(got) != 0 {
		t.Errorf("due again after 6s: %q", got)
	}
	if got := p.due(start.Add(10200 * time.Millisecond)); len(got) != 1 || !strings.HasSuffix(got[0], "(10s of 15s)") {
		t.Errorf("due after 10.2s: %q", got)
	}
	done()
	if got := p.due(start.Add(time.Minute)); len(got) != 0 {
		t.Errorf("due after it ended: %q", got)
	}
	track(context.Background(), "nothing", 0)() // no tracker: a no-op
}

// TestFrozenYIsSaidWhileWaitedFor: Y's Admin API stops answering when
// pause_50 begins (a frozen Y: the connection is accepted, nothing
// comes back, as with SIGSTOP); while the pause's health probe waits for
// it, apply reports what it waits for and for how long, instead of
// saying nothing until the read gives up.
func TestFrozenYIsSaidWhileWaitedFor(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	var mu sync.Mutex
	var waits []string
	var ended bool // pause_50 ended: the read gave up
	e := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store, func(c *Config) {
		prev := c.Progress
		c.Progress = func(p Progress) {
			if p.Step == "pause_50" && p.Phase == PhaseStart {
				w.sim.node("y").Faults().Hang("admin", 1)
			}
			mu.Lock()
			if p.Phase == PhaseWait && strings.HasPrefix(p.Message, "waiting for ") {
				waits = append(waits, p.Step+": "+p.Message)
			}
			ended = ended || (p.Step == "pause_50" && (p.Phase == PhaseDone || p.Phase == PhaseFailed))
			mu.Unlock()
			prev(p)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		out, err := e.Apply(ctx)
		t.Logf("apply: %+v ran %v err %v", out.Condition, out.Ran, err)
	}()
	defer func() { cancel(); <-done }()
	want := "pause_50: waiting for Y's Admin API at http://" + w.sim.cfg("y").AdminListen + " (5s of 15s)"
	deadline := time.Now().Add(90 * time.Second)
	for {
		mu.Lock()
		got, over := strings.Join(waits, "\n"), ended
		mu.Unlock()
		if strings.Contains(got, want) {
			return
		}
		if over || time.Now().After(deadline) {
			t.Fatalf("no %q while Y's read hung (pause_50 ended: %v); waits reported:\n%s", want, over, got)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

// TestOneLinePerError: an observed error keeps one of pgx's identical
// attempt lines (sslmode=prefer: the TLS and the plain attempt).
func TestOneLinePerError(t *testing.T) {
	in := "failed to connect to `user=kong database=kong`:\n" +
		"\t127.0.0.1:5432 (127.0.0.1): dial error: connect: connection refused\n" +
		"\t127.0.0.1:5432 (127.0.0.1): dial error: connect: connection refused"
	want := "failed to connect to `user=kong database=kong`:\n\t127.0.0.1:5432 (127.0.0.1): dial error: connect: connection refused"
	if got := (&Observer{}).errString(errors.New(in)); got != want {
		t.Errorf("errString:\n%s\nwant:\n%s", got, want)
	}
}
