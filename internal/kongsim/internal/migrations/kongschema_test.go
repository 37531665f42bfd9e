package migrations

import (
	"sort"
	"strings"
	"testing"
)

// kongColumns34 are the columns (PostgreSQL udt names) of the tables a
// Kong 3.4 bootstrap creates for the subsystems kongsim emulates, written
// from the migration files (K: Kong/kong kong/db/migrations/core/000_base
// … 020_330_to_340, operations/200_to_210.lua, and the acl, basic-auth,
// hmac-auth, jwt, key-auth and oauth2 migrations up to 3.3), not from
// store/ddl.go.
var kongColumns34 = map[string]string{
	"cluster_events": "id uuid, node_id uuid, at timestamptz, nbf timestamptz, expire_at timestamptz, channel text, data text",
	"workspaces":     "id uuid, name text, comment text, created_at timestamptz, meta jsonb, config jsonb, updated_at timestamptz",
	"tags":           "entity_id uuid, entity_name text, tags _text",
	"certificates":   "id uuid, created_at timestamptz, cert text, key text, tags _text, cert_alt text, key_alt text, ws_id uuid, updated_at timestamptz",
	"services": "id uuid, created_at timestamptz, updated_at timestamptz, name text, retries int8, protocol text, host text, port int8, path text, " +
		"connect_timeout int8, write_timeout int8, read_timeout int8, tags _text, client_certificate_id uuid, tls_verify bool, tls_verify_depth int2, " +
		"ca_certificates _uuid, enabled bool, ws_id uuid",
	"routes": "id uuid, created_at timestamptz, updated_at timestamptz, name text, service_id uuid, protocols _text, methods _text, hosts _text, " +
		"paths _text, snis _text, sources _jsonb, destinations _jsonb, regex_priority int8, strip_path bool, preserve_host bool, tags _text, " +
		"https_redirect_status_code int4, headers jsonb, path_handling text, request_buffering bool, response_buffering bool, ws_id uuid, " +
		"expression text, priority int8",
	"snis":      "id uuid, created_at timestamptz, name text, certificate_id uuid, tags _text, ws_id uuid, updated_at timestamptz",
	"consumers": "id uuid, created_at timestamptz, username text, custom_id text, tags _text, ws_id uuid, updated_at timestamptz",
	"plugins": "id uuid, created_at timestamptz, name text, consumer_id uuid, service_id uuid, route_id uuid, config jsonb, enabled bool, " +
		"cache_key text, protocols _text, tags _text, ws_id uuid, instance_name text, updated_at timestamptz",
	"upstreams": "id uuid, created_at timestamptz, name text, hash_on text, hash_fallback text, hash_on_header text, hash_fallback_header text, " +
		"hash_on_cookie text, hash_on_cookie_path text, slots int4, healthchecks jsonb, tags _text, algorithm text, host_header text, " +
		"client_certificate_id uuid, ws_id uuid, hash_on_query_arg text, hash_fallback_query_arg text, hash_on_uri_capture text, " +
		"hash_fallback_uri_capture text, use_srv_name bool, updated_at timestamptz",
	"targets":         "id uuid, created_at timestamptz, upstream_id uuid, target text, weight int4, tags _text, ws_id uuid, cache_key text, updated_at timestamptz",
	"ca_certificates": "id uuid, created_at timestamptz, cert text, tags _text, cert_digest text, updated_at timestamptz",
	"clustering_data_planes": "id uuid, hostname text, ip text, last_seen timestamptz, config_hash text, ttl timestamptz, version text, " +
		"sync_status text, updated_at timestamptz",
	"parameters": "key text, value text, created_at timestamptz",
	"sm_vaults":  "id uuid, ws_id uuid, prefix text, name text, description text, config jsonb, created_at timestamptz, updated_at timestamptz, tags _text",
	"key_sets":   "id uuid, name text, tags _text, ws_id uuid, created_at timestamptz, updated_at timestamptz",
	"keys": "id uuid, set_id uuid, name text, cache_key text, ws_id uuid, kid text, jwk text, pem jsonb, tags _text, " +
		"created_at timestamptz, updated_at timestamptz",
	"filter_chains": "id uuid, name text, enabled bool, route_id uuid, service_id uuid, ws_id uuid, cache_key text, filters _jsonb, tags _text, " +
		"created_at timestamptz, updated_at timestamptz",
	"acls":                  "id uuid, created_at timestamptz, consumer_id uuid, group text, cache_key text, tags _text, ws_id uuid",
	"basicauth_credentials": "id uuid, created_at timestamptz, consumer_id uuid, username text, password text, tags _text, ws_id uuid",
	"hmacauth_credentials":  "id uuid, created_at timestamptz, consumer_id uuid, username text, secret text, tags _text, ws_id uuid",
	"jwt_secrets": "id uuid, created_at timestamptz, consumer_id uuid, key text, secret text, algorithm text, rsa_public_key text, " +
		"tags _text, ws_id uuid",
	"keyauth_credentials": "id uuid, created_at timestamptz, consumer_id uuid, key text, tags _text, ttl timestamptz, ws_id uuid",
	"oauth2_credentials": "id uuid, created_at timestamptz, name text, consumer_id uuid, client_id text, client_secret text, " +
		"redirect_uris _text, tags _text, client_type text, hash_secret bool, ws_id uuid",
	"oauth2_authorization_codes": "id uuid, created_at timestamptz, credential_id uuid, service_id uuid, code text, authenticated_userid text, " +
		"scope text, ttl timestamptz, challenge text, challenge_method text, ws_id uuid, plugin_id uuid",
	"oauth2_tokens": "id uuid, created_at timestamptz, credential_id uuid, service_id uuid, access_token text, refresh_token text, " +
		"token_type text, expires_in int4, authenticated_userid text, scope text, ttl timestamptz, ws_id uuid",
}

