package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/agent/leader"
	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestPollRequestsPruned: the leader answers standbys' poll requests and
// prunes the handled ones from the PostgreSQL journal: first those older
// than an hour, then all but the newest 100; the newest stays, so the
// next request's seq follows it. A plan's journal is never pruned.
func TestPollRequestsPruned(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := testenv.Postgres(t).NewDatabase(t)
	store, err := engine.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a, err := New(Config{Source: fixedSource{Snapshot{Commit: "c1", Files: map[string][]byte{}}}, Store: store,
		Interval: time.Hour, Holder: "agent lead"})
	if err != nil {
		t.Fatal(err)
	}
	el, err := leader.New(leader.Config{DSN: dsn, ID: "lead", Check: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	actx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.RunWithLeader(actx, el) }()
	defer func() { stop(); <-done }()
	waitLead := time.Now().Add(30 * time.Second)
	for !el.IsLeader() {
		if time.Now().After(waitLead) {
			t.Fatal("not leading")
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}

	request := func(at time.Time) {
		t.Helper()
		if _, err := store.Append(ctx, engine.Record{Plan: PollRequests, Kind: engine.KindEvent, Event: eventPollRequested, Time: at,
			Actor: engine.Actor{Agent: "agent standby"}, Details: map[string]string{"provider": "github", "after": "c1"}}); err != nil {
			t.Fatal(err)
		}
	}
	seqs := func() (n int, first, last int64) {
		recs, err := store.Records(ctx, PollRequests, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return 0, 0, 0
		}
		return len(recs), recs[0].Seq, recs[len(recs)-1].Seq
	}
	waitSeqs := func(what string, n int, first, last int64) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			gn, gf, gl := seqs()
			if gn == n && gf == first && gl == last {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d requests journaled, seq %d..%d; want %d, %d..%d", what, gn, gf, gl, n, first, last)
			}
			time.Sleep(50 * time.Millisecond) // polling with a deadline
		}
	}

	// 10 requests two hours old, 20 new ones: the old ones go.
	for i := range 30 {
		at := time.Now()
		if i < 10 {
			at = at.Add(-2 * time.Hour)
		}
		request(at)
	}
	waitSeqs("older than an hour pruned", 20, 11, 30)

	// 150 more: the newest 100 stay.
	for range 150 {
		request(time.Now())
	}
	waitSeqs("beyond the newest 100 pruned", 100, 81, 180)

	// A plan's own journal is not the agent's to prune.
	if _, err := store.PruneBefore(ctx, "prod-3-9", 10); err == nil || !strings.Contains(err.Error(), "only the agent's own journals") {
		t.Errorf("pruning a plan's journal: %v", err)
	}
}
