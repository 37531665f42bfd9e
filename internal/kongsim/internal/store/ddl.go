package store

import "strings"

// This file is contract 1 between the store (owner) and the migrations
// package (caller): the DDL of every entity table. The migrations package
// runs CoreSchema inside core 000_base and PluginSchema(subsystem) inside
// that subsystem's first migration, in the migration transaction. Neither
// function touches schema_meta or locks.
//
// Every entity table has at least:
//
//	id uuid PRIMARY KEY, created_at bigint, updated_at bigint, tags text[],
//	entity jsonb NOT NULL
//
// where entity is the whole Kong JSON object as the Admin API returns it
// (all fields with defaults, foreign keys as {"id": "..."}). The other
// columns (name, service_id, cache_key, ...) are copies of entity fields that
// the store maintains on every write so that PostgreSQL enforces Kong's
// uniqueness and foreign-key rules (K: kong/db/schema/entities/*.lua and
// kong/db/strategies/postgres). Foreign keys that Kong declares with
// on_delete = "cascade" cascade here; the others restrict, so a delete of a
// referenced row fails as Kong's "referenced by others" check does.

// entityCols is the column set shared by every entity table.
const entityCols = `id uuid PRIMARY KEY,
  created_at bigint NOT NULL,
  updated_at bigint,
  tags text[],
  entity jsonb NOT NULL`

func table(name, extra string) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS " + name + " (\n  " + entityCols)
	if extra != "" {
		b.WriteString(",\n  " + extra)
	}
	b.WriteString("\n);\n")
	b.WriteString("CREATE INDEX IF NOT EXISTS " + name + "_tags_idx ON " + name + " USING GIN (tags);\n")
	return b.String()
}

// CoreSchema returns the DDL of the core entity tables (run by core 000_base).
// It is idempotent (IF NOT EXISTS everywhere).
func CoreSchema() string {
	return strings.Join([]string{
		table("certificates", ``),
		table("services", `name text UNIQUE,
  client_certificate_id uuid REFERENCES certificates (id)`),
		table("routes", `name text UNIQUE,
  service_id uuid REFERENCES services (id)`),
		"CREATE INDEX IF NOT EXISTS routes_service_id_idx ON routes (service_id);\n",
		table("consumers", `username text UNIQUE,
  custom_id text UNIQUE`),
		table("snis", `name text NOT NULL UNIQUE,
  certificate_id uuid REFERENCES certificates (id)`),
		table("ca_certificates", `cert_digest text UNIQUE`),
		table("upstreams", `name text NOT NULL UNIQUE,
  client_certificate_id uuid REFERENCES certificates (id)`),
		table("targets", `upstream_id uuid NOT NULL REFERENCES upstreams (id) ON DELETE CASCADE,
  target text NOT NULL,
  cache_key text UNIQUE`),
		"CREATE INDEX IF NOT EXISTS targets_upstream_id_idx ON targets (upstream_id);\n",
		table("plugins", `name text NOT NULL,
  instance_name text UNIQUE,
  cache_key text UNIQUE,
  service_id uuid REFERENCES services (id) ON DELETE CASCADE,
  route_id uuid REFERENCES routes (id) ON DELETE CASCADE,
  consumer_id uuid REFERENCES consumers (id) ON DELETE CASCADE`),
		"CREATE INDEX IF NOT EXISTS plugins_name_idx ON plugins (name);\n",
		table("key_sets", `name text UNIQUE`),
		table("keys", `name text UNIQUE,
  kid text NOT NULL,
  set_id uuid REFERENCES key_sets (id) ON DELETE CASCADE,
  cache_key text UNIQUE`),
		table("vaults", `prefix text NOT NULL UNIQUE`),
		// Kong's clustering_data_planes (K: db/schema/entities/clustering_data_planes.lua).
		table("clustering_data_planes", ``),
	}, "")
}

// PluginSchema returns the DDL of a plugin subsystem's tables, run by that
// subsystem's first migration; "" when the subsystem has no entity table the
// emulator stores (e.g. rate-limiting counters live in memory).
func PluginSchema(subsystem string) string {
	consumerFK := `consumer_id uuid NOT NULL REFERENCES consumers (id) ON DELETE CASCADE`
	switch subsystem {
	case "key-auth":
		return table("keyauth_credentials", consumerFK+`,
  key text NOT NULL UNIQUE`)
	case "basic-auth":
		return table("basicauth_credentials", consumerFK+`,
  username text NOT NULL UNIQUE`)
	case "hmac-auth":
		return table("hmacauth_credentials", consumerFK+`,
  username text NOT NULL UNIQUE`)
	case "jwt":
		return table("jwt_secrets", consumerFK+`,
  key text UNIQUE`)
	case "acl":
		return table("acls", consumerFK+`,
  "group" text NOT NULL,
  cache_key text UNIQUE`)
	case "oauth2":
		return table("oauth2_credentials", consumerFK+`,
  client_id text UNIQUE`)
	}
	return ""
}

// PluginSubsystems lists the subsystems for which PluginSchema returns DDL.
func PluginSubsystems() []string {
	return []string{"acl", "basic-auth", "hmac-auth", "jwt", "key-auth", "oauth2"}
}
