package migrations

import (
	"context"
	"testing"
	"time"
)

const upTo361Until006 = `migrating core on database 'kong'...
core migrated up to: 022_350_to_360 (executed)
migrating acme on database 'kong'...
acme migrated up to: 003_350_to_360 (pending)
migrating rate-limiting on database 'kong'...
`

const clientTimeoutErr = "Error: [PostgreSQL error] cluster_mutex callback threw an error: [PostgreSQL error] failed to run migration '006_350_to_360' up: receive_message: failed to get type: timeout\n" + hint

// seed35 bootstraps 3.5.0 and adds a rate-limiting plugin with flat redis_* fields.
func seed35(t *testing.T) *db {
	d := newDB(t)
	d.must("3.5.0", "bootstrap")
	d.exec(`INSERT INTO plugins (id, created_at, name, entity) VALUES ('8d1a2b6e-4f0e-4b52-9d55-1b1d7e1f3a01', 1, 'rate-limiting', $1::jsonb)`, redisPlugin)
	return d
}

// check006 reports whether 006's up is in the data, and how 3.6.1
// classifies it.
func (d *db) check006() (migrated bool, state string) {
	d.t.Helper()
	migrated = d.queryString(`SELECT (entity->'config' ? 'redis')::text FROM plugins`) == "true"
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
