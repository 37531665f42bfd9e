package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// storeHarness is what the conformance suite needs of one backing store
// (a directory, a database), fresh for each subtest.
type storeHarness struct {
	// open returns a new handle on the same backing store, as another
	// process would open it; closed at cleanup.
	open func(t *testing.T) Store
	// ttl is the lease ttl the expiry tests use.
	ttl time.Duration
	// advance lets at least d pass on the store's clock.
	advance func(t *testing.T, d time.Duration)
}

// testStoreConformance runs the Store contract (journal.go, lease.go) on
// the stores newHarness makes.
func testStoreConformance(t *testing.T, newHarness func(t *testing.T) *storeHarness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h *storeHarness)
	}{
		{"AppendRecords", testAppendRecords},
		{"InvalidRecords", testInvalidRecords},
		{"Pending", testPending},
		{"ConcurrentAppends", testConcurrentAppends},
		{"AcquireRace", testAcquireRace},
		{"ExpiryTakeoverFencing", testExpiryTakeoverFencing},
		{"ExpiredNotTaken", testExpiredNotTaken},
		{"Renew", testRenew},
		{"ReleaseReacquire", testReleaseReacquire},
		{"Break", testBreak},
		{"LocalDeadline", testLocalDeadline},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newHarness(t))
		})
	}
}

const longTTL = time.Minute // leases that must not expire during a test

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustAcquire(t *testing.T, s Store, plan, holder string, ttl time.Duration) *Lease {
	t.Helper()
	l, err := s.Acquire(ctxT(t), plan, holder, ttl)
	if err != nil {
		t.Fatalf("Acquire(%s, %s): %v", plan, holder, err)
	}
	t.Cleanup(func() { _ = l.Release(context.Background()) })
	return l
}

func mustAppend(t *testing.T, s Store, r Record) Record {
	t.Helper()
	got, err := s.Append(ctxT(t), r)
	if err != nil {
		t.Fatalf("Append(%+v): %v", r, err)
	}
	return got
}

func mustRecords(t *testing.T, s Store, plan string, since int64) []Record {
	t.Helper()
	recs, err := s.Records(ctxT(t), plan, since)
	if err != nil {
		t.Fatalf("Records(%s, %d): %v", plan, since, err)
	}
	return recs
}

func intent(plan, step string, l *Lease) Record {
	return Record{Plan: plan, Kind: KindIntent, Step: step, Attempt: 1, Token: l.Token, Actor: localActor()}
}

func outcome(in Record, l *Lease) Record {
	return Record{Plan: in.Plan, Kind: KindOutcome, Step: in.Step, Attempt: in.Attempt, IntentSeq: in.Seq, Result: ResultOK, Token: l.Token}
}

// expire stops l's renewals and lets the store's clock pass until the
// lease is no longer live.
func (h *storeHarness) expire(t *testing.T, s Store, l *Lease) {
	t.Helper()
	l.stopRenewing()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		h.advance(t, h.ttl)
		st, err := s.LeaseState(ctxT(t), l.Plan)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Live {
			return
		}
	}
	t.Fatalf("lease of %s still live after 20s", l.Plan)
}

func testAppendRecords(t *testing.T, h *storeHarness) {
	s := h.open(t)
	l := mustAcquire(t, s, "p1", "h1", longTTL)
	ev := mustAppend(t, s, Record{Plan: "p1", Kind: KindEvent, Event: "note", Details: map[string]string{"k": "v"}})
	in := mustAppend(t, s, Record{Plan: "p1", Kind: KindIntent, Step: "backup", Attempt: 1, Token: l.Token,
		Actor: Actor{Host: "h", PID: 7, Agent: "a1"}, Commit: "abc123", Author: "Ann <ann@example.com>", Details: map[string]string{"x": "1"}})
	out := mustAppend(t, s, Record{Plan: "p1", Kind: KindOutcome, Step: "backup", Attempt: 1, IntentSeq: in.Seq, Token: l.Token,
		Result: ResultFailed, Error: "boom", Output: "line1\nline2", Duration: 1500 * time.Millisecond})
	mustAppend(t, s, Record{Plan: "p2", Kind: KindEvent, Event: "other plan"})
	if ev.Seq != 1 || in.Seq != 2 || out.Seq != 3 {
		t.Fatalf("seqs %d %d %d, want 1 2 3", ev.Seq, in.Seq, out.Seq)
	}
	if ev.Time.IsZero() {
		t.Error("store did not set Time")
	}
	// Another handle sees the same records, in order, byte-for-byte.
	recs := mustRecords(t, h.open(t), "p1", 0)
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3: %+v", len(recs), recs)
	}
	for i, want := range []Record{ev, in, out} {
		if got := recs[i]; fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) || !got.Time.Equal(want.Time) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	if since := mustRecords(t, s, "p1", 2); len(since) != 1 || since[0].Seq != 3 {
		t.Errorf("Records(since 2) = %+v", since)
	}
	if none := mustRecords(t, s, "nothing-here", 0); len(none) != 0 {
		t.Errorf("unknown plan has records %+v", none)
	}
	plans, err := s.Plans(ctxT(t))
	if err != nil || strings.Join(plans, ",") != "p1,p2" {
		t.Errorf("Plans = %v, %v; want [p1 p2]", plans, err)
	}
}

