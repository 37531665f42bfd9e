package migrations

import (
	"reflect"
	"strings"
	"testing"
)

// list35 is `kong migrations list` of 3.5.0 on a 3.5.0 database
// (kong-facts §3.4 format: right-aligned subsystem names).
const list35 = `Executed migrations:
                 core: 000_base, 003_100_to_110, 004_110_to_120, 005_120_to_130, 006_130_to_140, 007_140_to_150, 008_150_to_200, 009_200_to_210, 010_210_to_211, 011_212_to_213, 012_213_to_220, 013_220_to_230, 014_230_to_270, 015_270_to_280, 016_280_to_300, 017_300_to_310, 018_310_to_320, 019_320_to_330, 020_330_to_340, 021_340_to_350
                  acl: 000_base_acl, 002_130_to_140, 003_200_to_210, 004_212_to_213
                 acme: 000_base_acme, 001_280_to_300, 002_320_to_330
           basic-auth: 000_base_basic_auth, 002_130_to_140, 003_200_to_210
        bot-detection: 001_200_to_210
            hmac-auth: 000_base_hmac_auth, 002_130_to_140, 003_200_to_210
             http-log: 001_280_to_300
       ip-restriction: 001_200_to_210
                  jwt: 000_base_jwt, 002_130_to_140, 003_200_to_210
             key-auth: 000_base_key_auth, 002_130_to_140, 003_200_to_210, 004_320_to_330
               oauth2: 000_base_oauth2, 003_130_to_140, 004_200_to_210, 005_210_to_211, 006_320_to_330, 007_320_to_330
        opentelemetry: 001_331_to_332
        post-function: 001_280_to_300
         pre-function: 001_280_to_300
        rate-limiting: 000_base_rate_limiting, 003_10_to_112, 004_200_to_210, 005_320_to_330
response-ratelimiting: 000_base_response_rate_limiting
              session: 000_base_session, 001_add_ttl_index, 002_320_to_330
`

// upTo371 is `kong migrations up` of 3.7.1 on a 3.5.0 database: from
// 3.7.0 the redis moves keep the old fields until their teardown, so they
// are pending (3.6.x's have no teardown: TestRedisMove350To361Data).
const upTo371 = `migrating core on database 'kong'...
core migrated up to: 022_350_to_360 (executed)
core migrated up to: 023_360_to_370 (executed)
migrating acme on database 'kong'...
acme migrated up to: 003_350_to_360 (pending)
migrating ai-proxy on database 'kong'...
ai-proxy migrated up to: 001_360_to_370 (pending)
migrating rate-limiting on database 'kong'...
rate-limiting migrated up to: 006_350_to_360 (pending)
migrating response-ratelimiting on database 'kong'...
response-ratelimiting migrated up to: 001_350_to_360 (pending)
6 migrations processed
2 executed
4 pending

Database has pending migrations; run 'kong migrations finish' when ready
`

// finish371: Kong re-reads the state after the teardowns and, finding
// nothing pending, also prints "No pending migrations to finish"
// (K: kong/cmd/utils/migrations.lua finish).
const finish371 = `migrating acme on database 'kong'...
acme migrated up to: 003_350_to_360 (executed)
migrating ai-proxy on database 'kong'...
ai-proxy migrated up to: 001_360_to_370 (executed)
migrating rate-limiting on database 'kong'...
rate-limiting migrated up to: 006_350_to_360 (executed)
migrating response-ratelimiting on database 'kong'...
response-ratelimiting migrated up to: 001_350_to_360 (executed)
4 migrations processed
4 executed
No pending migrations to finish
`

const redisPlugin = `{"id":"8d1a2b6e-4f0e-4b52-9d55-1b1d7e1f3a01","name":"rate-limiting","created_at":1,"enabled":true,
 "config":{"minute":5,"policy":"redis","redis_host":"10.0.0.5","redis_port":6379,"redis_timeout":2000,"redis_database":0,
           "redis_password":null,"redis_username":null,"redis_ssl":false,"redis_ssl_verify":false,"redis_server_name":null}}`

