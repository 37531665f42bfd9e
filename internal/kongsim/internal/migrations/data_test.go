package migrations

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// These tests seed Kong's tables, run `up` then `finish` through the
// Runner (what kongsim's `kong migrations` and kongsim.Migrate run), and
// compare every row with the JSON the migration file's SQL or Lua leaves,
// written by hand from the file (not computed by the emulator's SQL).

// addPlugins inserts n plugins named name with config (a JSON literal) in
// the default workspace.
func (d *db) addPlugins(n int, name, config string) {
	d.t.Helper()
	d.exec(`INSERT INTO plugins (id, created_at, name, config, enabled, ws_id)
		SELECT gen_random_uuid(), now(), $1, $2::jsonb, true, w.id
		  FROM generate_series(1, $3) AS g(i), workspaces w WHERE w.name = 'default'`, name, config, n)
}

// wantConfigs checks that exactly n plugins named name have config equal
// (as jsonb) to want.
func (d *db) wantConfigs(when, name string, n int, want string) {
	d.t.Helper()
	got := d.queryString(`SELECT count(*) FILTER (WHERE config = $2::jsonb)::text || '/' || count(*)::text FROM plugins WHERE name = $1 AND config->>'tag' = ($2::jsonb)->>'tag'`, name, want)
	if got != fmt.Sprintf("%d/%d", n, n) {
		sample := d.queryString(`SELECT COALESCE(min(config::text), 'none') FROM plugins WHERE name = $1 AND config->>'tag' = ($2::jsonb)->>'tag'`, name, want)
		d.t.Errorf("%s: %s plugins with config %s: %s; one has %s", when, name, want, got, sample)
	}
}

// redis9 is the config.redis object 3.6's migrations build.
func redis9(host, port, password, username, ssl, sslVerify, serverName, timeout, database string) string {
	return fmt.Sprintf(`{"host":%s,"port":%s,"password":%s,"username":%s,"ssl":%s,"ssl_verify":%s,"server_name":%s,"timeout":%s,"database":%s}`,
		host, port, password, username, ssl, sslVerify, serverName, timeout, database)
}

// redisShape is one plugin config before the 3.6 redis moves, after a
// 3.7+ `up` and `finish`, and after 3.6.x's `up` (which has no teardown).
type redisShape struct{ before, afterUp, afterFinish, at36 string }