func testInvalidRecords(t *testing.T, h *storeHarness) {
	s := h.open(t)
	l := mustAcquire(t, s, "p", "h", longTTL)
	for _, r := range []Record{
		{Plan: "../etc", Kind: KindEvent, Event: "x"},
		{Plan: "", Kind: KindEvent, Event: "x"},
		{Plan: strings.Repeat("a", 65), Kind: KindEvent, Event: "x"},
		{Plan: "p", Kind: "bogus"},
		{Plan: "p", Kind: KindEvent},
		{Plan: "p", Kind: KindIntent, Step: "s"},                                  // no token
		{Plan: "p", Kind: KindIntent, Token: l.Token},                             // no step
		{Plan: "p", Kind: KindOutcome, Step: "s", Token: l.Token},                 // no intent seq, result
		{Plan: "p", Kind: KindOutcome, Step: "s", IntentSeq: 1, Result: ResultOK}, // no token
	} {
		if _, err := s.Append(ctxT(t), r); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("Append(%+v) = %v, want ErrInvalidRecord", r, err)
		}
	}
	if _, err := s.Acquire(ctxT(t), "a/b", "h", longTTL); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("Acquire(a/b) = %v, want ErrInvalidRecord", err)
	}
	if recs := mustRecords(t, s, "p", 0); len(recs) != 0 {
		t.Errorf("refused appends wrote %+v", recs)
	}
}

func testPending(t *testing.T, h *storeHarness) {
	s := h.open(t)
	l := mustAcquire(t, s, "p", "h", longTTL)
	check := func(want int64) {
		t.Helper()
		r, ok, err := Pending(ctxT(t), h.open(t), "p")
		if err != nil {
			t.Fatal(err)
		}
		if (want == 0) != !ok || ok && r.Seq != want {
			t.Fatalf("Pending = %+v, %v; want seq %d", r, ok, want)
		}
	}
	check(0)
	a := mustAppend(t, s, intent("p", "a", l))
	check(a.Seq)
	mustAppend(t, s, Record{Plan: "p", Kind: KindEvent, Event: "gate"})
	check(a.Seq) // events do not resolve an intent
	mustAppend(t, s, outcome(a, l))
	check(0)
	b := mustAppend(t, s, intent("p", "b", l))
	mustAppend(t, s, outcome(a, l)) // an outcome of another intent does not close b
	check(b.Seq)
}

func testConcurrentAppends(t *testing.T, h *storeHarness) {
	const writers, each = 4, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		s := h.open(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, err := s.Append(context.Background(), Record{Plan: "p", Kind: KindEvent, Event: fmt.Sprintf("w%d-%d", w, i)})
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	recs := mustRecords(t, h.open(t), "p", 0)
	if len(recs) != writers*each {
		t.Fatalf("%d records, want %d", len(recs), writers*each)
	}
	seen := map[string]bool{}
	for i, r := range recs {
		if r.Seq != int64(i+1) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
		if seen[r.Event] {
			t.Fatalf("event %s twice", r.Event)
		}
		seen[r.Event] = true
	}
}

func testAcquireRace(t *testing.T, h *storeHarness) {
	const n = 6
	stores := make([]Store, n)
	for i := range stores {
		stores[i] = h.open(t)
	}
	var wg sync.WaitGroup
	leases := make([]*Lease, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			leases[i], errs[i] = stores[i].Acquire(context.Background(), "p", fmt.Sprintf("holder-%d", i), longTTL)
		}()
	}
	close(start)
	wg.Wait()
	var winner *Lease
	for i := range n {
		switch {
		case errs[i] == nil:
			if winner != nil {
				t.Fatalf("two winners: %s and %s", winner.Holder, leases[i].Holder)
			}
			winner = leases[i]
			t.Cleanup(func() { _ = leases[i].Release(context.Background()) })
		case !errors.Is(errs[i], ErrLeaseHeld):
			t.Fatalf("loser %d: %v, want ErrLeaseHeld", i, errs[i])
		}
	}
	if winner == nil {
		t.Fatal("no winner")
	}
	for i := range n {
		var held *LeaseHeldError
		if errs[i] != nil && (!errors.As(errs[i], &held) || held.Holder != winner.Holder || held.Token != winner.Token) {
			t.Errorf("loser %d: %v does not name the winner %s/%d", i, errs[i], winner.Holder, winner.Token)
		}
	}
	if winner.Token != 1 {
		t.Errorf("first token %d, want 1", winner.Token)
	}
	// The same holder name does not get a second live lease either.
	if _, err := stores[0].Acquire(ctxT(t), "p", winner.Holder, longTTL); !errors.Is(err, ErrLeaseHeld) {
		t.Errorf("re-acquire by the same holder name: %v, want ErrLeaseHeld", err)
	}
}

