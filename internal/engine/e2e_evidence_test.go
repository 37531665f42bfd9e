package engine

import (
	"context"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// End to end on real PostgreSQL, kongsim and nginx: the engine's view of a
// database goes through a gate (a loopback TCP forwarder) that the test
// cuts, while the Kong nodes keep their own direct connections, so "the
// database cannot be read" is what the engine sees and the gateway keeps
// serving (issue 10, findings 2 and 9).

// pgGate forwards loopback connections to a PostgreSQL server until Cut;
// while cut, it closes every connection at once (new ones included).
type pgGate struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]bool
}

func newPGGate(t testing.TB, target string) *pgGate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &pgGate{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { _ = ln.Close(); g.Cut() })
	go g.serve()
	return g
}

func (g *pgGate) serve() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		go g.forward(c)
	}
}

func (g *pgGate) forward(c net.Conn) {
	g.mu.Lock()
	if g.cut {
		g.mu.Unlock()
		_ = c.Close()
		return
	}
	g.conns[c] = true
	g.mu.Unlock()
	s, err := net.Dial("tcp", g.target)
	if err != nil {
		_ = c.Close()
		return
	}
	g.mu.Lock()
	g.conns[s] = true
	g.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(s, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, s); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = s.Close()
	g.mu.Lock()
	delete(g.conns, c)
	delete(g.conns, s)
	g.mu.Unlock()
}

// Cut closes every connection and refuses new ones; Open lets them
// through again.
func (g *pgGate) Cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cut = true
	for c := range g.conns {
		_ = c.Close()
	}
}

func (g *pgGate) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cut = false
}

// gated returns dsn with its host and port replaced by a new gate's, and
// the gate.
func gated(t testing.TB, dsn string) (string, *pgGate) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	g := newPGGate(t, u.Host)
	u.Host = g.ln.Addr().String()
	return u.String(), g
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// TestEvidenceYDatabaseDownAtFullTraffic (finding 2): all traffic on Y,
// waiting for the decommission approval, and Y's database unreachable
// for the engine. The engine chose restore (drop and recreate Y's live
// database) on main; now it stalls with ObservationFailed, and no restore
// is attempted. Once the database answers again the run goes on.
func TestEvidenceYDatabaseDownAtFullTraffic(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	dsnY, gate := gated(t, w.dsnY)
	src := strings.Replace(w.planSrc(""), w.dsnY, dsnY, 1)
	ctx := context.Background()
	out, err := engineFor(t, lintedPlan(t, src), w.sim, w.store).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval || !strings.Contains(out.Condition.Message, "decommission") {
		t.Fatalf("apply: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	gate.Cut()
	out, err = engineFor(t, lintedPlan(t, src), w.sim, w.store, fast).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonObservationFailed || !strings.Contains(out.Condition.Message, "Y's database cannot be read") {
		t.Fatalf("apply with Y's database down: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if got := intents(t, w.store, "dual-e2e"); count(got, "restore") != 1 || len(out.Ran) != 0 {
		t.Fatalf("a step ran while Y's database could not be read: ran %v, intents %v", out.Ran, got)
	}
	if code, err := httpGet(w.ng.URL() + "/health"); err != nil || code != 200 || w.sim.node("y") == nil {
		t.Fatalf("Y no longer serves through nginx: %d %v", code, err)
	}
	gate.Open()
	out, err = engineFor(t, lintedPlan(t, src), w.sim, w.store, fast).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval || len(out.Ran) != 0 {
		t.Fatalf("apply once Y's database answers: %+v %v ran %v", out.Condition, err, out.Ran)
	}
}

// TestEvidenceSharedDatabaseDownAtPause (finding 9): blue-green 3.6.1 →
// 3.7.1, the shared database unreachable for the engine during pause_50.
// On main the engine ran kong migrations up again at 50% of traffic; now
// it waits for the database (nothing runs meanwhile), and goes on once it
// answers: migrations_up ran exactly once.
func TestEvidenceSharedDatabaseDownAtPause(t *testing.T) {
	t.Parallel()
	w := newBGWorld(t)
	dsn, gate := gated(t, w.dsn)
	src := strings.Replace(w.planSrc(`["sim", "stop", "x"]`, ""), w.dsn, dsn, 1)
	var waited bool
	e := engineFor(t, lintedPlan(t, src), w.sim, w.store, func(c *Config) {
		log := c.Progress
		c.Progress = func(p Progress) {
			log(p)
			switch {
			case p.Step == "pause_50" && p.Phase == PhaseStart:
				gate.Cut()
			case p.Phase == PhaseWait && strings.Contains(p.Message, "the shared database cannot be read"):
				if !waited {
					t.Logf("the engine waits: %s", p.Message)
				}
				waited = true
				gate.Open()
			}
		}
	})
	out, err := e.Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval || !strings.Contains(out.Condition.Message, "migrations_finish") {
		t.Fatalf("apply: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if got := intents(t, w.store, "bg"); count(got, "migrations_up") != 1 || !waited {
		t.Fatalf("migrations_up intents %d (want 1), waited for the database %v: %v", count(got, "migrations_up"), waited, got)
	}
}

// TestEvidenceXKilledAtPause (finding 9): X stops answering during
// blue-green's pause_50 (not stopped by this run), with finish approved.
// On main the engine took X as stopped by stop_from and ran finish; now
// it stalls with SideDown, and neither stop_from nor finish runs.
func TestEvidenceXKilledAtPause(t *testing.T) {
	t.Parallel()
	w := newBGWorld(t)
	src := w.planSrc(`["sim", "stop", "x"]`, `  approve_in_advance = ["finish"]`+"\n")
	e := engineFor(t, lintedPlan(t, src), w.sim, w.store, fast, func(c *Config) {
		log := c.Progress
		c.Progress = func(p Progress) {
			log(p)
			if p.Step == "pause_50" && p.Phase == PhaseStart {
				if err := w.sim.stop("x"); err != nil {
					t.Error(err)
				}
			}
		}
	})
	out, err := e.Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonSideDown || !strings.Contains(out.Condition.Message, "this run did not stop it") {
		t.Fatalf("apply: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if got := intents(t, w.store, "bg"); contains(got, "stop_from") || contains(got, "migrations_finish") || !w.pendingFinish(t) {
		t.Fatalf("the run went on with X down: intents %v, 001_360_to_370 pending %v", got, w.pendingFinish(t))
	}
}