// redisMoveWorld bootstraps 3.5.0 with 250 rate-limiting, 50
// response-ratelimiting and 50 acme plugins in five shapes (flat fields
// set, flat nulls, no redis field at all, only the nested record, both
// disagreeing), and a key-auth plugin the migrations must not touch.
// Each shape's expected configs are written by hand from the files: K:
// kong/plugins/rate-limiting/migrations/006_350_to_360.lua,
// response-ratelimiting/migrations/001_350_to_360.lua,
// acme/migrations/003_350_to_360.lua at tags 3.6.1 (4e006aa) and 3.7.0
// (f16a64f).
func redisMoveWorld(t *testing.T) (d *db, rl map[string]redisShape, rrl, acme redisShape, other string) {
	d = newDB(t)
	d.must("3.5.0", "bootstrap")
	// 3.6.x: flat fields removed, config.redis rebuilt from them alone.
	flat36 := `{"tag":"flat","minute":5,"policy":"redis","redis":` + redis9(`"h1"`, "6379", `"pw"`, `"u"`, "true", "false", `"sn"`, "2000", "3") + `}`
	rl = map[string]redisShape{
		"flat": {
			`{"tag":"flat","minute":5,"policy":"redis","redis_host":"h1","redis_port":6379,"redis_password":"pw","redis_username":"u","redis_ssl":true,"redis_ssl_verify":false,"redis_server_name":"sn","redis_timeout":2000,"redis_database":3}`,
			`{"tag":"flat","minute":5,"policy":"redis","redis_host":"h1","redis_port":6379,"redis_password":"pw","redis_username":"u","redis_ssl":true,"redis_ssl_verify":false,"redis_server_name":"sn","redis_timeout":2000,"redis_database":3,"redis":` +
				redis9(`"h1"`, "6379", `"pw"`, `"u"`, "true", "false", `"sn"`, "2000", "3") + `}`,
			flat36, flat36,
		},
		// A JSON null in a flat field is a value: COALESCE keeps it.
		"nulls": {
			`{"tag":"nulls","minute":10,"policy":"local","redis_host":null,"redis_port":6379,"redis_password":null,"redis_username":null,"redis_ssl":false,"redis_ssl_verify":false,"redis_server_name":null,"redis_timeout":2000,"redis_database":0}`,
			`{"tag":"nulls","minute":10,"policy":"local","redis_host":null,"redis_port":6379,"redis_password":null,"redis_username":null,"redis_ssl":false,"redis_ssl_verify":false,"redis_server_name":null,"redis_timeout":2000,"redis_database":0,"redis":` +
				redis9("null", "6379", "null", "null", "false", "false", "null", "2000", "0") + `}`,
			`{"tag":"nulls","minute":10,"policy":"local","redis":` + redis9("null", "6379", "null", "null", "false", "false", "null", "2000", "0") + `}`,
			`{"tag":"nulls","minute":10,"policy":"local","redis":` + redis9("null", "6379", "null", "null", "false", "false", "null", "2000", "0") + `}`,
		},
		"bare": {
			`{"tag":"bare","second":1}`,
			`{"tag":"bare","second":1,"redis":` + redis9("null", "null", "null", "null", "null", "null", "null", "null", "null") + `}`,
			`{"tag":"bare","second":1,"redis":` + redis9("null", "null", "null", "null", "null", "null", "null", "null", "null") + `}`,
			`{"tag":"bare","second":1,"redis":` + redis9("null", "null", "null", "null", "null", "null", "null", "null", "null") + `}`,
		},
		// Written in 3.6's shape (e.g. by a 3.6 node while 006 is
		// pending): 3.7+ rebuilds the record from its own nine fields,
		// other keys of it dropped; 3.6.x's rebuilds it from the flat
		// fields only, so the nested values are lost (what 3.7.0's
		// "reentrant" change fixed).
		"nested": {
			`{"tag":"nested","minute":1,"redis":{"host":"new","port":6380,"timeout":100,"extra":"x"}}`,
			`{"tag":"nested","minute":1,"redis":` + redis9(`"new"`, "6380", "null", "null", "null", "null", "null", "100", "null") + `}`,
			`{"tag":"nested","minute":1,"redis":` + redis9(`"new"`, "6380", "null", "null", "null", "null", "null", "100", "null") + `}`,
			`{"tag":"nested","minute":1,"redis":` + redis9("null", "null", "null", "null", "null", "null", "null", "null", "null") + `}`,
		},
		// Both: the flat field wins where it is present (3.6.x: only
		// the flat fields count).
		"both": {
			`{"tag":"both","hour":7,"redis_host":"flat","redis":{"host":"nested","port":1}}`,
			`{"tag":"both","hour":7,"redis_host":"flat","redis":` + redis9(`"flat"`, "1", "null", "null", "null", "null", "null", "null", "null") + `}`,
			`{"tag":"both","hour":7,"redis":` + redis9(`"flat"`, "1", "null", "null", "null", "null", "null", "null", "null") + `}`,
			`{"tag":"both","hour":7,"redis":` + redis9(`"flat"`, "null", "null", "null", "null", "null", "null", "null", "null") + `}`,
		},
	}
	for _, s := range rl {
		d.addPlugins(50, "rate-limiting", s.before)
	}
	rrl = redisShape{
		`{"tag":"rrl","limits":{"sms":{"minute":10}},"policy":"redis","redis_host":"r2","redis_port":6379,"redis_timeout":500}`,
		`{"tag":"rrl","limits":{"sms":{"minute":10}},"policy":"redis","redis_host":"r2","redis_port":6379,"redis_timeout":500,"redis":` +
			redis9(`"r2"`, "6379", "null", "null", "null", "null", "null", "500", "null") + `}`,
		`{"tag":"rrl","limits":{"sms":{"minute":10}},"policy":"redis","redis":` + redis9(`"r2"`, "6379", "null", "null", "null", "null", "null", "500", "null") + `}`,
		`{"tag":"rrl","limits":{"sms":{"minute":10}},"policy":"redis","redis":` + redis9(`"r2"`, "6379", "null", "null", "null", "null", "null", "500", "null") + `}`,
	}
	d.addPlugins(50, "response-ratelimiting", rrl.before)
	acme = redisShape{
		`{"tag":"acme","account_email":"a@example.com","storage":"redis","storage_config":{"shm":{"shm_name":"kong"},"redis":{"host":"r","port":6379,"database":0,"auth":"secret","ssl_server_name":"sni","scan_count":10,"namespace":"ns"}}}`,
		`{"tag":"acme","account_email":"a@example.com","storage":"redis","storage_config":{"shm":{"shm_name":"kong"},"redis":{"host":"r","port":6379,"database":0,"auth":"secret","ssl_server_name":"sni","scan_count":10,"namespace":"ns",` +
			`"password":"secret","server_name":"sni","extra_options":{"scan_count":10,"namespace":"ns"}}}}`,
		`{"tag":"acme","account_email":"a@example.com","storage":"redis","storage_config":{"shm":{"shm_name":"kong"},"redis":{"host":"r","port":6379,"database":0,` +
			`"password":"secret","server_name":"sni","extra_options":{"scan_count":10,"namespace":"ns"}}}}`,
		// 3.6.x: the record is rebuilt: the nine fields (absent ones
		// null) and extra_options; auth and the others are gone.
		`{"tag":"acme","account_email":"a@example.com","storage":"redis","storage_config":{"shm":{"shm_name":"kong"},"redis":{"host":"r","port":6379,` +
			`"password":"secret","username":null,"ssl":null,"ssl_verify":null,"server_name":"sni","timeout":null,"database":0,"extra_options":{"scan_count":10,"namespace":"ns"}}}}`,
	}
	d.addPlugins(50, "acme", acme.before)
	other = `{"tag":"other","key_names":["apikey"],"hide_credentials":false,"redis_host":"not-mine"}`
	d.addPlugins(1, "key-auth", other)
	return d, rl, rrl, acme, other
}