// kongColumns returns the expected columns at v: 3.4, plus 021–023 for 3.8
// (clustering_data_planes labels, cert_details, rpc_capabilities;
// clustering_rpc_requests), plus 024 for 3.9 (clustering_sync_version).
func kongColumns(v string) map[string]string {
	m := map[string]string{}
	for k, c := range kongColumns34 {
		m[k] = c
	}
	if v >= "3.8" {
		m["clustering_data_planes"] += ", labels jsonb, cert_details jsonb, rpc_capabilities _text"
		m["clustering_rpc_requests"] = "id int8, node_id uuid, reply_to uuid, ttl timestamptz, payload json"
	}
	if v >= "3.9" {
		m["clustering_sync_version"] = "version int4"
	}
	return m
}

func columnSet(m map[string]string) []string {
	var out []string
	for t, cols := range m {
		for _, c := range strings.Split(cols, ", ") {
			out = append(out, t+"."+c)
		}
	}
	sort.Strings(out)
	return out
}

// TestKongTablesPerVersion: the tables and columns a kongsim bootstrap
// creates at 3.4, 3.8 and 3.9 are Kong's (for the subsystems kongsim
// emulates), and no other table exists besides the bookkeeping ones; so
// are those that `up` and `finish` leave after 2.8 → 3.4 and 3.4 → 3.9.
func TestKongTablesPerVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ from, v string }{{"", "3.4.2"}, {"", "3.8.0"}, {"", "3.9.1"}, {"2.8.5", "3.4.2"}, {"3.4.2", "3.9.1"}} {
		name := tc.v
		if tc.from != "" {
			name = tc.from + "-to-" + tc.v
		}
		v := tc.v
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := newDB(t)
			if tc.from == "" {
				d.must(v, "bootstrap")
			} else {
				d.must(tc.from, "bootstrap")
				d.must(v, "up")
				d.must(v, "finish")
			}
			got := strings.Split(d.queryString(`SELECT string_agg(c.table_name || '.' || c.column_name || ' ' || c.udt_name, E'\n' ORDER BY 1)
				FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
				WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name NOT IN ('schema_meta', 'locks')`), "\n")
			sort.Strings(got)
			want := columnSet(kongColumns(v))
			have := map[string]bool{}
			for _, g := range got {
				have[g] = true
			}
			for _, w := range want {
				if !have[w] {
					t.Errorf("%s: missing %s", v, w)
				}
				delete(have, w)
			}
			for g := range have {
				t.Errorf("%s: unexpected %s", v, g)
			}
		})
	}
}

// TestCore016Data: 2.8 → 3.0's core 016 with data in its tables: `up`
// copies vaults_beta into sm_vaults (both readable while pending); the
// teardown drops vaults_beta, removes the older of two targets with the
// same upstream and target, and fills the targets' cache keys as
// K: 016_280_to_300.lua p_update_cache_key does.
func TestCore016Data(t *testing.T) {
	t.Parallel()
	d := newDB(t)
	d.must("2.8.5", "bootstrap")
	d.exec(`INSERT INTO vaults_beta (id, ws_id, prefix, name, config)
		SELECT '0b6f4a8e-7c1d-4e2a-9f3b-5d6c7e8f9a01', id, 'my-env', 'env', '{"prefix": "KONG_"}' FROM workspaces WHERE name = 'default'`)
	d.exec(`INSERT INTO upstreams (id, name, slots, ws_id) SELECT '0b6f4a8e-7c1d-4e2a-9f3b-5d6c7e8f9a02', 'up', 100, id FROM workspaces WHERE name = 'default'`)
	d.exec(`INSERT INTO targets (id, created_at, upstream_id, target, weight, ws_id)
		SELECT x.id::uuid, x.at, '0b6f4a8e-7c1d-4e2a-9f3b-5d6c7e8f9a02', '10.0.0.1:80', x.w, w.id
		FROM (VALUES ('0b6f4a8e-7c1d-4e2a-9f3b-5d6c7e8f9a03', to_timestamp(1000), 10),
		             ('0b6f4a8e-7c1d-4e2a-9f3b-5d6c7e8f9a04', to_timestamp(2000), 20)) AS x(id, at, w),
		     workspaces w WHERE w.name = 'default'`)

	d.must("3.0.2", "up")
	if got := d.queryString(`SELECT (SELECT prefix || ' ' || (config->>'prefix') FROM sm_vaults) || ' ' || (to_regclass('vaults_beta') IS NOT NULL)::text`); got != "my-env KONG_ true" {
		t.Errorf("after up: sm_vaults row, vaults_beta kept = %q", got)
	}
	d.must("3.0.2", "finish")
	got := d.queryString(`SELECT (to_regclass('vaults_beta') IS NULL)::text || ' ' ||
		(SELECT string_agg(weight::text || ' ' || cache_key, ',') FROM targets) || ' ' ||
		(SELECT 'targets:0b6f4a8e-7c1d-4e2a-9f3b-5d6c7e8f9a02:10.0.0.1:80::::' || id FROM workspaces WHERE name = 'default')`)
	parts := strings.SplitN(got, " ", 4)
	if len(parts) != 4 || parts[0] != "true" || parts[1] != "20" || parts[2] != parts[3] {
		t.Errorf("after finish: vaults_beta gone, targets (weight cache_key), want = %q", got)
	}
}
