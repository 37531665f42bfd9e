package engine

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// Faults and field failures (kong-upgrade-failures.md) on the dual-cluster
// world: each test injects one failure and checks that the engine stops or
// recovers as it must, and never advances past a step whose outcome it
// cannot observe.

func fast(c *Config) { c.WaitTimeout, c.RetryBase, c.Retries = 3*time.Second, 50*time.Millisecond, 2 }

// intents lists the steps the journal has intents for.
func intents(t *testing.T, s Store, plan string) []string {
	t.Helper()
	recs, err := s.Records(context.Background(), plan, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if r.Kind == KindIntent {
			out = append(out, r.Step)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestFieldRunnerKilledHalfWay: Y's `kong migrations up` is killed right
// after a migration commits and before schema_meta records it (Kong's
// runner dies: its lock row stays until the TTL). The engine does not run
// up again (finding 9: a re-run can apply a migration twice, Kong/kong
// #12978): it stalls with MigrationInDoubt, naming the migration to
// inspect. Once a person has run up by hand, the next apply observes it
// done and goes on.
func TestFieldRunnerKilledHalfWay(t *testing.T) {
	t.Parallel()
	fieldFaultOnce(t, "KONGSIM_KILL_AFTER_COMMIT=core/024_380_to_390")
}

// TestFieldClientTimeoutWhileCommitting: Kong's client times out while
// the server commits a migration (exit 1): the engine does not run up
// again; it stalls with MigrationInDoubt until a person has resolved it.
func TestFieldClientTimeoutWhileCommitting(t *testing.T) {
	t.Parallel()
	fieldFaultOnce(t, "KONGSIM_CLIENT_TIMEOUT=core/024_380_to_390")
}

// fieldFaultOnce runs the dual-cluster upgrade with Y's kong failing once
// with fault (a KONGSIM_* variable) after the migration's SQL committed:
// one failed migrations_up and no second one, the plan Stalled with
// MigrationInDoubt naming core/024_380_to_390; after a manual `kong
// migrations up` the next apply converges without running it.
func fieldFaultOnce(t *testing.T, fault string) {
	w := newDualWorld(t)
	mark := filepath.Join(t.TempDir(), "faulted-once")
	script := filepath.Join(t.TempDir(), "kong")
	// The user's kong wrapper; the fault applies to its first run only.
	body := fmt.Sprintf("#!/bin/sh\nif [ ! -e %q ]; then touch %q; export %s; fi\nexec env KONG_VERSION=3.9.1 %q --lock-timeout 2 \"$@\"\n", mark, mark, fault, w.kongBin)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	w.kong = []string{script}
	ctx := context.Background()
	out, err := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonMigrationInDoubt || !strings.Contains(out.Condition.Message, "core/024_380_to_390") {
		t.Fatalf("apply: %+v %v", out.Condition, err)
	}
	outcomes := func() (failed, ok int) {
		recs, _ := w.store.Records(ctx, "dual-e2e", 0)
		for _, r := range recs {
			if r.Kind == KindOutcome && r.Step == "migrations_up" {
				switch r.Result {
				case ResultFailed:
					failed++
				case ResultOK:
					ok++
				}
			}
		}
		return failed, ok
	}
	if failed, ok := outcomes(); failed != 1 || ok != 0 {
		t.Fatalf("migrations_up outcomes: %d failed, %d ok; want 1 and 0 (no blind retry)", failed, ok)
	}
	// Applying again changes nothing: still in doubt, nothing run.
	out, err = engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonMigrationInDoubt || len(out.Ran) != 0 {
		t.Fatalf("second apply: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	// A person checked the data and ran up by hand.
	if code, o, e, err := kongsim.Migrate(ctx, w.dsnY, "3.9.1", "up"); err != nil || code != 0 {
		t.Fatalf("manual up: %d %v %s %s", code, err, o, e)
	}
	out, err = engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval {
		t.Fatalf("apply after the manual up: %+v %v", out.Condition, err)
	}
	if failed, ok := outcomes(); failed != 1 || ok != 0 {
		t.Fatalf("migrations_up outcomes after the manual up: %d failed, %d ok; want 1 and 0", failed, ok)
	}
	st, err := kong.ReadSchema(ctx, w.dsnY)
	if err != nil || len(st.Classify(kongrelease.MustParse("3.9.1")).Names(kongrelease.StateNew)) != 0 {
		t.Fatalf("Y's database after recovery: %v", err)
	}
}

// TestFaultYKongFails: Y's kong exits non-zero: the step is retried, then
// the plan stalls quoting the error; nothing after it ran.
func TestFaultYKongFails(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	w.kong = []string{"env", "KONG_VERSION=3.9.1", "KONG_PG_PORT=1", w.kongBin}
	out, err := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store, fast).Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonStepFailed || !strings.Contains(out.Condition.Message, "migrations_up failed 2 times") {
		t.Fatalf("apply: %+v %v", out.Condition, err)
	}
	if got := intents(t, w.store, "dual-e2e"); contains(got, "start_to") || w.sim.node("y") != nil {
		t.Fatalf("a step after the failed one ran: %v", got)
	}
}

// TestFieldPendingMigrationsLeft: X's database still has migrations
// pending from an earlier upgrade (3.7.1's up without finish: ai-proxy's
// 001_360_to_370; 3.6.x's up would leave none): the guard
// stops the plan before anything runs.
func TestFieldPendingMigrationsLeft(t *testing.T) {
	t.Parallel()
	pg := testenv.Postgres(t)
	ctx := context.Background()
	dsn := pg.NewDatabase(t)
	for _, step := range [][2]string{{"3.6.1", "bootstrap"}, {"3.7.1", "up"}} {
		if code, o, e, err := kongsim.Migrate(ctx, dsn, step[0], step[1]); err != nil || code != 0 {
			t.Fatalf("%v: %d %v %s %s", step, code, err, o, e)
		}
	}
	p := lintedPlan(t, fmt.Sprintf(`upgrade "left" {
  cluster  = "c"
  strategy = "in_place"
  from {
    version   = "3.7.1"
    admin_url = "http://127.0.0.1:%d"
    proxy_url = "http://127.0.0.1:%d"
    database { dsn = %q }
    start = ["true"]
    stop  = ["true"]
  }
  to {
    version   = "3.7.2"
    admin_url = "http://127.0.0.1:%d"
    proxy_url = "http://127.0.0.1:%d"
    kong      = ["false"]
    start     = ["true"]
    stop      = ["true"]
  }
  backup {
    dir    = %q
    verify = false
  }
}
`, testenv.FreePort(t), testenv.FreePort(t), dsn, testenv.FreePort(t), testenv.FreePort(t), t.TempDir()))
	st, _ := OpenDir(t.TempDir(), DirOptions{})
	defer st.Close()
	out, err := engineFor(t, p, newSim(t), st, fast).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonPreconditionFail || !strings.Contains(out.Condition.Message, "pending migrations left by an earlier upgrade") {
		t.Fatalf("apply: %+v %v", out.Condition, err)
	}
	if got := intents(t, st, "left"); len(got) != 1 || got[0] != "guard" {
		t.Fatalf("intents %v: only the guard may have run", got)
	}
}

// TestFieldLiveLockOnX: a live migrations lock on X's database (another
// runner at work, or one that died within its TTL) stops the plan at the
// guard, naming the lock.
func TestFieldLiveLockOnX(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, w.dsnX)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `INSERT INTO locks (key, owner, ttl) VALUES ('migrations', 'other-runner', now() + interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	out, err := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store, fast).Apply(ctx)
	if err != nil || out.Condition.Reason != ReasonPreconditionFail || !strings.Contains(out.Condition.Message, "held on X's database by other-runner") {
		t.Fatalf("apply: %+v %v", out.Condition, err)
	}
}

// TestFieldBackupCannotBeVerified: the test restore cannot be made
// (verify_dsn refuses the connection): the plan stops before any
// migration, and Y's database stays untouched.
func TestFieldBackupCannotBeVerified(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	src := strings.Replace(w.planSrc(""), testenv.Postgres(t).AdminDSN(), fmt.Sprintf("postgres://nobody@127.0.0.1:%d/postgres?sslmode=disable", testenv.FreePort(t)), 1)
	out, err := engineFor(t, lintedPlan(t, src), w.sim, w.store, fast).Apply(context.Background())
	if err != nil || out.Condition.Type != ConditionStalled || !strings.Contains(out.Condition.Message, "backup") {
		t.Fatalf("apply: %+v %v", out.Condition, err)
	}
	if got := intents(t, w.store, "dual-e2e"); contains(got, "restore") || contains(got, "migrations_up") {
		t.Fatalf("a step after the backup ran: %v", got)
	}
	if st, err := kong.ReadSchema(context.Background(), w.dsnY); err != nil || !st.NeedsBootstrap {
		t.Fatalf("Y's database was touched: %v", err)
	}
}

// TestGateNoDataRollsBack: a Prometheus analysis whose query returns no
// data fails the pause (no data is a failure): the engine sends traffic
// back to X and stops Y; re-applying the same plan does nothing. The
// query answers once, for the guard's check of its inputs on X, then
// returns nothing.
func TestGateNoDataRollsBack(t *testing.T) {
	t.Parallel()
	var queries atomic.Int64
	prom := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		if queries.Add(1) == 1 {
			_, _ = rw.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0"]}]}}`))
			return
		}
		_, _ = rw.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
	}))
	t.Cleanup(prom.Close)
	w := newDualWorld(t)
	stopLoad := w.load()
	defer stopLoad()
	extra := fmt.Sprintf("  analysis \"error_rate\" {\n    prometheus = %q\n    query      = \"sum(rate(kong_http_requests_total{code=~\\\"5..\\\"}[1m]))\"\n    max        = 0.01\n    interval   = \"100ms\"\n    failures   = 0\n  }\n", prom.URL)
	p := lintedPlan(t, w.planSrc(extra))
	out, err := engineFor(t, p, w.sim, w.store).Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonGateFailed {
		t.Fatalf("apply: %+v %v (ran %v)", out.Condition, err, out.Ran)
	}
	if !contains(out.Ran, "rollback_traffic") || w.sim.node("y") != nil {
		t.Fatalf("the failed gate did not roll back: ran %v", out.Ran)
	}
	out, err = engineFor(t, p, w.sim, w.store).Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonGateFailed || len(out.Ran) != 0 {
		t.Fatalf("second apply: %+v ran %v", out.Condition, out.Ran)
	}
	if res := stopLoad(); res.Failed != 0 {
		t.Errorf("load: %d failed of %d", res.Failed, res.Requests)
	}
}