// TestRedisMove350To361Data: Kong 3.6.1 runs the redis moves whole at
// `up` (its files have no teardown): the flat fields are gone once `up`
// returns, the three migrations are executed, nothing is pending, and
// `finish` has nothing to do.
func TestRedisMove350To361Data(t *testing.T) {
	t.Parallel()
	d, rl, rrl, acme, other := redisMoveWorld(t)

	d.must("3.6.1", "up")
	for _, s := range rl {
		d.wantConfigs("after 3.6.1 up", "rate-limiting", 50, s.at36)
	}
	d.wantConfigs("after 3.6.1 up", "response-ratelimiting", 50, rrl.at36)
	d.wantConfigs("after 3.6.1 up", "acme", 50, acme.at36)
	d.wantConfigs("after 3.6.1 up", "key-auth", 1, other)
	st := d.inspect("3.6.1")
	if !st.UpToDate() || len(st.Pending) != 0 {
		t.Errorf("after 3.6.1 up: pending %v new %v; want nothing pending", st.Pending, st.New)
	}
	for sub, name := range map[string]string{"rate-limiting": "006_350_to_360", "response-ratelimiting": "001_350_to_360", "acme": "003_350_to_360"} {
		if !slices.Contains(st.Executed[sub], name) {
			t.Errorf("after 3.6.1 up: %s/%s not executed: %v", sub, name, st.Executed[sub])
		}
	}
	wantResult(t, "finish 3.6.1", d.run("3.6.1", "finish", Options{}), 0, "No pending migrations to finish\n", "")
}

