package store

import (
	"crypto/rand"
	"fmt"
	"strings"
)

// This file is contract 1 between the store (owner) and the migrations
// package (caller): the DDL each migration step runs, on Kong's own tables
// (columns, types, ws_id, cache_key, constraints and indexes as Kong's
// migrations leave them). The SQL is kongsim's, written from the facts in
// the files cited per step (K: Kong/kong HEAD 22246ef); FIDELITY.md
// (fidelity/core.md) lists the tables and their sources.
//
// Core 000_base through 015_270_to_280 ship in every version kongsim
// serves (2.8–3.10) and always run together at bootstrap, so CoreUp
// "000_base" creates the state they leave (a 2.8 database: workspaces,
// ws_id on every workspaceable table with (id, ws_id) unique, names unique
// per workspace, foreign keys on (x_id, ws_id), the tags table and its
// sync_tags triggers) and 003–015 run nothing. From 016 each step makes
// its own schema change. Plugin base migrations likewise create the state
// after their 002/003/004 steps. Every statement is idempotent, as Kong's
// are: `kong migrations up -f` runs them again.
//
// Data rewrites that Kong's steps make in Lua (016's regex paths and
// target cache keys, plugin config fixups) are in the migrations package
// (funcs.go); those below 2.8 (009's ws_id backfill, ...) are not
// reproduced; migrations.md says so per file.

// CoreUp returns the SQL of core migration name's up step ("" for none).
func CoreUp(name string) string {
	switch name {
	case "000_base":
		return coreBase()
	case "016_280_to_300":
		return core016
	case "017_300_to_310":
		return core017
	case "018_310_to_320":
		return addColumn("plugins", `instance_name TEXT`) +
			addConstraint("plugins", "plugins_ws_id_instance_name_unique", `UNIQUE (ws_id, instance_name)`)
	case "019_320_to_330":
		return core019()
	case "020_330_to_340":
		return core020
	case "021_340_to_350":
		return addColumn("clustering_data_planes", `labels JSONB`)
	case "022_350_to_360":
		return addColumn("clustering_data_planes", `cert_details JSONB`)
	case "023_360_to_370":
		return core023
	case "024_380_to_390":
		return `CREATE TABLE IF NOT EXISTS clustering_sync_version (version SERIAL PRIMARY KEY);` + "\n"
	case "025_390_to_3100":
		return core025
	}
	return ""
}

// CoreTeardown returns the SQL of core migration name's teardown step.
func CoreTeardown(name string) string {
	if name == "016_280_to_300" {
		// K: 016_280_to_300.lua teardown: the pre-3.0 vault tables go, and
		// targets get their cache key (duplicates by (upstream, target)
		// removed first, the newest kept).
		return `DROP TABLE IF EXISTS vaults_beta;
DROP TABLE IF EXISTS vaults;
DELETE FROM targets older USING targets newer
 WHERE older.upstream_id = newer.upstream_id AND older.target = newer.target
   AND older.created_at < newer.created_at;
UPDATE targets SET cache_key = 'targets:' || upstream_id || ':' || target || '::::' || ws_id;
`
	}
	return ""
}

// CoreSchema returns every core up step in catalogue order: the tables a
// 3.10 bootstrap leaves (for tests that create the schema directly).
func CoreSchema() string {
	var b strings.Builder
	for _, n := range []string{"000_base", "016_280_to_300", "017_300_to_310", "018_310_to_320", "019_320_to_330",
		"020_330_to_340", "021_340_to_350", "022_350_to_360", "023_360_to_370", "024_380_to_390", "025_390_to_3100"} {
		b.WriteString(CoreUp(n))
		b.WriteString(CoreTeardown(n))
	}
	return b.String()
}

