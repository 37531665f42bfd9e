package migrations

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

const upTo361Until006 = `migrating core on database 'kong'...
core migrated up to: 022_350_to_360 (executed)
migrating acme on database 'kong'...
acme migrated up to: 003_350_to_360 (executed)
migrating rate-limiting on database 'kong'...
`

const clientTimeoutErr = "Error: [PostgreSQL error] cluster_mutex callback threw an error: [PostgreSQL error] failed to run migration '006_350_to_360' up: receive_message: failed to get type: timeout\n" + hint

// seed35 bootstraps 3.5.0 and adds a rate-limiting plugin with flat redis_* fields.
func seed35(t *testing.T) *db {
	d := newDB(t)
	d.must("3.5.0", "bootstrap")
	d.exec(`INSERT INTO plugins (id, created_at, name, config, enabled, ws_id) SELECT '8d1a2b6e-4f0e-4b52-9d55-1b1d7e1f3a01', now(), 'rate-limiting', $1::jsonb -> 'config', true, id FROM workspaces WHERE name = 'default'`, redisPlugin)
	return d
}

// check006 reports whether 006's up is in the data, and how 3.6.1
// classifies it.
func (d *db) check006() (migrated bool, state string) {
	d.t.Helper()
	migrated = d.queryString(`SELECT (config ? 'redis')::text FROM plugins`) == "true"
	st := d.inspect("3.6.1")
	for _, s := range []struct {
		name string
		m    map[string][]string
	}{{"executed", st.Executed}, {"pending", st.Pending}, {"new", st.New}, {"missing", st.Missing}} {
		for _, n := range s.m["rate-limiting"] {
			if n == "006_350_to_360" {
				return migrated, s.name
			}
		}
	}
	return migrated, "absent"
}

// Scenario 2: the client times out, the server commits, schema_meta does
// not record the step, the lock is released.
func TestClientTimeoutFault(t *testing.T) {
	t.Parallel()
	d := seed35(t)
	r := d.run("3.6.1", "up", Options{Faults: Faults{ClientTimeout: "rate-limiting/006_350_to_360"}})
	wantResult(t, "up", r, 1, upTo361Until006, clientTimeoutErr)
	if migrated, state := d.check006(); !migrated || state != "new" {
		t.Errorf("after the timeout: data migrated %v, 006 is %s; want true, new", migrated, state)
	}
	if n := d.queryString(`SELECT count(*)::text FROM locks`); n != "0" {
		t.Errorf("%s lock rows left after a failed up (Kong removes its lock)", n)
	}
}

// The same field failure produced by timing: a slow step and a short
// --db-timeout. The client gives up; the server's transaction goes on and
// commits later.
func TestSlowStepHitsDBTimeout(t *testing.T) {
	t.Parallel()
	d := seed35(t)
	r := d.run("3.6.1", "up", Options{DBTimeout: 500 * time.Millisecond, Faults: Faults{Slow: map[string]time.Duration{"006_350_to_360": 1500 * time.Millisecond}}})
	wantResult(t, "up", r, 1, upTo361Until006, clientTimeoutErr)
	for deadline := time.Now().Add(15 * time.Second); ; {
		if migrated, _ := d.check006(); migrated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server-side transaction never committed")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		// Wait on the server for the orphaned backend instead of sleeping here.
		_, _ = d.conn().Exec(ctx, `SELECT pg_sleep(0.1)`)
		cancel()
	}
	if _, state := d.check006(); state != "new" {
		t.Errorf("006 is %s after the orphaned commit, want new", state)
	}
}

// Scenario 1: the runner dies after the step committed, before schema_meta
// records it; the lock row stays until its TTL.
func TestKillAfterCommitFault(t *testing.T) {
	t.Parallel()
	d := seed35(t)
	killedCalled := false
	r := d.run("3.6.1", "up", Options{Faults: Faults{KillAfterCommit: "006_350_to_360"}, Kill: func() { killedCalled = true }})
	if r.code != ExitKilled || !killedCalled || r.stdout != upTo361Until006 || r.stderr != "" {
		t.Errorf("up: exit %d (kill called %v)\n%s%s", r.code, killedCalled, r.stdout, r.stderr)
	}
	if migrated, state := d.check006(); !migrated || state != "new" {
		t.Errorf("after the kill: data migrated %v, 006 is %s; want true, new", migrated, state)
	}
	if n := d.queryString(`SELECT count(*)::text FROM locks WHERE key = 'migrations' AND ttl > now()`); n != "1" {
		t.Errorf("live lock rows after the kill: %s, want 1", n)
	}
	// The next runner finds the dead runner's live lock: "aborted", exit 0.
	wantResult(t, "finish", d.run("3.6.1", "finish", Options{}), 0, notLeaderMsg+"\n", "")
}