// TestRedisMove350To371Data: Kong 3.7.0 and later run the same migrations
// in two halves: `up` adds the new fields and keeps the old ones (the 3.5
// nodes still read theirs), the three stay pending, and `finish`'s
// teardown removes the old fields.
func TestRedisMove350To371Data(t *testing.T) {
	t.Parallel()
	d, rl, rrl, acme, other := redisMoveWorld(t)

	d.must("3.7.1", "up")
	for _, s := range rl {
		d.wantConfigs("after up", "rate-limiting", 50, s.afterUp)
	}
	d.wantConfigs("after up", "response-ratelimiting", 50, rrl.afterUp)
	d.wantConfigs("after up", "acme", 50, acme.afterUp)
	d.wantConfigs("after up", "key-auth", 1, other)
	want := map[string][]string{"rate-limiting": {"006_350_to_360"}, "response-ratelimiting": {"001_350_to_360"}, "acme": {"003_350_to_360"}, "ai-proxy": {"001_360_to_370"}}
	if st := d.inspect("3.7.1"); !reflect.DeepEqual(st.Pending, want) {
		t.Errorf("after 3.7.1 up: pending %v; want %v", st.Pending, want)
	}

	d.must("3.7.1", "finish")
	for _, s := range rl {
		d.wantConfigs("after finish", "rate-limiting", 50, s.afterFinish)
	}
	d.wantConfigs("after finish", "response-ratelimiting", 50, rrl.afterFinish)
	d.wantConfigs("after finish", "acme", 50, acme.afterFinish)
	d.wantConfigs("after finish", "key-auth", 1, other)
	if st := d.inspect("3.7.1"); !st.UpToDate() || len(st.Pending) != 0 {
		t.Errorf("after finish: %+v", st)
	}
}

// TestAIProxyLogStatistics361To371Data: ai-proxy's 001_360_to_370 has a
// teardown only (K: kong/plugins/ai-proxy/migrations/001_360_to_370.lua at
// 3.7.0, through operations/200_to_210.lua fixup_plugin_config): `up`
// leaves every config as it is and the migration pending; `finish` turns
// logging.log_statistics off where it is on for anthropic
// llm/v1/completions, and only there. 20 plugins per shape, and a
// non-ai-proxy plugin with the same shape left alone.
func TestAIProxyLogStatistics361To371Data(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.must("3.6.1", "bootstrap")
	cfg := func(tag, routeType, provider string, logStats bool) string {
		return fmt.Sprintf(`{"tag":%q,"route_type":%q,"auth":{"header_name":"x-api-key","header_value":"k"},`+
			`"model":{"provider":%q,"name":"m","options":{"max_tokens":256}},"logging":{"log_statistics":%t,"log_payloads":true}}`,
			tag, routeType, provider, logStats)
	}
	type shape struct{ name, before, afterFinish string }
	shapes := []shape{
		{"ai-proxy", cfg("fixed", "llm/v1/completions", "anthropic", true), cfg("fixed", "llm/v1/completions", "anthropic", false)},
		{"ai-proxy", cfg("chat", "llm/v1/chat", "anthropic", true), ""},
		{"ai-proxy", cfg("openai", "llm/v1/completions", "openai", true), ""},
		{"ai-proxy", cfg("off", "llm/v1/completions", "anthropic", false), ""},
		{"ai-prompt-guard", cfg("other", "llm/v1/completions", "anthropic", true), ""},
	}
	for _, p := range shapes {
		d.addPlugins(20, p.name, p.before)
	}

	d.must("3.7.1", "up")
	for _, p := range shapes {
		d.wantConfigs("after up", p.name, 20, p.before)
	}
	if st := d.inspect("3.7.1"); !reflect.DeepEqual(st.Pending, map[string][]string{"ai-proxy": {"001_360_to_370"}}) {
		t.Errorf("after 3.7.1 up: pending %v; want ai-proxy's 001_360_to_370", st.Pending)
	}
	d.must("3.7.1", "finish")
	for _, p := range shapes {
		want := p.afterFinish
		if want == "" {
			want = p.before
		}
		d.wantConfigs("after finish", p.name, 20, want)
	}
	if st := d.inspect("3.7.1"); !st.UpToDate() || len(st.Pending) != 0 {
		t.Errorf("after finish: %+v", st)
	}
}

