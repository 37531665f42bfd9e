package migrations

import (
	"reflect"
	"strings"
	"testing"
)

const hint = "\n  Run with --v (verbose) or --vv (debug) for more details\n"

func TestListNeedsBootstrap(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	wantResult(t, "list", d.run("3.6.1", "list", Options{}), 3, needsBootstrapMsg+"\n", "")
	if st := d.inspect("3.6.1"); !st.NeedsBootstrap || st.UpToDate() || len(st.New["core"]) != 21 {
		t.Errorf("inspect fresh db: needs bootstrap %v, new core %v", st.NeedsBootstrap, st.New["core"])
	}
	wantResult(t, "up", d.run("3.6.1", "up", Options{}), 1, "", "Error: Cannot run migrations: "+needsBootstrapMsg+"\n"+hint)
	wantResult(t, "finish", d.run("3.6.1", "finish", Options{}), 1, "", "Error: Cannot run migrations: "+needsBootstrapMsg+"\n"+hint)
	wantResult(t, "reset --yes", d.run("3.6.1", "reset", Options{Yes: true}), 1, "Database not bootstrapped, nothing to reset\n", "")
	s := d.run("3.6.1", "status", Options{})
	if s.code != 0 || !strings.HasPrefix(s.stdout, `{"needs_bootstrap":true,"new_migrations":[{"subsystem":"core","namespace":"kong.db.migrations.core","migrations":["000_base",`) {
		t.Errorf("status: %d %s", s.code, s.stdout)
	}
}

func TestListNewOnly(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.must("3.5.0", "bootstrap")
	r := d.run("3.6.1", "list", Options{})
	wantTail := "\n\nNew migrations available:\n" +
		"                 core: 022_350_to_360\n" +
		"                 acme: 003_350_to_360\n" +
		"        rate-limiting: 006_350_to_360\n" +
		"response-ratelimiting: 001_350_to_360\n" +
		"\nRun 'kong migrations up' to proceed\n"
	if r.code != 5 || !strings.HasPrefix(r.stdout, "Executed migrations:\n") || !strings.HasSuffix(r.stdout, wantTail) || r.stderr != "" {
		t.Errorf("list 3.6.1 on 3.5.0 db: exit %d\n%s\nstderr %q", r.code, r.stdout, r.stderr)
	}
	st := d.inspect("3.6.1")
	if st.UpToDate() || len(st.New) != 4 || len(st.Pending) != 0 {
		t.Errorf("inspect: %+v", st.New)
	}
}