func testExpiryTakeoverFencing(t *testing.T, h *storeHarness) {
	sa, sb := h.open(t), h.open(t)
	a := mustAcquire(t, sa, "p", "a", h.ttl)
	in := mustAppend(t, sa, intent("p", "migrate", a))
	h.expire(t, sa, a)
	b := mustAcquire(t, sb, "p", "b", longTTL)
	if b.Token <= a.Token {
		t.Fatalf("takeover token %d not greater than %d", b.Token, a.Token)
	}
	// The stale holder's writes are refused, whatever their kind.
	for _, r := range []Record{intent("p", "finish", a), outcome(in, a), {Plan: "p", Kind: KindEvent, Event: "late", Token: a.Token}} {
		_, err := sa.Append(ctxT(t), r)
		var fe *FencedError
		if !errors.As(err, &fe) || fe.Token != a.Token || fe.Current != b.Token {
			t.Errorf("stale %s: %v, want a FencedError (token %d, current %d)", r.Kind, err, a.Token, b.Token)
		}
	}
	if err := a.Check(ctxT(t)); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("stale Check = %v, want lost", err)
	}
	// With a real clock the keeper's local deadline may have ended the
	// lease first; the store itself says what happened.
	if _, err := a.backend.check(ctxT(t), "p", a.Token); !errors.Is(err, ErrLeaseLost) || !strings.Contains(err.Error(), "taken over by b") {
		t.Errorf("store's check = %v, want lost, taken over by b", err)
	}
	select {
	case <-a.Context().Done():
		if !errors.Is(context.Cause(a.Context()), ErrLeaseLost) {
			t.Errorf("cause %v", context.Cause(a.Context()))
		}
	default:
		t.Error("a lost lease's context is not cancelled after Check")
	}
	if err := a.Renew(ctxT(t)); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("stale Renew = %v", err)
	}
	// Releasing a lost lease does not free the new holder's.
	if err := a.Release(ctxT(t)); err != nil {
		t.Errorf("Release of a lost lease: %v", err)
	}
	if err := b.Check(ctxT(t)); err != nil {
		t.Errorf("new holder's Check: %v", err)
	}
	in2 := mustAppend(t, sb, intent("p", "migrate", b))
	mustAppend(t, sb, outcome(in2, b))
	recs := mustRecords(t, sb, "p", 0)
	if len(recs) != 3 || recs[0].Token != a.Token || recs[1].Token != b.Token {
		t.Errorf("journal %+v", recs)
	}
}

func testExpiredNotTaken(t *testing.T, h *storeHarness) {
	s := h.open(t)
	l := mustAcquire(t, s, "p", "a", h.ttl)
	in := mustAppend(t, s, intent("p", "s1", l))
	h.expire(t, s, l)
	if _, err := s.Append(ctxT(t), intent("p", "s2", l)); !errors.Is(err, ErrFenced) {
		t.Errorf("intent under an expired lease: %v, want ErrFenced", err)
	}
	// Nobody took over: recording what happened is still allowed.
	mustAppend(t, s, outcome(in, l))
	if err := l.Check(ctxT(t)); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("Check = %v, want lost", err)
	}
	if _, err := l.backend.check(ctxT(t), "p", l.Token); !errors.Is(err, ErrLeaseLost) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("store's check = %v, want expired", err)
	}
	if _, err := l.backend.renew(ctxT(t), "p", l.Token, h.ttl); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("renewal of an expired lease = %v, want lost", err)
	}
}