// TestMigratePath: K: kong/db/migrations/migrate_path_280_300.lua on the
// cases its predicate and both normalizations distinguish.
func TestMigratePath(t *testing.T) {
	for _, c := range []struct {
		in, out string
		changed bool
	}{
		{"/orders", "/orders", false},
		{"/", "/", false},
		{"~/already", "~/already", false}, // '~' is not a regex character in 2.8
		{"/api/v[0-9]+/users", "~/api/v[0-9]+/users", true},
		{`/users/(?<id>\d+)$`, `~/users/(?<id>\d+)$`, true},
		{"/a b", "~/a b", true}, // space is outside the set
		{"/a//b/./c/../d", "/a/b/d", true},
		{"/caf%C3%a9", "/caf\u00e9", true}, // others decoded, hex case-insensitive
		{"/x%2fy%41", "/x%2FyA", true},     // reserved upper-cased, unreserved decoded
		{"/items/%2e%7B", "/items/.{", true},
		{"/r$/%2e%2Fx%41%7c", `~/r$/\.%2FxA\|`, true}, // regex: metacharacters decoded escaped
		{"/v1.0/x", "/v1.0/x", false},
		{"/trail/\n", "/trail/\n", false}, // PCRE's $ matches before a final newline
	} {
		out, changed := migratePath(c.in)
		if out != c.out || changed != c.changed {
			t.Errorf("migratePath(%q) = %q, %v; want %q, %v", c.in, out, changed, c.out, c.changed)
		}
	}
}

// TestCore016AndPluginsData280To342: 2.8.5 → 3.4.2 with routes and the
// plugins whose 3.0–3.4 migrations rewrite config: core 016's up_f
// rewrites regex paths during `up` (the 2.8 nodes then see "~" paths),
// http-log's, pre-function's and opentelemetry's teardowns rewrite at
// `finish`. K: kong/db/migrations/core/016_280_to_300.lua,
// kong/plugins/http-log/migrations/001_280_to_300.lua,
// kong/plugins/pre-function/migrations/_001_280_to_300.lua,
// kong/plugins/opentelemetry/migrations/001_331_to_332.lua.
func TestCore016AndPluginsData280To342(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.must("2.8.5", "bootstrap")
	d.exec(`INSERT INTO services (id, name, host, port, protocol, ws_id)
		SELECT '5e0c1d2a-1b2c-4d3e-8f4a-000000000001', 'orders', 'orders.internal', 80, 'http', id FROM workspaces WHERE name = 'default'`)
	routes := []struct{ name, before, after string }{
		{"plain", `{/orders}`, `{/orders}`},
		{"regex", `{"/api/v[0-9]+/users",/static}`, `{"~/api/v[0-9]+/users",/static}`},
		{"dots", `{/a//b/./c/../d}`, `{/a/b/d}`},
		{"pct", `{/x%2fy%41}`, `{/x%2FyA}`},
		{"named", `{"/users/(?<id>\\d+)$"}`, `{"~/users/(?<id>\\d+)$"}`},
	}
	for i, r := range routes {
		d.exec(`INSERT INTO routes (id, created_at, updated_at, name, service_id, protocols, paths, ws_id)
			SELECT $1::uuid, to_timestamp(1000), to_timestamp(1000), $2, '5e0c1d2a-1b2c-4d3e-8f4a-000000000001', '{http}', $3::text[], id FROM workspaces WHERE name = 'default'`,
			fmt.Sprintf("5e0c1d2a-1b2c-4d3e-8f4a-1000000000%02d", i), r.name, r.before)
	}
	d.exec(`INSERT INTO routes (id, name, service_id, protocols, hosts, ws_id)
		SELECT '5e0c1d2a-1b2c-4d3e-8f4a-200000000000', 'hosts-only', '5e0c1d2a-1b2c-4d3e-8f4a-000000000001', '{http}', '{a.example}', id FROM workspaces WHERE name = 'default'`)

	type shape struct{ name, before, afterUp, afterFinish string }
	plugins := []shape{
		{"http-log", `{"tag":"h1","http_endpoint":"http://log","headers":{"X-A":["1","2"],"X-B":["only"],"X-Empty":[]}}`, "",
			`{"tag":"h1","http_endpoint":"http://log","headers":{"X-A":"1, 2","X-B":"only"}}`},
		{"http-log", `{"tag":"h2","http_endpoint":"http://log","headers":{"X-Empty":[]}}`, "",
			`{"tag":"h2","http_endpoint":"http://log","headers":null}`},
		{"http-log", `{"tag":"h3","http_endpoint":"http://log","headers":null}`, "", ""},
		{"pre-function", `{"tag":"p1","functions":["return 1"]}`,
			`{"tag":"p1","functions":["return 1"],"access":["return 1"]}`, `{"tag":"p1","access":["return 1"]}`},
		{"pre-function", `{"tag":"p2","functions":[],"access":["x"]}`, "", ""},
		{"post-function", `{"tag":"q1","functions":["return 2"],"log":["y"]}`,
			`{"tag":"q1","functions":["return 2"],"log":["y"],"access":["return 2"]}`, `{"tag":"q1","log":["y"],"access":["return 2"]}`},
		{"opentelemetry", `{"tag":"o1","endpoint":"http://otel","queue":{"max_batch_size":1,"max_coalescing_delay":1}}`, "",
			`{"tag":"o1","endpoint":"http://otel","queue":{"max_batch_size":200,"max_coalescing_delay":1}}`},
		{"opentelemetry", `{"tag":"o2","endpoint":"http://otel","queue":{"max_batch_size":5}}`, "", ""},
	}
	for _, p := range plugins {
		d.addPlugins(20, p.name, p.before)
	}
	wantRoutes := func(when string, after bool) {
		t.Helper()
		for i, r := range routes {
			want := r.before
			if after {
				want = r.after
			}
			// Kong's UPDATE sets paths only: updated_at stays.
			got := d.queryString(`SELECT (paths = $2::text[] AND updated_at = to_timestamp(1000))::text || ' ' || paths::text || ' ' || updated_at::text FROM routes WHERE id = $1`,
				fmt.Sprintf("5e0c1d2a-1b2c-4d3e-8f4a-1000000000%02d", i), want)
			if !strings.HasPrefix(got, "true ") {
				t.Errorf("%s: route %s: paths = want, paths, updated_at: %s; want %s", when, r.name, got, want)
			}
		}
		if got := d.queryString(`SELECT (paths IS NULL)::text || ' ' || hosts::text FROM routes WHERE name = 'hosts-only'`); got != "true {a.example}" {
			t.Errorf("%s: hosts-only route = %s", when, got)
		}
	}
	or := func(a, b string) string {
		if a != "" {
			return a
		}
		return b
	}

	d.must("3.4.2", "up")
	wantRoutes("after up", true)
	for _, p := range plugins {
		d.wantConfigs("after up", p.name, 20, or(p.afterUp, p.before))
	}
	d.must("3.4.2", "finish")
	wantRoutes("after finish", true)
	for _, p := range plugins {
		d.wantConfigs("after finish", p.name, 20, or(p.afterFinish, or(p.afterUp, p.before)))
	}
}