// Scenario 4: the lock expires while a slow step runs; a second runner
// takes the lock and applies the same migrations; both exit 0 and
// schema_meta records the steps twice.
func TestLockExpiresMidMigration(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.must("3.5.0", "bootstrap")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := make(chan result, 1)
	go func() {
		var out, errb strings.Builder
		r := New(d.connectFunc("first-up"), Options{Version: kongrelease.MustParse("3.6.1"), Database: "kong", Stdout: &out, Stderr: &errb,
			LockTimeout: 500 * time.Millisecond, Faults: Faults{Slow: map[string]time.Duration{"core/022_350_to_360": 5 * time.Second}}})
		code := r.Run(ctx, "up")
		first <- result{code, out.String(), errb.String()}
	}()
	c := d.conn()
	tick := time.NewTicker(20 * time.Millisecond) // poll, don't spin: the machine has two cores
	defer tick.Stop()
	for ; ; <-tick.C {
		var sleeping, live int
		// "live" keeps a 0.5 s margin past the lock's expiry, so the
		// second runner surely finds it expired; the slow step (5 s)
		// leaves it time to start while the first still sleeps.
		err := c.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_stat_activity WHERE application_name = 'first-up' AND state = 'active' AND query LIKE '%pg_sleep%'),
		                               (SELECT count(*) FROM locks WHERE ttl >= now() - interval '500 milliseconds')`).Scan(&sleeping, &live)
		if err != nil {
			t.Fatalf("waiting for the first runner's slow step and lock expiry: %v", err)
		}
		if sleeping > 0 && live == 0 {
			break
		}
	}
	// Under a loaded CI machine the second runner was once refused with
	// "aborted" although the poll above had seen the lock expired (cause
	// not found: see the closing note of session 2). Kong's own answer to
	// "aborted" is to run again, so a refused second runner is retried
	// while the first still sleeps; every refusal is logged with the
	// locks table, and the test fails if none succeeds before the first
	// runner finishes its slow step.
	var second result
	for attempt := 1; ; attempt++ {
		second = d.run("3.6.1", "up", Options{})
		if second.code == 0 && strings.Contains(second.stdout, "4 migrations processed") {
			break
		}
		locks := d.queryString(`SELECT coalesce(string_agg(owner || ' ttl ' || ttl::text || ' now ' || now()::text, '; '), 'none') FROM locks`)
		var sleeping int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'first-up' AND state = 'active' AND query LIKE '%pg_sleep%'`).Scan(&sleeping); err != nil || sleeping == 0 || attempt == 5 {
			t.Errorf("second runner, attempt %d: %+v; locks now: %s (first runner still sleeping: %d, %v)", attempt, second, locks, sleeping, err)
			break
		}
		t.Logf("second runner refused on attempt %d while the first sleeps: %+v; locks: %s", attempt, second, locks)
	}
	var r1 result
	select {
	case r1 = <-first:
	case <-ctx.Done():
		t.Fatal("first runner did not finish")
	}
	if r1.code != 0 || !strings.Contains(r1.stdout, "4 migrations processed") {
		t.Errorf("first runner: %+v", r1)
	}
	// 3.6.1's 006 has no teardown: executed (twice), not pending.
	got := d.queryString(`SELECT (SELECT array_to_string(array_positions(executed, '022_350_to_360'), ',') FROM schema_meta WHERE subsystem = 'core') || ' ' ||
		(SELECT array_to_string(array_positions(executed, '006_350_to_360'), ',') || ' pending ' || COALESCE(array_to_string(pending, ','), '') FROM schema_meta WHERE subsystem = 'rate-limiting')`)
	if got != "21,22 5,6 pending " {
		t.Errorf("schema_meta after two runners = %q, want 022 and 006 recorded twice, nothing pending", got)
	}
}
