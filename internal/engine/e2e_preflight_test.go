package engine

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	gokong "github.com/kong/go-kong/kong"
)

// setPlugins sets a sim node's kong.conf plugins; a running node is
// restarted on its addresses with them.
func (s *sim) setPlugins(ctx context.Context, name string, plugins ...string) error {
	running := s.node(name) != nil
	if err := s.stop(name); err != nil {
		return err
	}
	s.mu.Lock()
	c := s.cfgs[name]
	c.Plugins = plugins
	s.cfgs[name] = c
	s.mu.Unlock()
	if running {
		return s.start(ctx, name)
	}
	return nil
}

// throughLB sends n requests through nginx and counts them by the Kong
// version that answered.
func (w *dualWorld) throughLB(t *testing.T, n int) map[string]int {
	t.Helper()
	by := map[string]int{}
	for i := 0; i < n; i++ {
		resp, err := http.Get(w.ng.URL() + "/health")
		if err != nil {
			by["error"]++
			continue
		}
		by[viaVersion(resp)]++
		resp.Body.Close()
	}
	return by
}

// hasSchema reports whether the database at dsn holds Kong's schema.
func hasSchema(t *testing.T, dsn string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var reg *string
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_meta')::text`).Scan(&reg); err != nil {
		t.Fatal(err)
	}
	return reg != nil
}

// TestPreflightStopsBeforeAnythingChanges (issue 13, step 1): X runs a
// custom plugin (my-auth) that Y's release does not bundle.
//   - The engine stalls at preflight with PFX-1, the plugin and the fix;
//     nothing changed: no backup, Y's database empty, Y not started, every
//     request through nginx answered by X.
//   - With acknowledge = ["PFX-1"] (installed on Y another way) it goes on
//     and stalls at start_to, before the checks: Y's database holds my-auth
//     and Y's plugins setting does not load it, so Y refuses to start with
//     Kong's "my-auth plugin is in use but not enabled" (a DB-mode Y never
//     serves without a plugin in use, so preflight_y's PFR-5 cannot be
//     reached here; TestRunY covers it against a Y that answers). Every
//     request through nginx is still answered by X.
//   - Once Y loads my-auth, Y starts, preflight_y passes and the run goes
//     on through the checks and the rollout to the decommission gate.
func TestPreflightStopsBeforeAnythingChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newDualWorld(t)
	if err := w.sim.setPlugins(ctx, "x", "bundled", "my-auth"); err != nil {
		t.Fatal(err)
	}
	admin := w.sim.node("x").AdminURL()
	c, err := gokong.NewClient(&admin, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Plugins.Create(ctx, &gokong.Plugin{Name: gokong.String("my-auth"), Config: gokong.Configuration{"header": "x-token"}}); err != nil {
		t.Fatalf("my-auth on X: %v", err)
	}

	// 1. Not acknowledged: stalls at preflight, nothing changed.
	p := lintedPlan(t, w.planSrc(""))
	out, err := engineFor(t, p, w.sim, w.store).Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("not acknowledged: %+v ran %v", out.Condition, out.Ran)
	if got := strings.Join(out.Ran, " "); got != "guard preflight" || out.Condition.Type != ConditionStalled || out.Condition.Reason != ReasonPreconditionFail ||
		!strings.Contains(out.Condition.Message, "preflight: 1 error: PFX-1 Custom plugin not bundled with Y") || !strings.Contains(out.Condition.Message, "(plugins[my-auth ") ||
		!strings.Contains(out.Condition.Message, "Fix: Install the plugin on Y") {
		t.Fatalf("not acknowledged: ran %q, %+v; want a stall at preflight naming PFX-1, my-auth and the fix", got, out.Condition)
	}
	if ents, err := os.ReadDir(w.backupDir); err != nil || len(ents) != 0 {
		t.Errorf("backup.dir after the stall: %d entries (%v), want none", len(ents), err)
	}
	if hasSchema(t, w.dsnY) || w.sim.node("y") != nil {
		t.Errorf("Y touched after the stall: database bootstrapped %v, running %v", hasSchema(t, w.dsnY), w.sim.node("y") != nil)
	}
	if by := w.throughLB(t, 20); by["3.8.0"] != 20 {
		t.Errorf("through nginx after the stall: %v, want all 20 on X", by)
	}
	recs, err := w.store.Records(ctx, p.Name, 0)
	if err != nil {
		t.Fatal(err)
	}
	var report string
	for _, r := range recs {
		if r.Kind == KindOutcome && r.Step == "preflight" {
			report = r.Output
		}
	}
	if !strings.Contains(report, "PFX-1 Custom plugin not bundled with Y") || !strings.Contains(report, "fix:") || !strings.Contains(report, "path: 3.8.0 → 3.9.1") {
		t.Errorf("the journal's preflight output is not the whole report:\n%s", report)
	}

	// 2. Acknowledged, Y without my-auth: Y refuses to start, before the checks.
	ack := `  acknowledge = ["PFX-1"]`
	out, err = engineFor(t, lintedPlan(t, w.planSrc(ack)), w.sim, w.store).Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("acknowledged, Y without my-auth: %+v ran %v", out.Condition, out.Ran)
	ran := strings.Join(out.Ran, " ")
	if !strings.HasPrefix(ran, "preflight backup") || !strings.HasSuffix(ran, "start_to") || strings.Contains(ran, "preflight_y") || out.Condition.Type != ConditionStalled ||
		!strings.Contains(out.Condition.Message, "my-auth plugin is in use but not enabled") {
		t.Fatalf("acknowledged: ran %q, %+v; want a stall at start_to with Kong's in-use-but-not-enabled error", ran, out.Condition)
	}
	if w.sim.node("y") != nil {
		t.Fatal("Y runs without the plugin in use")
	}
	if by := w.throughLB(t, 20); by["3.8.0"] != 20 {
		t.Errorf("through nginx after Y refused to start: %v, want all 20 on X", by)
	}

	// 3. Y loads my-auth: Y starts and the run goes on.
	if err := w.sim.setPlugins(ctx, "y", "bundled", "my-auth"); err != nil {
		t.Fatal(err)
	}
	out, err = engineFor(t, lintedPlan(t, w.planSrc(ack)), w.sim, w.store).Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ran := strings.Join(out.Ran, " "); !strings.Contains(ran, "start_to preflight_y checks traffic_10") || out.Condition.Reason != ReasonAwaitingApproval {
		t.Fatalf("Y loads my-auth: ran %q, %+v; want start_to, preflight_y, the checks and the rollout up to the decommission gate", ran, out.Condition)
	}
}