// newUUID returns a random (version 4) UUID; Kong generates the default
// workspace's id the same way when its migration module loads.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// tagged adds a table's tags GIN index and its sync_tags trigger (K:
// 003_100_to_110.lua and each plugin's 002_130_to_140.lua).
func tagged(table, index, trigger string) string {
	return fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %[2]s ON %[1]s USING GIN (tags);
DROP TRIGGER IF EXISTS %[3]s ON %[1]s;
CREATE TRIGGER %[3]s AFTER INSERT OR UPDATE OF tags OR DELETE ON %[1]s FOR EACH ROW EXECUTE PROCEDURE sync_tags();
`, table, index, trigger)
}

func index(name, table, cols string) string {
	return "CREATE INDEX IF NOT EXISTS " + name + " ON " + table + " (" + cols + ");\n"
}

func addColumn(table, def string) string {
	return "ALTER TABLE IF EXISTS ONLY " + table + " ADD COLUMN IF NOT EXISTS " + def + ";\n"
}

// addConstraint adds a named constraint unless it exists (a re-run).
func addConstraint(table, name, def string) string {
	return fmt.Sprintf(`DO $$
BEGIN
  ALTER TABLE IF EXISTS ONLY %s ADD CONSTRAINT %s %s;
EXCEPTION WHEN duplicate_table OR duplicate_object THEN
  -- already there
END$$;
`, table, name, def)
}

// ws is the workspace column and the (id, ws_id) uniqueness every
// workspaceable table gets (K: operations/200_to_210.lua ws_add_ws_id).
func ws(table string) string {
	return `ws_id uuid REFERENCES workspaces (id),
  CONSTRAINT ` + table + `_id_ws_id_unique UNIQUE (id, ws_id)`
}

// wsUnique: field unique per workspace (ws_unique_field).
func wsUnique(table, field string) string {
	return "CONSTRAINT " + table + "_ws_id_" + field + "_unique UNIQUE (ws_id, " + quoteIdent(field) + ")"
}

// wsFK: a foreign key that also matches the workspace
// (ws_adjust_foreign_key).
func wsFK(table, field, ref string, cascade bool) string {
	s := "CONSTRAINT " + table + "_" + field + "_id_fkey FOREIGN KEY (" + field + "_id, ws_id) REFERENCES " + ref + " (id, ws_id)"
	if cascade {
		s += " ON DELETE CASCADE"
	}
	return s
}

const tsNow0 = `TIMESTAMP WITH TIME ZONE DEFAULT (CURRENT_TIMESTAMP(0) AT TIME ZONE 'UTC')`
const tsNow3 = `TIMESTAMP WITH TIME ZONE DEFAULT (CURRENT_TIMESTAMP(3) AT TIME ZONE 'UTC')`

// coreBase is the state after core 000_base … 015_270_to_280 (sources:
// those files and operations/200_to_210.lua).
func coreBase() string {
	var b strings.Builder
	w := func(s string) { b.WriteString(s) }
	// 000_base, 004 (expire_at index), 006 (its trigger dropped); 019 adds
	// the ttl trigger.
	w(`CREATE TABLE IF NOT EXISTS cluster_events (
  id uuid PRIMARY KEY,
  node_id uuid NOT NULL,
  at TIMESTAMP WITH TIME ZONE NOT NULL,
  nbf TIMESTAMP WITH TIME ZONE,
  expire_at TIMESTAMP WITH TIME ZONE NOT NULL,
  channel text,
  data text
);
`)
	w(index("cluster_events_at_idx", "cluster_events", "at"))
	w(index("cluster_events_channel_idx", "cluster_events", "channel"))
	w(index("cluster_events_expire_at_idx", "cluster_events", "expire_at"))
	// 009 (operations ws_add_workspaces); 011 drops workspaces_name_idx.
	w(`CREATE TABLE IF NOT EXISTS workspaces (
  id uuid PRIMARY KEY,
  name text UNIQUE,
  comment text,
  created_at ` + tsNow0 + `,
  meta jsonb,
  config jsonb
);
INSERT INTO workspaces (id, name) VALUES ('` + newUUID() + `', 'default') ON CONFLICT DO NOTHING;
`)
	// 003_100_to_110: the tags table and its trigger function.
	w(`CREATE TABLE IF NOT EXISTS tags (
  entity_id uuid PRIMARY KEY,
  entity_name text,
  tags text[]
);
CREATE INDEX IF NOT EXISTS tags_entity_name_idx ON tags (entity_name);
CREATE INDEX IF NOT EXISTS tags_tags_idx ON tags USING GIN (tags);
CREATE OR REPLACE FUNCTION sync_tags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (TG_OP = 'TRUNCATE') THEN
    DELETE FROM tags WHERE entity_name = TG_TABLE_NAME;
    RETURN NULL;
  ELSIF (TG_OP = 'DELETE') THEN
    DELETE FROM tags WHERE entity_id = OLD.id;
    RETURN OLD;
  ELSE
    INSERT INTO tags VALUES (NEW.id, TG_TABLE_NAME, NEW.tags)
      ON CONFLICT (entity_id) DO UPDATE SET tags = EXCLUDED.tags;
  END IF;
  RETURN NEW;
END;
$$;
`)
	// certificates: 000_base, 003 (tags), 009 (ws_id), 013 (cert_alt,
	// key_alt). Created first: services and snis reference it.
	w(`CREATE TABLE IF NOT EXISTS certificates (
  id uuid PRIMARY KEY,
  created_at ` + tsNow0 + `,
  cert text,
  key text,
  tags text[],
  cert_alt text,
  key_alt text,
  ` + ws("certificates") + `
);
`)
	w(tagged("certificates", "certificates_tags_idx", "certificates_sync_tags_trigger"))
	// services: 000_base, 003 (tags), 005 (client_certificate_id), 009
	// (tls_verify, tls_verify_depth, ca_certificates, ws_id), 014 (enabled).
	w(`CREATE TABLE IF NOT EXISTS services (
  id uuid PRIMARY KEY,
  created_at TIMESTAMP WITH TIME ZONE,
  updated_at TIMESTAMP WITH TIME ZONE,
  name text,
  retries bigint,
  protocol text,
  host text,
  port bigint,
  path text,
  connect_timeout bigint,
  write_timeout bigint,
  read_timeout bigint,
  tags text[],
  client_certificate_id uuid,
  tls_verify boolean,
  tls_verify_depth smallint,
  ca_certificates uuid[],
  enabled boolean DEFAULT true,
  ` + ws("services") + `,
  ` + wsUnique("services", "name") + `,
  ` + wsFK("services", "client_certificate", "certificates", false) + `
);
`)
	w(tagged("services", "services_tags_idx", "services_sync_tags_trigger"))
	w(index("services_fkey_client_certificate", "services", "client_certificate_id"))
	// routes: 000_base, 003 (tags), 004 (https_redirect_status_code), 005
	// (headers), 007/008 (path_handling, default v0), 009 (ws_id), 012
	// (request/response_buffering).
	w(`CREATE TABLE IF NOT EXISTS routes (
  id uuid PRIMARY KEY,
  created_at TIMESTAMP WITH TIME ZONE,
  updated_at TIMESTAMP WITH TIME ZONE,
  name text,
  service_id uuid,
  protocols text[],
  methods text[],
  hosts text[],
  paths text[],
  snis text[],
  sources jsonb[],
  destinations jsonb[],
  regex_priority bigint,
  strip_path boolean,
  preserve_host boolean,
  tags text[],
  https_redirect_status_code integer,
  headers jsonb,
  path_handling text DEFAULT 'v0',
  request_buffering boolean,
  response_buffering boolean,
  ` + ws("routes") + `,
  ` + wsUnique("routes", "name") + `,
  ` + wsFK("routes", "service", "services", false) + `
);
`)
	w(index("routes_service_id_idx", "routes", "service_id"))
	w(tagged("routes", "routes_tags_idx", "routes_sync_tags_trigger"))
	// snis: 000_base (name unique across workspaces: 009 leaves it), 003,
	// 009.
	w(`CREATE TABLE IF NOT EXISTS snis (
  id uuid PRIMARY KEY,
  created_at ` + tsNow0 + `,
  name text NOT NULL UNIQUE,
  certificate_id uuid,
  tags text[],
  ` + ws("snis") + `,
  ` + wsFK("snis", "certificate", "certificates", false) + `
);
`)
	w(index("snis_certificate_id_idx", "snis", "certificate_id"))
	w(tagged("snis", "snis_tags_idx", "snis_sync_tags_trigger"))
	// consumers: 000_base, 003, 009.
	w(`CREATE TABLE IF NOT EXISTS consumers (
  id uuid PRIMARY KEY,
  created_at ` + tsNow0 + `,
  username text,
  custom_id text,
  tags text[],
  ` + ws("consumers") + `,
  ` + wsUnique("consumers", "username") + `,
  ` + wsUnique("consumers", "custom_id") + `
);
`)
	w(index("consumers_username_idx", "consumers", "LOWER(username)"))
	w(tagged("consumers", "consumers_tags_idx", "consumers_sync_tags_trigger"))
	// plugins: 000_base (run_on dropped by 008's teardown), 003 (protocols,
	// tags), 009 (ws_id, foreign keys on (x_id, ws_id)).
	w(`CREATE TABLE IF NOT EXISTS plugins (
  id uuid UNIQUE,
  created_at ` + tsNow0 + `,
  name text NOT NULL,
  consumer_id uuid,
  service_id uuid,
  route_id uuid,
  config jsonb NOT NULL,
  enabled boolean NOT NULL,
  cache_key text UNIQUE,
  protocols text[],
  tags text[],
  ` + ws("plugins") + `,
  PRIMARY KEY (id),
  ` + wsFK("plugins", "consumer", "consumers", true) + `,
  ` + wsFK("plugins", "service", "services", true) + `,
  ` + wsFK("plugins", "route", "routes", true) + `
);
`)
	w(index("plugins_name_idx", "plugins", "name"))
	w(index("plugins_consumer_id_idx", "plugins", "consumer_id"))
	w(index("plugins_service_id_idx", "plugins", "service_id"))
	w(index("plugins_route_id_idx", "plugins", "route_id"))
	w(tagged("plugins", "plugins_tags_idx", "plugins_sync_tags_trigger"))
	// upstreams: 000_base, 003, 005 (algorithm), 006 (host_header), 009
	// (client_certificate_id, a plain reference; ws_id).
	w(`CREATE TABLE IF NOT EXISTS upstreams (
  id uuid PRIMARY KEY,
  created_at ` + tsNow3 + `,
  name text,
  hash_on text,
  hash_fallback text,
  hash_on_header text,
  hash_fallback_header text,
  hash_on_cookie text,
  hash_on_cookie_path text,
  slots integer NOT NULL,
  healthchecks jsonb,
  tags text[],
  algorithm text,
  host_header text,
  client_certificate_id uuid REFERENCES certificates (id),
  ` + ws("upstreams") + `,
  ` + wsUnique("upstreams", "name") + `
);
`)
	w(tagged("upstreams", "upstreams_tags_idx", "upstreams_sync_tags_trigger"))
	w(index("upstreams_fkey_client_certificate", "upstreams", "client_certificate_id"))
	// targets: 000_base, 003, 009; cache_key comes with 016.
	w(`CREATE TABLE IF NOT EXISTS targets (
  id uuid PRIMARY KEY,
  created_at ` + tsNow3 + `,
  upstream_id uuid,
  target text NOT NULL,
  weight integer NOT NULL,
  tags text[],
  ` + ws("targets") + `,
  ` + wsFK("targets", "upstream", "upstreams", true) + `
);
`)
	w(index("targets_target_idx", "targets", "target"))
	w(index("targets_upstream_id_idx", "targets", "upstream_id"))
	w(tagged("targets", "targets_tags_idx", "targets_sync_tags_trigger"))
	// ca_certificates: 005 (cert unique, dropped by 009), 009 (cert_digest
	// NOT NULL UNIQUE); not workspaceable, no ws_id.
	w(`CREATE TABLE IF NOT EXISTS ca_certificates (
  id uuid PRIMARY KEY,
  created_at ` + tsNow0 + `,
  cert text NOT NULL,
  tags text[],
  cert_digest text NOT NULL UNIQUE
);
DROP TRIGGER IF EXISTS ca_certificates_sync_tags_trigger ON ca_certificates;
CREATE TRIGGER ca_certificates_sync_tags_trigger AFTER INSERT OR UPDATE OF tags OR DELETE ON ca_certificates FOR EACH ROW EXECUTE PROCEDURE sync_tags();
`)
	// 012 (clustering_data_planes), 013 (version, sync_status; parameters).
	w(`CREATE TABLE IF NOT EXISTS clustering_data_planes (
  id uuid PRIMARY KEY,
  hostname text NOT NULL,
  ip text NOT NULL,
  last_seen ` + tsNow0 + `,
  config_hash text NOT NULL,
  ttl TIMESTAMP WITH TIME ZONE,
  version text,
  sync_status text NOT NULL DEFAULT 'unknown'
);
CREATE INDEX IF NOT EXISTS clustering_data_planes_ttl_idx ON clustering_data_planes (ttl);
CREATE TABLE IF NOT EXISTS parameters (
  key text PRIMARY KEY,
  value text NOT NULL,
  created_at TIMESTAMP WITH TIME ZONE
);
INSERT INTO parameters (key, value) VALUES ('cluster_id', '` + newUUID() + `') ON CONFLICT DO NOTHING;
`)
	// 015: the 2.8 vault table (3.0 moves it to sm_vaults).
	w(`DO $$
BEGIN
  IF to_regclass('sm_vaults') IS NULL THEN
    CREATE TABLE IF NOT EXISTS vaults_beta (
      id uuid PRIMARY KEY,
      ws_id uuid REFERENCES workspaces (id),
      prefix text UNIQUE,
      name text NOT NULL,
      description text,
      config jsonb NOT NULL,
      created_at ` + tsNow0 + `,
      updated_at TIMESTAMP WITH TIME ZONE,
      tags text[],
      UNIQUE (id, ws_id),
      UNIQUE (prefix, ws_id)
    );
    CREATE INDEX IF NOT EXISTS vaults_beta_tags_idx ON vaults_beta USING GIN (tags);
    DROP TRIGGER IF EXISTS vaults_beta_sync_tags_trigger ON vaults_beta;
    CREATE TRIGGER vaults_beta_sync_tags_trigger AFTER INSERT OR UPDATE OF tags OR DELETE ON vaults_beta FOR EACH ROW EXECUTE PROCEDURE sync_tags();
  END IF;
END$$;
`)
	return b.String()
}

// core016: K: 016_280_to_300.lua up (vaults_beta copied to sm_vaults,
// targets.cache_key, upstreams' query-arg and uri-capture hashing,
// routes.expression and priority). Its up_f (regex paths prefixed with
// "~") is the migrations package's migrateRegexPaths.
var core016 = `DO $$
BEGIN
  IF to_regclass('vaults_beta') IS NOT NULL AND to_regclass('sm_vaults') IS NULL THEN
    CREATE TABLE sm_vaults (LIKE vaults_beta INCLUDING ALL);
    CREATE TRIGGER sm_vaults_sync_tags_trigger AFTER INSERT OR UPDATE OF tags OR DELETE ON sm_vaults FOR EACH ROW EXECUTE PROCEDURE sync_tags();
    ALTER TABLE sm_vaults ADD CONSTRAINT sm_vaults_ws_id_fkey FOREIGN KEY (ws_id) REFERENCES workspaces (id);
    INSERT INTO sm_vaults SELECT * FROM vaults_beta;
  END IF;
END$$;
` + addColumn("targets", "cache_key text UNIQUE") +
	addColumn("upstreams", "hash_on_query_arg text") +
	addColumn("upstreams", "hash_fallback_query_arg text") +
	addColumn("upstreams", "hash_on_uri_capture text") +
	addColumn("upstreams", "hash_fallback_uri_capture text") +
	addColumn("routes", "expression text") +
	addColumn("routes", "priority bigint")

// core017: K: 017_300_to_310.lua (use_srv_name; key_sets and keys).
var core017 = addColumn("upstreams", "use_srv_name boolean DEFAULT false") + `CREATE TABLE IF NOT EXISTS key_sets (
  id uuid PRIMARY KEY,
  name text UNIQUE,
  tags text[],
  ws_id uuid REFERENCES workspaces (id),
  created_at TIMESTAMP WITH TIME ZONE,
  updated_at TIMESTAMP WITH TIME ZONE
);
` + tagged("key_sets", "key_sets_tags_idx", "key_sets_sync_tags_trigger") + `CREATE TABLE IF NOT EXISTS keys (
  id uuid PRIMARY KEY,
  set_id uuid REFERENCES key_sets (id) ON DELETE CASCADE,
  name text UNIQUE,
  cache_key text UNIQUE,
  ws_id uuid REFERENCES workspaces (id),
  kid text,
  jwk text,
  pem jsonb,
  tags text[],
  created_at TIMESTAMP WITH TIME ZONE,
  updated_at TIMESTAMP WITH TIME ZONE,
  UNIQUE (kid, set_id)
);
` + index("keys_fkey_key_sets", "keys", "set_id") + tagged("keys", "keys_tags_idx", "keys_sync_tags_trigger")

// core019: K: 019_320_to_330.lua (updated_at on nine tables; ttl triggers
// through batch_delete_expired_rows).
func core019() string {
	var b strings.Builder
	for _, t := range []string{"plugins", "ca_certificates", "certificates", "consumers", "snis", "upstreams", "workspaces", "clustering_data_planes"} {
		b.WriteString(addColumn(t, "updated_at "+tsNow0))
	}
	b.WriteString(addColumn("targets", "updated_at "+tsNow3))
	b.WriteString(`CREATE OR REPLACE FUNCTION batch_delete_expired_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE FORMAT('WITH rows AS (SELECT ctid FROM %s WHERE %s < CURRENT_TIMESTAMP AT TIME ZONE ''UTC'' ORDER BY %s LIMIT 2 FOR UPDATE SKIP LOCKED) DELETE FROM %s WHERE ctid IN (TABLE rows)',
                 TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[0], TG_TABLE_NAME);
  RETURN NULL;
END;
$$;
`)
	b.WriteString(ttlTrigger("cluster_events", "cluster_events_ttl_trigger", "expire_at"))
	b.WriteString(ttlTrigger("clustering_data_planes", "clustering_data_planes_ttl_trigger", "ttl"))
	return b.String()
}

func ttlTrigger(table, name, col string) string {
	return fmt.Sprintf(`DROP TRIGGER IF EXISTS %[2]s ON %[1]s;
CREATE TRIGGER %[2]s AFTER INSERT ON %[1]s FOR EACH STATEMENT EXECUTE PROCEDURE batch_delete_expired_rows(%[3]s);
`, table, name, quoteLit(col))
}

// core020: K: 020_330_to_340.lua (ttls dropped; filter_chains).
var core020 = `DROP TABLE IF EXISTS ttls;
CREATE TABLE IF NOT EXISTS filter_chains (
  id uuid PRIMARY KEY,
  name text UNIQUE,
  enabled boolean DEFAULT TRUE,
  route_id uuid REFERENCES routes (id) ON DELETE CASCADE,
  service_id uuid REFERENCES services (id) ON DELETE CASCADE,
  ws_id uuid REFERENCES workspaces (id) ON DELETE CASCADE,
  cache_key text UNIQUE,
  filters jsonb[],
  tags text[],
  created_at TIMESTAMP WITH TIME ZONE,
  updated_at TIMESTAMP WITH TIME ZONE
);
CREATE UNIQUE INDEX IF NOT EXISTS filter_chains_name_idx ON filter_chains (name);
CREATE UNIQUE INDEX IF NOT EXISTS filter_chains_cache_key_idx ON filter_chains (cache_key);
` + tagged("filter_chains", "filter_chains_tags_idx", "filter_chains_sync_tags_trigger")

// core023: K: 023_360_to_370.lua.
var core023 = `CREATE TABLE IF NOT EXISTS clustering_rpc_requests (
  id BIGSERIAL PRIMARY KEY,
  node_id uuid NOT NULL,
  reply_to uuid NOT NULL,
  ttl TIMESTAMP WITH TIME ZONE NOT NULL,
  payload json NOT NULL
);
CREATE INDEX IF NOT EXISTS clustering_rpc_requests_node_id_idx ON clustering_rpc_requests (node_id);
` + addColumn("clustering_data_planes", "rpc_capabilities text[]")

// core025: K: 025_390_to_3100.lua (clustering_sync_delta dropped; the
// version sequence and column widened to bigint).
var core025 = `DROP TABLE IF EXISTS clustering_sync_delta;
DROP INDEX IF EXISTS clustering_sync_delta_version_idx;
DO $$
BEGIN
  EXECUTE 'ALTER SEQUENCE ' || pg_get_serial_sequence('clustering_sync_version', 'version') || ' AS BIGINT NO MAXVALUE';
  ALTER TABLE clustering_sync_version ALTER COLUMN version TYPE BIGINT USING version::BIGINT;
END$$;
`

// credential is a bundled plugin's credential table as its base, 002
// (tags) and 003 (ws_id) migrations leave it: id, created_at,
// consumer_id (cascade, per workspace), the columns, tags, ws_id.
func credential(table, cols, consumerIdx, tagsIdx, trigger string, uniques ...string) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS " + table + " (\n  id uuid PRIMARY KEY,\n  created_at " + tsNow0 +
		",\n  consumer_id uuid,\n  " + cols + ",\n  tags text[],\n  " + ws(table))
	for _, u := range uniques {
		b.WriteString(",\n  " + wsUnique(table, u))
	}
	b.WriteString(",\n  " + wsFK(table, "consumer", "consumers", true) + "\n);\n")
	b.WriteString(index(consumerIdx, table, "consumer_id"))
	b.WriteString(tagged(table, tagsIdx, trigger))
	return b.String()
}

// PluginUp returns the SQL of a plugin subsystem's migration up step (""
// for none: the subsystem's tables are not emulated, e.g. rate-limiting's
// counters live in memory).
func PluginUp(subsystem, name string) string {
	switch subsystem + "/" + name {
	case "acl/000_base_acl": // + 002_130_to_140, 003_200_to_210
		return credential("acls", `"group" text,
  cache_key text UNIQUE`, "acls_consumer_id_idx", "acls_tags_idex_tags_idx", "acls_sync_tags_trigger") +
			index("acls_group_idx", "acls", `"group"`)
	case "basic-auth/000_base_basic_auth":
		return credential("basicauth_credentials", `username text,
  password text`, "basicauth_consumer_id_idx", "basicauth_tags_idex_tags_idx", "basicauth_sync_tags_trigger", "username")
	case "hmac-auth/000_base_hmac_auth":
		return credential("hmacauth_credentials", `username text,
  secret text`, "hmacauth_credentials_consumer_id_idx", "hmacauth_tags_idex_tags_idx", "hmacauth_sync_tags_trigger", "username")
	case "jwt/000_base_jwt":
		return credential("jwt_secrets", `key text,
  secret text,
  algorithm text,
  rsa_public_key text`, "jwt_secrets_consumer_id_idx", "jwtsecrets_tags_idex_tags_idx", "jwtsecrets_sync_tags_trigger", "key") +
			index("jwt_secrets_secret_idx", "jwt_secrets", "secret")
	case "key-auth/000_base_key_auth":
		return credential("keyauth_credentials", `key text,
  ttl TIMESTAMP WITH TIME ZONE`, "keyauth_credentials_consumer_id_idx", "keyauth_tags_idex_tags_idx", "keyauth_sync_tags_trigger", "key") +
			index("keyauth_credentials_ttl_idx", "keyauth_credentials", "ttl")
	case "key-auth/004_320_to_330":
		return ttlTrigger("keyauth_credentials", "keyauth_credentials_ttl_trigger", "ttl")
	case "oauth2/000_base_oauth2": // + 003_130_to_140, 004_200_to_210
		return credential("oauth2_credentials", `name text,
  client_id text,
  client_secret text,
  redirect_uris text[],
  client_type text,
  hash_secret boolean`, "oauth2_credentials_consumer_id_idx", "oauth2_credentials_tags_idex_tags_idx", "oauth2_credentials_sync_tags_trigger", "client_id") +
			index("oauth2_credentials_secret_idx", "oauth2_credentials", "client_secret") + oauth2Tokens
	case "oauth2/006_320_to_330":
		return ttlTrigger("oauth2_authorization_codes", "oauth2_authorization_codes_ttl_trigger", "ttl") +
			ttlTrigger("oauth2_tokens", "oauth2_tokens_ttl_trigger", "ttl")
	case "oauth2/007_320_to_330":
		return addColumn("oauth2_authorization_codes", "plugin_id uuid REFERENCES plugins (id) ON DELETE CASCADE")
	}
	return ""
}

// oauth2Tokens: K: oauth2 000_base_oauth2.lua, 003_130_to_140.lua (ttl
// indexes) and 004_200_to_210.lua (challenge columns, ws_id).
var oauth2Tokens = `CREATE TABLE IF NOT EXISTS oauth2_authorization_codes (
  id uuid PRIMARY KEY,
  created_at ` + tsNow0 + `,
  credential_id uuid,
  service_id uuid,
  code text,
  authenticated_userid text,
  scope text,
  ttl TIMESTAMP WITH TIME ZONE,
  challenge text,
  challenge_method text,
  ` + ws("oauth2_authorization_codes") + `,
  ` + wsUnique("oauth2_authorization_codes", "code") + `,
  ` + wsFK("oauth2_authorization_codes", "service", "services", true) + `,
  ` + wsFK("oauth2_authorization_codes", "credential", "oauth2_credentials", true) + `
);
` + index("oauth2_authorization_codes_authenticated_userid_idx", "oauth2_authorization_codes", "authenticated_userid") +
	index("oauth2_authorization_credential_id_idx", "oauth2_authorization_codes", "credential_id") +
	index("oauth2_authorization_service_id_idx", "oauth2_authorization_codes", "service_id") +
	index("oauth2_authorization_codes_ttl_idx", "oauth2_authorization_codes", "ttl") + `CREATE TABLE IF NOT EXISTS oauth2_tokens (
  id uuid PRIMARY KEY,
  created_at ` + tsNow0 + `,
  credential_id uuid,
  service_id uuid,
  access_token text,
  refresh_token text,
  token_type text,
  expires_in integer,
  authenticated_userid text,
  scope text,
  ttl TIMESTAMP WITH TIME ZONE,
  ` + ws("oauth2_tokens") + `,
  ` + wsUnique("oauth2_tokens", "access_token") + `,
  ` + wsUnique("oauth2_tokens", "refresh_token") + `,
  ` + wsFK("oauth2_tokens", "service", "services", true) + `,
  ` + wsFK("oauth2_tokens", "credential", "oauth2_credentials", true) + `
);
` + index("oauth2_tokens_authenticated_userid_idx", "oauth2_tokens", "authenticated_userid") +
	index("oauth2_tokens_credential_id_idx", "oauth2_tokens", "credential_id") +
	index("oauth2_tokens_service_id_idx", "oauth2_tokens", "service_id") +
	index("oauth2_tokens_ttl_idx", "oauth2_tokens", "ttl")

// PluginSchema returns every up step of a subsystem in catalogue order
// (for tests that create the schema directly).
func PluginSchema(subsystem string) string {
	steps := map[string][]string{
		"acl": {"000_base_acl"}, "basic-auth": {"000_base_basic_auth"}, "hmac-auth": {"000_base_hmac_auth"},
		"jwt": {"000_base_jwt"}, "key-auth": {"000_base_key_auth", "004_320_to_330"},
		"oauth2": {"000_base_oauth2", "006_320_to_330", "007_320_to_330"},
	}[subsystem]
	var b strings.Builder
	for _, n := range steps {
		b.WriteString(PluginUp(subsystem, n))
	}
	return b.String()
}

// PluginSubsystems lists the subsystems for which PluginSchema returns DDL.
func PluginSubsystems() []string {
	return []string{"acl", "basic-auth", "hmac-auth", "jwt", "key-auth", "oauth2"}
}
