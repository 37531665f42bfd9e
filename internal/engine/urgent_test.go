package engine

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// TestRollbackDoesNotWaitForAHungY: the analysis fails at 50% and Y's
// Admin and Status APIs then hang (a sick Y; the observer's reads of Y
// hang until their context ends, past the Kong client's own 10 s). The
// pass that starts the rollback reads Y with a short bound, so
// rollback_traffic runs and nginx sends everything to X although the
// observer's part timeout is 10 minutes here: without the bound the
// rollback would wait that long, past the test's 60 s deadline.
func TestRollbackDoesNotWaitForAHungY(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	enablePrometheus(t, w.sim.node("x").AdminURL())
	stopLoad := w.load()
	defer stopLoad()
	var sick atomic.Bool
	e := engineFor(t, lintedPlan(t, rollbackSpeedPlan(w)), w.sim, w.store, func(c *Config) {
		c.Drivers.Observer.PartTimeout = 10 * time.Minute
		c.Drivers.Observer.To = hangingNode{c.Drivers.Observer.To, &sick}
		for i, a := range c.Drivers.Analyses {
			c.Drivers.Analyses[i] = &timedAnalysis{Analysis: a, failed: func() {
				sick.Store(true)
				w.sim.node("y").Faults().Hang("admin", -1)
				w.sim.node("y").Faults().Hang("status", -1)
			}}
		}
		prev := c.Progress
		c.Progress = func(p Progress) {
			if p.Step == "traffic_50" && p.Phase == PhaseStart {
				w.sim.node("y").Faults().FailRoutedRate(500, 0.2)
			}
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
	deadline := time.Now().Add(60 * time.Second)
	for {
		recs, _ := w.store.Records(context.Background(), "dual-e2e", 0)
		var rolled bool
		for _, r := range recs {
			rolled = rolled || (r.Kind == KindOutcome && r.Step == "rollback_traffic" && r.Result == ResultOK)
		}
		if rolled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rollback_traffic within 60 s of a hung Y (journal: %d records)", len(recs))
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
	if b, err := os.ReadFile(w.ng.UpstreamFile()); err != nil || !strings.Contains(string(b), "Split: from 100% / to 0%") {
		t.Errorf("nginx upstream after the rollback (%v):\n%s", err, b)
	}
}

// hangingNode is a NodeReader whose reads hang until their context ends
// once sick is set.
type hangingNode struct {
	r    NodeReader
	sick *atomic.Bool
}

func (h hangingNode) Info(ctx context.Context) (kong.NodeInfo, error) {
	if h.sick.Load() {
		<-ctx.Done()
		return kong.NodeInfo{}, ctx.Err()
	}
	return h.r.Info(ctx)
}

func (h hangingNode) Ready(ctx context.Context, v kongrelease.Version) (kong.Readiness, error) {
	if h.sick.Load() {
		<-ctx.Done()
		return kong.Readiness{}, ctx.Err()
	}
	return h.r.Ready(ctx, v)
}