// TestDriftStopsTheRollout: an admin write on X during the first pause
// changes X's fingerprint: the next traffic step does not run and the plan
// stalls with DriftDetected, naming the entity counts then and now.
func TestDriftStopsTheRollout(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	admin := "http://" + w.sim.cfg("x").AdminListen
	e := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store, func(c *Config) {
		c.Progress = func(p Progress) {
			if p.Step == "pause_10" && p.Phase == PhaseStart {
				kc, err := gokong.NewClient(&admin, nil)
				if err == nil {
					_, err = kc.Services.Create(context.Background(), &gokong.Service{Name: gokong.String("written-during-freeze"), URL: gokong.String("http://example.invalid")})
				}
				if err != nil {
					t.Errorf("admin write on X: %v", err)
				}
			}
		}
	})
	out, err := e.Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonDriftDetected || !strings.Contains(out.Condition.Message, "services=2") {
		t.Fatalf("apply: %+v %v (ran %v)", out.Condition, err, out.Ran)
	}
	if contains(out.Ran, "traffic_50") {
		t.Fatal("a traffic step ran after the drift")
	}
}

// TestFaultLBReloadFails: the load balancer's configuration test fails:
// the traffic step fails, the previous upstream file is put back (the
// split read back is still all X), and the plan stalls with the cause.
func TestFaultLBReloadFails(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	src := strings.Replace(w.planSrc(""), "test          = "+hclList(w.ng.TestCommand()), `test          = ["false"]`, 1)
	e := engineFor(t, lintedPlan(t, src), w.sim, w.store, fast)
	out, err := e.Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonStepFailed || !strings.Contains(out.Condition.Message, "traffic_10") {
		t.Fatalf("apply: %+v %v", out.Condition, err)
	}
	pv, _ := e.Preview(context.Background())
	if tr := pv.Observed.Traffic; tr == nil || tr.From != 100 {
		t.Fatalf("traffic after the failed reload: %+v", tr)
	}
}