// TestBlueGreen350To371: the two-phase hop with the redis moves pending
// (a hop Kong runs from 3.7.0 on; 3.5 → 3.7 skips a series, which the
// emulator's migrations do not care about).
func TestBlueGreen350To371(t *testing.T) {
	t.Parallel()
	d := newDB(t)

	r := d.must("3.5.0", "bootstrap")
	if !strings.HasPrefix(r.stdout, "Bootstrapping database...\nmigrating core on database 'kong'...\ncore migrated up to: 000_base (executed)\n") ||
		!strings.HasSuffix(r.stdout, "\n60 migrations processed\n60 executed\nDatabase is up-to-date\n") {
		t.Errorf("bootstrap stdout:\n%s", r.stdout)
	}
	if st := d.inspect("3.5.0"); !st.UpToDate() || len(st.Pending) != 0 || len(st.Missing) != 0 {
		t.Fatalf("after bootstrap 3.5.0: %+v", st)
	}
	wantResult(t, "list 3.5.0", d.run("3.5.0", "list", Options{}), 0, list35, "")
	wantResult(t, "bootstrap again", d.run("3.5.0", "bootstrap", Options{}), 0, "Database already bootstrapped\n", "")
	wantResult(t, "up 3.5.0", d.run("3.5.0", "up", Options{}), 0, "Database is already up-to-date\n", "")

	d.exec(`INSERT INTO plugins (id, created_at, name, config, enabled, ws_id) SELECT '8d1a2b6e-4f0e-4b52-9d55-1b1d7e1f3a01', now(), 'rate-limiting', $1::jsonb -> 'config', true, id FROM workspaces WHERE name = 'default'`, redisPlugin)

	wantResult(t, "up 3.7.1", d.run("3.7.1", "up", Options{}), 0, upTo371, "")
	st := d.inspect("3.7.1")
	wantPending := map[string][]string{"acme": {"003_350_to_360"}, "ai-proxy": {"001_360_to_370"}, "rate-limiting": {"006_350_to_360"}, "response-ratelimiting": {"001_350_to_360"}}
	if !reflect.DeepEqual(st.Pending, wantPending) || len(st.New) != 0 || !st.UpToDate() {
		t.Errorf("after up, 3.7.1 sees pending %v new %v", st.Pending, st.New)
	}
	if st := d.inspect("3.5.0"); !st.UpToDate() || len(st.Pending) != 0 {
		t.Errorf("after up, 3.5.0 must ignore names it does not know: %+v", st)
	}
	// up copies the flat fields and keeps them.
	if got := d.queryString(`SELECT config->'redis'->>'host' || ' ' || (config->>'redis_host') FROM plugins`); got != "10.0.0.5 10.0.0.5" {
		t.Errorf("after up: redis.host, redis_host = %q", got)
	}
	list371 := d.run("3.7.1", "list", Options{})
	if list371.code != 4 || !strings.Contains(list371.stdout, "\n\nPending migrations:\n                 acme: 003_350_to_360\n             ai-proxy: 001_360_to_370\n        rate-limiting: 006_350_to_360\nresponse-ratelimiting: 001_350_to_360\n\nRun 'kong migrations finish' when ready\n") {
		t.Errorf("list 3.7.1 after up: exit %d\n%s", list371.code, list371.stdout)
	}
	wantResult(t, "list 3.5.0 after up", d.run("3.5.0", "list", Options{}), 0, list35, "")
	wantResult(t, "up again", d.run("3.7.1", "up", Options{}), 1, "",
		"Error: Database has pending migrations; run 'kong migrations finish'\n\n  Run with --v (verbose) or --vv (debug) for more details\n")

	wantResult(t, "finish 3.7.1", d.run("3.7.1", "finish", Options{}), 0, finish371, "")
	if st := d.inspect("3.7.1"); !st.UpToDate() || len(st.Pending) != 0 {
		t.Errorf("after finish: %+v", st)
	}
	l := d.run("3.7.1", "list", Options{})
	if l.code != 0 || strings.Contains(l.stdout, "Pending") || !strings.Contains(l.stdout, "        rate-limiting: 000_base_rate_limiting, 003_10_to_112, 004_200_to_210, 005_320_to_330, 006_350_to_360\n") {
		t.Errorf("list 3.7.1 after finish: exit %d\n%s", l.code, l.stdout)
	}
	// The teardown removed the flat fields that 3.5 reads.
	if got := d.queryString(`SELECT (config ? 'redis_host')::text || ' ' || (config->'redis'->>'port') FROM plugins`); got != "false 6379" {
		t.Errorf("after finish: has redis_host, redis.port = %q", got)
	}
	wantResult(t, "finish again", d.run("3.7.1", "finish", Options{}), 0, "No pending migrations to finish\n", "")
}

func TestStartMessages(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	if err := d.inspect("3.5.0").StartError(); err == nil || !strings.HasPrefix(err.Error(), "Database needs bootstrapping") {
		t.Errorf("fresh db: %v", err)
	}
	d.must("3.5.0", "bootstrap")
	if err := d.inspect("3.7.1").StartError(); err == nil || err.Error() != "New migrations available; run 'kong migrations up' to proceed" {
		t.Errorf("3.7.1 on 3.5.0 db: %v", err)
	}
	d.must("3.7.1", "up")
	st := d.inspect("3.7.1")
	if err := st.StartError(); err != nil {
		t.Errorf("pending only must start: %v", err)
	}
	want := "Database has pending migrations:\n                 acme: 003_350_to_360\n             ai-proxy: 001_360_to_370\n        rate-limiting: 006_350_to_360\nresponse-ratelimiting: 001_350_to_360"
	if got := st.StartInfo(); got != want {
		t.Errorf("StartInfo:\n%q\nwant\n%q", got, want)
	}
	if got := st.NginxWarning(); got != "database has pending migrations:\n"+strings.TrimPrefix(want, "Database has pending migrations:\n") {
		t.Errorf("NginxWarning: %q", got)
	}
	if st := d.inspect("3.5.0"); st.StartError() != nil || st.StartInfo() != "" {
		t.Errorf("3.5.0 after up: %v %q", st.StartError(), st.StartInfo())
	}
}