func testRenew(t *testing.T, h *storeHarness) {
	s := h.open(t)
	l := mustAcquire(t, s, "p", "a", h.ttl)
	e0 := l.Expires()
	h.advance(t, h.ttl*2/3)
	if err := l.Renew(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if !l.Expires().After(e0) {
		t.Errorf("Renew did not move the expiry: %v -> %v", e0, l.Expires())
	}
	h.advance(t, h.ttl*2/3) // past the first expiry
	if err := l.Check(ctxT(t)); err != nil {
		t.Errorf("Check after renewal: %v", err)
	}
	if _, err := h.open(t).Acquire(ctxT(t), "p", "b", h.ttl); !errors.Is(err, ErrLeaseHeld) {
		t.Errorf("Acquire of a renewed lease: %v, want ErrLeaseHeld", err)
	}
}

func testReleaseReacquire(t *testing.T, h *storeHarness) {
	s := h.open(t)
	var last int64
	for i := range 3 {
		l := mustAcquire(t, s, "p", fmt.Sprintf("h%d", i), longTTL)
		if l.Token <= last {
			t.Fatalf("token %d after %d", l.Token, last)
		}
		last = l.Token
		if err := l.Release(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if err := l.Release(ctxT(t)); err != nil {
			t.Fatalf("second Release: %v", err)
		}
		if err := l.Check(ctxT(t)); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("Check after Release = %v", err)
		}
		if _, err := s.Append(ctxT(t), intent("p", "x", l)); !errors.Is(err, ErrFenced) {
			t.Errorf("intent after Release = %v, want ErrFenced", err)
		}
		st, err := s.LeaseState(ctxT(t), "p")
		if err != nil || st.Live || st.Holder != "" || st.Token != l.Token {
			t.Errorf("state after Release = %+v, %v", st, err)
		}
	}
}

func testBreak(t *testing.T, h *storeHarness) {
	sa, sb := h.open(t), h.open(t)
	a := mustAcquire(t, sa, "p", "agent-1", 2*time.Second) // real time: the keeper renews every 2/3 s
	before, err := sb.Break(ctxT(t), "p", "alice@example.com", "agent host gone")
	if err != nil {
		t.Fatal(err)
	}
	if before.Holder != "agent-1" || before.Token != a.Token || !before.Live {
		t.Errorf("Break returned %+v", before)
	}
	st, err := sb.LeaseState(ctxT(t), "p")
	if err != nil || st.Live || st.BrokenBy != "alice@example.com" || st.Token <= a.Token {
		t.Errorf("state after Break = %+v, %v", st, err)
	}
	recs := mustRecords(t, sb, "p", 0)
	if len(recs) != 1 || recs[0].Event != EventLeaseBroken || recs[0].Actor.Who != "alice@example.com" ||
		recs[0].Details["holder"] != "agent-1" || recs[0].Details["reason"] != "agent host gone" {
		t.Fatalf("journal after Break = %+v", recs)
	}
	if _, err := sa.Append(ctxT(t), intent("p", "s", a)); !errors.Is(err, ErrFenced) {
		t.Errorf("broken holder's intent: %v, want ErrFenced", err)
	}
	// The keeper notices on its next renewal: the context ends without
	// anyone calling Check.
	select {
	case <-a.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("broken lease's context not cancelled within 10s")
	}
	// The cause is the break, unless a loaded machine delayed the renewal
	// past the local deadline first; the store names the breaker either way.
	if cause := context.Cause(a.Context()); !errors.Is(cause, ErrLeaseLost) ||
		!strings.Contains(cause.Error(), "broken by alice@example.com") && !strings.Contains(cause.Error(), "no successful renewal") {
		t.Errorf("cause = %v", cause)
	}
	if _, err := a.backend.check(ctxT(t), "p", a.Token); err == nil || !strings.Contains(err.Error(), "broken by alice@example.com (agent host gone)") {
		t.Errorf("store's check = %v, want broken by alice", err)
	}
	b := mustAcquire(t, sb, "p", "agent-2", longTTL)
	if b.Token <= st.Token {
		t.Errorf("token after Break %d, not above %d", b.Token, st.Token)
	}
	if _, err := sb.Break(ctxT(t), "p", "", "x"); err == nil {
		t.Error("Break with no name accepted")
	}
}

func testLocalDeadline(t *testing.T, h *storeHarness) {
	s := h.open(t)
	l := mustAcquire(t, s, "p", "a", 300*time.Millisecond)
	l.stopRenewing()
	select {
	case <-l.Context().Done():
	case <-time.After(10 * time.Second):
		t.Fatal("context not cancelled after ttl without renewals")
	}
	if cause := context.Cause(l.Context()); !strings.Contains(fmt.Sprint(cause), "no successful renewal") {
		t.Errorf("cause = %v", cause)
	}
	if err := l.Check(ctxT(t)); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("Check after the local deadline = %v", err)
	}
}