func TestListPendingAndNew(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.must("3.5.0", "bootstrap")
	d.must("3.7.0", "up") // leaves the redis moves and ai-proxy's fixup pending
	r := d.run("3.9.1", "list", Options{})
	wantTail := "\n\nPending migrations:\n" +
		"                 acme: 003_350_to_360\n" +
		"             ai-proxy: 001_360_to_370\n" +
		"        rate-limiting: 006_350_to_360\n" +
		"response-ratelimiting: 001_350_to_360\n" +
		"\nNew migrations available:\n" +
		"core: 024_380_to_390\n" +
		"\n" +
		"\nRun 'kong migrations finish' when ready to complete pending migrations (postgres database will be incompatible with the previous Kong version)\n"
	wantErr := warnPrefix + "Database has pending migrations from a previous upgrade, and new migrations from this upgrade (version 3.9.1)\n"
	if r.code != 4 || !strings.HasSuffix(r.stdout, wantTail) || r.stderr != wantErr {
		t.Errorf("list 3.9.1: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// 3.9.1's up refuses while 3.7's teardowns are pending.
	wantResult(t, "up 3.9.1", d.run("3.9.1", "up", Options{}), 1, "",
		"Error: Database has pending migrations; run 'kong migrations finish'\n"+hint)
	// finish by 3.9.1 runs the teardowns and points at the new ones.
	f := d.run("3.9.1", "finish", Options{})
	if f.code != 0 || !strings.HasSuffix(f.stdout, "4 migrations processed\n4 executed\n\nNew migrations available; run 'kong migrations up' to proceed\n") {
		t.Errorf("finish 3.9.1: %d\n%s%s", f.code, f.stdout, f.stderr)
	}
}

func TestInspectMissingAndUnknown(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.must("3.5.0", "bootstrap")
	// A core row that lost its last_executed name (021) and carries a name
	// no version knows; a subsystem no open-source version knows.
	d.exec(`UPDATE schema_meta SET executed = array_remove(executed, '021_340_to_350') || '{999_custom}'::text[] WHERE subsystem = 'core'`)
	d.exec(`INSERT INTO schema_meta (key, subsystem, last_executed, executed) VALUES ('schema_meta', 'enterprise-only', 'x', '{x}')`)
	st := d.inspect("3.5.0")
	if !reflect.DeepEqual(st.Missing, map[string][]string{"core": {"021_340_to_350"}}) || len(st.New) != 0 || !st.UpToDate() {
		t.Errorf("missing %v new %v", st.Missing, st.New)
	}
	// list does not print missing migrations; exit 0.
	if r := d.run("3.5.0", "list", Options{}); r.code != 0 || strings.Contains(r.stdout, "021_340_to_350") || strings.Contains(r.stdout, "999_custom") {
		t.Errorf("list: %d\n%s", r.code, r.stdout)
	}
	// A name lost before last_executed is new, as state.lua has it: the
	// node would refuse to start, and list exits 5.
	d.exec(`UPDATE schema_meta SET executed = array_remove(executed, '019_320_to_330') WHERE subsystem = 'core'`)
	if st := d.inspect("3.5.0"); !reflect.DeepEqual(st.New, map[string][]string{"core": {"019_320_to_330"}}) || st.UpToDate() {
		t.Errorf("after losing 019: new %v", st.New)
	}
	if r := d.run("3.5.0", "list", Options{}); r.code != 5 {
		t.Errorf("list after losing 019: exit %d", r.code)
	}
}

func TestEnterpriseLTSHop(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.must("3.4.3.12", "bootstrap")
	up := d.must("3.10.0.2", "up")
	if !strings.Contains(up.stdout, "core migrated up to: 025_390_to_3100 (executed)\n") ||
		!strings.Contains(up.stdout, "ai-proxy migrated up to: 001_360_to_370 (pending)\n") ||
		!strings.HasSuffix(up.stdout, "\nDatabase has pending migrations; run 'kong migrations finish' when ready\n") {
		t.Errorf("up 3.10.0.2:\n%s", up.stdout)
	}
	want := map[string][]string{"acme": {"003_350_to_360"}, "ai-proxy": {"001_360_to_370"}, "rate-limiting": {"006_350_to_360"}, "response-ratelimiting": {"001_350_to_360"}}
	if st := d.inspect("3.10.0.2"); !reflect.DeepEqual(st.Pending, want) || !st.UpToDate() {
		t.Errorf("pending after up: %v", st.Pending)
	}
	if r := d.run("3.4.3.12", "list", Options{}); r.code != 0 {
		t.Errorf("3.4.3.12 list after up: exit %d\n%s", r.code, r.stdout)
	}
	if r := d.run("3.10.0.2", "list", Options{}); r.code != 4 {
		t.Errorf("3.10.0.2 list after up: exit %d", r.code)
	}
	d.must("3.10.0.2", "finish")
	if r := d.run("3.10.0.2", "list", Options{}); r.code != 0 || !strings.Contains(r.stdout, "              session: 000_base_session, 001_add_ttl_index, 002_320_to_330, 003_330_to_3100\n") {
		t.Errorf("3.10.0.2 list after finish: exit %d\n%s", r.code, r.stdout)
	}
}

func TestResetAndForce(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.must("3.9.1", "bootstrap")
	wantResult(t, "reset off-tty", d.run("3.9.1", "reset", Options{}), 1, "",
		"Error: not a tty: invoke 'reset' non-interactively with the --yes flag\n"+hint)
	wantResult(t, "reset tty, answer n", d.run("3.9.1", "reset", Options{IsTTY: true, Stdin: strings.NewReader("n\n")}), 0,
		"> Are you sure? This operation is irreversible. [y/n] cancelled\n", "")
	if st := d.inspect("3.9.1"); st.NeedsBootstrap {
		t.Fatal("cancelled reset reset the database")
	}
	wantResult(t, "reset --yes", d.run("3.9.1", "reset", Options{Yes: true}), 0, "Resetting database...\nDatabase successfully reset\n", "")
	if st := d.inspect("3.9.1"); !st.NeedsBootstrap {
		t.Fatal("reset left schema_meta")
	}
	d.must("3.9.1", "bootstrap")
	d.exec(`INSERT INTO services (id, created_at) VALUES (gen_random_uuid(), now())`)
	b := d.run("3.9.1", "bootstrap", Options{Force: true})
	if b.code != 0 || !strings.HasPrefix(b.stdout, "Resetting database...\nDatabase successfully reset\nBootstrapping database...\n") {
		t.Errorf("bootstrap -f: %d\n%s%s", b.code, b.stdout, b.stderr)
	}
	if n := d.queryString(`SELECT count(*)::text FROM services`); n != "0" {
		t.Errorf("bootstrap -f kept %s services", n)
	}
	// up -f re-runs every executed migration and appends the names again.
	u := d.run("3.9.1", "up", Options{Force: true})
	if u.code != 0 || !strings.Contains(u.stdout, "core migrated up to: 000_base (executed)\n") {
		t.Errorf("up -f: %d\n%s%s", u.code, u.stdout, u.stderr)
	}
	if n := d.queryString(`SELECT cardinality(executed)::text FROM schema_meta WHERE subsystem = 'core'`); n != "46" {
		t.Errorf("core executed after up -f has %s entries, want 46 (23 twice)", n)
	}
}