// TestFunctionStepsStopHalfWay: a migration's Lua part (up_f, teardown)
// runs query by query outside one transaction, so a runner stopped between
// two queries leaves the first applied and schema_meta unaware; re-running
// `up` then runs 016's up_f again over the routes already rewritten (a
// second "~"), which is what Kong's would do.
func TestFunctionStepsStopHalfWay(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.must("2.8.5", "bootstrap")
	d.exec(`INSERT INTO routes (id, name, protocols, paths, ws_id)
		SELECT ('5e0c1d2a-1b2c-4d3e-8f4a-30000000000' || g)::uuid, 'r' || g, '{http}', ARRAY['/v' || g || '/[a-z]+'], w.id
		  FROM generate_series(1, 3) AS g, workspaces w WHERE w.name = 'default'`)
	d.exec(`INSERT INTO upstreams (id, name, slots, ws_id) SELECT '5e0c1d2a-1b2c-4d3e-8f4a-400000000000', 'up', 100, id FROM workspaces WHERE name = 'default'`)
	d.exec(`INSERT INTO targets (id, created_at, upstream_id, target, weight, ws_id)
		SELECT '5e0c1d2a-1b2c-4d3e-8f4a-400000000001', now(), '5e0c1d2a-1b2c-4d3e-8f4a-400000000000', '10.0.0.1:80', 10, id FROM workspaces WHERE name = 'default'`)
	d.exec(`INSERT INTO vaults_beta (id, ws_id, prefix, name, config) SELECT '5e0c1d2a-1b2c-4d3e-8f4a-500000000000', id, 'env1', 'env', '{}' FROM workspaces WHERE name = 'default'`)

	// stopAfter runs command, cancelling its context after n queries of
	// a Lua part.
	stopAfter := func(command string, n int) result {
		t.Helper()
		var out, errb strings.Builder
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r := New(d.connectFunc(""), Options{Version: kongrelease.MustParse("3.0.2"), Stdout: &out, Stderr: &errb, Now: fixedNow, Database: "kong"})
		seen := 0
		r.afterQuery = func() {
			if seen++; seen == n {
				cancel()
			}
		}
		return result{r.Run(ctx, command), out.String(), errb.String()}
	}
	core016 := func() string {
		return d.queryString(`SELECT COALESCE((SELECT ('016_280_to_300' = ANY(executed))::text || ' ' || ('016_280_to_300' = ANY(COALESCE(pending, '{}')))::text FROM schema_meta WHERE subsystem = 'core'), 'none')`)
	}

	// A stopped runner leaves its lock row until the TTL, as a killed
	// Kong does; the test removes it instead of waiting.
	unlock := func() {
		t.Helper()
		if got := d.queryString(`SELECT count(*)::text FROM locks WHERE key = 'migrations'`); got != "1" {
			t.Errorf("lock rows left by the stopped runner: %s", got)
		}
		d.exec(`DELETE FROM locks`)
	}

	r := stopAfter("up", 1)
	if r.code != 1 || !strings.Contains(r.stderr, "failed to run migration '016_280_to_300' up_f: ") {
		t.Fatalf("up stopped in up_f: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	unlock()
	if got := d.queryString(`SELECT string_agg(paths[1], ',' ORDER BY name) FROM routes`); got != "~/v1/[a-z]+,/v2/[a-z]+,/v3/[a-z]+" {
		t.Errorf("after a stop in up_f: paths %s; want the first route rewritten only", got)
	}
	if got := d.queryString(`SELECT (to_regclass('sm_vaults') IS NOT NULL)::text`); got != "true" {
		t.Errorf("016's up transaction must have committed before up_f: sm_vaults exists = %s", got)
	}
	if got := core016(); got != "false false" {
		t.Errorf("after a stop in up_f: 016 executed, pending = %s; want neither", got)
	}

	d.must("3.0.2", "up")
	if got := d.queryString(`SELECT string_agg(paths[1], ',' ORDER BY name) FROM routes`); got != "~~/v1/[a-z]+,~/v2/[a-z]+,~/v3/[a-z]+" {
		t.Errorf("after re-running up: paths %s", got)
	}
	if got := core016(); got != "false true" {
		t.Errorf("after up: 016 executed, pending = %s", got)
	}

	// The teardown's first query drops the old vault tables; its second
	// fills the targets' cache keys.
	r = stopAfter("finish", 1)
	if r.code != 1 || !strings.Contains(r.stderr, "failed to run migration '016_280_to_300' teardown: ") {
		t.Fatalf("finish stopped in the teardown: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	unlock()
	if got := d.queryString(`SELECT (to_regclass('vaults_beta') IS NULL)::text || ' ' || (SELECT count(cache_key) FROM targets)::text`); got != "true 0" {
		t.Errorf("after a stop in the teardown: vaults_beta gone, targets with a cache key = %s; want true 0", got)
	}
	if got := core016(); got != "false true" {
		t.Errorf("after a stop in the teardown: 016 executed, pending = %s; want still pending", got)
	}
	d.must("3.0.2", "finish")
	if got := d.queryString(`SELECT count(cache_key)::text || ' ' || (SELECT ('016_280_to_300' = ANY(executed))::text FROM schema_meta WHERE subsystem = 'core') FROM targets`); got != "1 true" {
		t.Errorf("after finish: targets with a cache key, 016 executed = %s", got)
	}
}

// TestCoreHops322To3100Data: the 3.x core hops with rows in the tables
// they change. 019 (K: core/019_320_to_330.lua) adds updated_at with a
// default to nine tables, which fills it on the rows already there; 025
// (025_390_to_3100.lua) widens clustering_sync_version.version and its
// sequence to bigint, keeping the rows and the sequence's position.
func TestCoreHops322To3100Data(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.must("3.2.2", "bootstrap")
	d.exec(`INSERT INTO consumers (id, created_at, username, ws_id) SELECT '5e0c1d2a-1b2c-4d3e-8f4a-600000000001', to_timestamp(1000), 'alice', id FROM workspaces WHERE name = 'default'`)
	d.exec(`INSERT INTO upstreams (id, created_at, name, slots, ws_id) SELECT '5e0c1d2a-1b2c-4d3e-8f4a-600000000002', to_timestamp(1000), 'up', 100, id FROM workspaces WHERE name = 'default'`)
	d.exec(`INSERT INTO targets (id, created_at, upstream_id, target, weight, ws_id) SELECT '5e0c1d2a-1b2c-4d3e-8f4a-600000000003', to_timestamp(1000), '5e0c1d2a-1b2c-4d3e-8f4a-600000000002', '10.0.0.1:80', 5, id FROM workspaces WHERE name = 'default'`)
	d.addPlugins(3, "cors", `{"tag":"cors","origins":["*"]}`)
	before := d.queryString(`SELECT (to_regclass('plugins') IS NOT NULL)::text || ' ' || COALESCE((SELECT count(*) FROM information_schema.columns WHERE table_name = 'consumers' AND column_name = 'updated_at'), 0)::text`)
	if before != "true 0" {
		t.Fatalf("3.2.2 consumers must not have updated_at yet: %s", before)
	}
	start := d.queryString(`SELECT (date_trunc('second', now()) - interval '1 second')::text`)

	d.must("3.4.2", "up")
	for _, table := range []string{"consumers", "upstreams", "targets", "plugins", "workspaces"} {
		got := d.queryString(`SELECT count(*) FILTER (WHERE updated_at >= $1::timestamptz)::text || '/' || count(*)::text FROM `+table, start)
		if n := strings.SplitN(got, "/", 2); len(n) != 2 || n[0] != n[1] || n[0] == "0" {
			t.Errorf("after 019: %s rows with updated_at filled by the migration: %s", table, got)
		}
	}
	if got := d.queryString(`SELECT string_agg(config::text, ',') FROM plugins`); got != strings.Repeat(`{"tag": "cors", "origins": ["*"]},`, 2)+`{"tag": "cors", "origins": ["*"]}` {
		t.Errorf("after 3.4.2 up: plugin configs changed: %s", got)
	}

	d.must("3.4.2", "finish")
	d.must("3.9.1", "up")
	d.must("3.9.1", "finish")
	d.exec(`INSERT INTO clustering_sync_version DEFAULT VALUES`)
	d.exec(`INSERT INTO clustering_sync_version DEFAULT VALUES`)
	d.exec(`INSERT INTO clustering_sync_version DEFAULT VALUES`)
	if got := d.queryString(`SELECT data_type FROM information_schema.columns WHERE table_name = 'clustering_sync_version' AND column_name = 'version'`); got != "integer" {
		t.Errorf("3.9.1 clustering_sync_version.version is %s; want integer (SERIAL)", got)
	}
	d.must("3.10.0", "up")
	d.must("3.10.0", "finish")
	d.exec(`INSERT INTO clustering_sync_version DEFAULT VALUES`)
	got := d.queryString(`SELECT (SELECT data_type FROM information_schema.columns WHERE table_name = 'clustering_sync_version' AND column_name = 'version') || ' ' ||
		(SELECT data_type FROM information_schema.sequences WHERE sequence_name = 'clustering_sync_version_version_seq') || ' ' ||
		(SELECT string_agg(version::text, ',' ORDER BY version) FROM clustering_sync_version)`)
	if got != "bigint bigint 1,2,3,4" {
		t.Errorf("after 025: version type, sequence type, rows = %s; want bigint bigint 1,2,3,4", got)
	}
	if st := d.inspect("3.10.0"); !st.UpToDate() || len(st.Pending) != 0 {
		t.Errorf("after up to 3.10.0: %+v", st)
	}
}