// TestPrometheusGatePasses: a real Prometheus scrapes Y's Status API
// /metrics; the analysis (Y's 5xx rate, 0 when there is none) passes every
// pause, and the rollout proceeds to the decommission gate.
func TestPrometheusGatePasses(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	prom := testenv.Prometheus(t, w.sim.cfg("y").StatusListen)
	stopLoad := w.load()
	defer stopLoad()
	extra := fmt.Sprintf("  analysis \"y_5xx_rate\" {\n    prometheus = %q\n    query      = \"sum(rate(kong_http_requests_total{code=~\\\"5..\\\"}[1m])) or vector(0)\"\n    max        = 0.01\n    interval   = \"100ms\"\n    failures   = 0\n  }\n", prom)
	out, err := engineFor(t, lintedPlan(t, w.planSrc(extra)), w.sim, w.store).Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval {
		t.Fatalf("apply: %+v %v (ran %v)", out.Condition, err, out.Ran)
	}
	recs, _ := w.store.Records(context.Background(), "dual-e2e", 0)
	passed := 0
	for _, r := range recs {
		if r.Kind == KindOutcome && strings.HasPrefix(r.Step, "pause_") && r.Result == ResultOK && strings.Contains(r.Output, "y_5xx_rate: y_5xx_rate passed") {
			passed++
		}
	}
	if passed != 3 {
		t.Fatalf("pauses whose analysis passed: %d, want 3", passed)
	}
	if res := stopLoad(); res.Failed != 0 {
		t.Errorf("load: %d failed of %d", res.Failed, res.Requests)
	}
}

// TestFaultYAdminAPIFails: Y starts but its Admin API answers 500: Y is
// never observed ready, the start step fails after the wait and retries,
// the plan stalls, and no traffic moves.
func TestFaultYAdminAPIFails(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	e := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store, fast, func(c *Config) {
		orig := c.Drivers.Hooks
		c.Drivers.Hooks = hookFunc(func(ctx context.Context, argv []string) (string, error) {
			out, err := orig.Run(ctx, argv)
			if err == nil && strings.Join(argv, " ") == "sim start y" {
				w.sim.node("y").Faults().Fail("admin", 500, 1000000)
				w.sim.node("y").Faults().Fail("status", 500, 1000000)
			}
			return out, err
		})
	})
	out, err := e.Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonStepFailed || !strings.Contains(out.Condition.Message, "start_to") {
		t.Fatalf("apply: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if got := intents(t, w.store, "dual-e2e"); contains(got, "traffic_10") {
		t.Fatalf("traffic moved to a Y that is not ready: %v", got)
	}
}

// TestFaultXDatabaseUnreachable: X's database does not answer: the
// observation records it, the guard refuses, nothing else runs.
func TestFaultXDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	down := fmt.Sprintf("postgres://kong@127.0.0.1:%d/kong?sslmode=disable&connect_timeout=2", testenv.FreePort(t))
	src := strings.Replace(w.planSrc(""), fmt.Sprintf("database { dsn = %q }", w.dsnX), fmt.Sprintf("database { dsn = %q }", down), 1)
	out, err := engineFor(t, lintedPlan(t, src), w.sim, w.store, fast).Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonPreconditionFail || !strings.Contains(out.Condition.Message, "X's database cannot be read") {
		t.Fatalf("apply: %+v %v", out.Condition, err)
	}
	if got := intents(t, w.store, "dual-e2e"); len(got) != 1 {
		t.Fatalf("intents %v: only the guard may run", got)
	}
}

// TestFaultAdminAPITimeouts: Y's Admin and Status APIs accept connections
// and never answer. Each observation part gives up after PartTimeout, the
// start step fails with the cause, and no traffic moves to a Y whose
// state cannot be observed. When Y answers again, the next apply goes on
// from where it stopped.
// (The 3 s wait and 0.5 s part timeout are the test's; the defaults are
// 2 min and 15 s.)
func TestFaultAdminAPITimeouts(t *testing.T) {
	t.Parallel()
	w := newDualWorld(t)
	// Short enough that the hung Y is given up on quickly, long enough
	// that a read of the journal database on a busy machine is not (500 ms
	// was: a read of locks timed out under a load average of 30).
	short := func(c *Config) { c.Drivers.Observer.PartTimeout = 3 * time.Second }
	e := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store, fast, short, func(c *Config) {
		orig := c.Drivers.Hooks
		c.Drivers.Hooks = hookFunc(func(ctx context.Context, argv []string) (string, error) {
			out, err := orig.Run(ctx, argv)
			if err == nil && strings.Join(argv, " ") == "sim start y" {
				w.sim.node("y").Faults().Hang("admin", 1000000)
				w.sim.node("y").Faults().Hang("status", 1000000)
			}
			return out, err
		})
	})
	out, err := e.Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonStepFailed || !strings.Contains(out.Condition.Message, "start_to") ||
		!strings.Contains(out.Condition.Message, "deadline exceeded") {
		t.Fatalf("apply: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	if got := intents(t, w.store, "dual-e2e"); contains(got, "traffic_10") {
		t.Fatalf("traffic moved to a Y that does not answer: %v", got)
	}
	w.sim.node("y").Faults().Clear()
	out, err = engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store, fast, short).Apply(context.Background())
	if err != nil || out.Condition.Reason != ReasonAwaitingApproval {
		t.Fatalf("apply after Y answers again: %+v %v ran %v", out.Condition, err, out.Ran)
	}
	// Y now answers ready, so start_to is observed done: the run goes on
	// at Y's preflight pass and the checks, and nothing before it (backup,
	// restore, migrations) runs again.
	if len(out.Ran) < 2 || out.Ran[0] != "preflight_y" || out.Ran[1] != "checks" {
		t.Errorf("the second apply should go on at preflight_y and the checks, ran %v", out.Ran)
	}
}
