package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/kong/go-database-reconciler/pkg/file"
	"sigs.k8s.io/yaml"
)

// The configuration fingerprint, defined once for all of Upshift.
//
// It is the SHA-256 (hex) of the lines
//
//	<kind> TAB <id> TAB <body>
//
// one per Kong entity, sorted bytewise by kind then id, joined with "\n".
// kind is the entity's table name (services, routes, consumers, plugins,
// upstreams, targets, certificates, snis, ca_certificates, vaults, keys,
// key_sets, keyauth_credentials, basicauth_credentials,
// hmacauth_credentials, jwt_secrets, acls, oauth2_credentials, ...); id is
// its UUID in lower case; body is the entity as the Admin API shows it
// (foreign keys as {"id": ...}) with created_at and updated_at removed,
// null-valued object members removed at every depth, and top-level members
// whose value is [] or {} removed, printed as PostgreSQL prints jsonb.
//
// So it is "a sorted dump with IDs and without timestamps, hashed": any
// create, update or delete of an entity changes it; a no-op write (PATCH
// with the same values, which only bumps updated_at) does not.
//
// DB mode computes it in SQL over Kong's entity tables, one ordered query
// per kind on one snapshot, hashed as the rows stream (FingerprintDB); DB-less and hybrid data planes compute it from a decK
// dump (FingerprintContent) or from GET /config (FingerprintDeclarative).
// On the same configuration they agree: FingerprintDB maps Kong's typed
// rows back to the Admin API object (a foreign key column <f>_id becomes
// {"<f>": {"id": ...}}, ws_id and cache_key dropped, sm_vaults read as
// vaults), tested against kongsim, whose PostgreSQL tables are Kong's.
// A key-auth credential's ttl is left out on every side: Kong stores an
// expiry time and shows the seconds left, which no two reads agree on.

// Fingerprint is a configuration fingerprint and the entity counts it
// covers.
type Fingerprint struct {
	Hash   string           `json:"hash"`
	Counts map[string]int64 `json:"counts"` // kind → entities; kinds with none left out
}

// Entities is the total number of entities.
func (f Fingerprint) Entities() int64 {
	var n int64
	for _, c := range f.Counts {
		n += c
	}
	return n
}

// entityTables are Kong's configuration tables (core and bundled plugins'
// credentials) with their foreign-key fields. Runtime tables
// (clustering_data_planes, oauth2_tokens, ratelimiting_metrics, sessions,
// locks, schema_meta, cluster_events) are not configuration and are left
// out. Vaults live in sm_vaults from 3.0 (K: kong/db/schema/entities/
// vaults.lua table_name) and in vaults_beta in 2.8.
var entityTables = map[string][]string{
	"acls": {"consumer"}, "basicauth_credentials": {"consumer"}, "ca_certificates": nil, "certificates": nil,
	"consumer_group_consumers": {"consumer_group", "consumer"}, "consumer_group_plugins": {"consumer_group"},
	"consumer_groups": nil, "consumers": nil, "filter_chains": {"route", "service"}, "hmacauth_credentials": {"consumer"},
	"jwt_secrets": {"consumer"}, "key_sets": nil, "keyauth_credentials": {"consumer"}, "keys": {"set"},
	"mtls_auth_credentials": {"consumer", "ca_certificate"}, "oauth2_credentials": {"consumer"},
	"plugins": {"route", "service", "consumer"}, "routes": {"service"}, "services": {"client_certificate"},
	"snis": {"certificate"}, "targets": {"upstream"}, "upstreams": {"client_certificate"},
	"sm_vaults": nil, "vaults_beta": nil,
}

// kindOf is the fingerprint kind of a table.
func kindOf(table string) string {
	if table == "sm_vaults" || table == "vaults_beta" {
		return "vaults"
	}
	return table
}

// Querier is what FingerprintDB needs of a connection.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// FingerprintDB computes the fingerprint of the Kong database behind q: a
// catalogue lookup for which entity tables exist and their columns and
// types, then one query per kind that builds each row's body and returns
// the rows in id order (the primary key's order: a UUID sorts as its hex
// text does), hashed here as they stream in: no sort, no materialised
// result. All of it runs in one REPEATABLE READ read-only transaction so
// the kinds come from one snapshot: pass a pgx.Tx to share its snapshot,
// or a connection or pool, on which FingerprintDB opens one. Read-only.
func FingerprintDB(ctx context.Context, q Querier) (Fingerprint, error) {
	if _, isTx := q.(pgx.Tx); !isTx {
		if b, ok := q.(interface {
			BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error)
		}); ok {
			tx, err := b.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
			if err != nil {
				return Fingerprint{}, fmt.Errorf("fingerprint: begin: %w", err)
			}
			defer tx.Rollback(context.WithoutCancel(ctx))
			q = tx
		}
	}
	ek, err := readEntityKinds(ctx, q)
	if err != nil {
		return Fingerprint{}, err
	}
	return ek.fingerprint(ctx, q, newFingerprintHash(), nil)
}

// entityTable is an entity table of the current schema, with its columns
// and their types (format_type) in column order.
type entityTable struct {
	name        string
	cols, types []string
}

// entityKinds are the fingerprint's kinds present in a database, sorted,
// with their tables.
type entityKinds struct {
	kinds  []string
	byKind map[string][]entityTable
}

// readEntityKinds looks up which entity tables exist, with their columns.
func readEntityKinds(ctx context.Context, q Querier) (entityKinds, error) {
	names := make([]string, 0, len(entityTables))
	for t := range entityTables {
		names = append(names, t)
	}
	rows, err := q.Query(ctx, `SELECT c.relname::text,
		       ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum),
		       ARRAY(SELECT format_type(a.atttypid, NULL) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
		FROM pg_class c
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') AND c.relname = ANY($1)
		ORDER BY c.relname`, names)
	if err != nil {
		return entityKinds{}, fmt.Errorf("fingerprint: list entity tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (entityTable, error) {
		var t entityTable
		return t, r.Scan(&t.name, &t.cols, &t.types)
	})
	if err != nil {
		return entityKinds{}, fmt.Errorf("fingerprint: list entity tables: %w", err)
	}
	ek := entityKinds{byKind: map[string][]entityTable{}}
	for _, t := range tables {
		if t.name == "vaults_beta" && slices.ContainsFunc(tables, func(o entityTable) bool { return o.name == "sm_vaults" }) {
			continue // between 3.0's up and its teardown both hold the same vaults
		}
		k := kindOf(t.name)
		if ek.byKind[k] == nil {
			ek.kinds = append(ek.kinds, k)
		}
		ek.byKind[k] = append(ek.byKind[k], t)
	}
	sort.Strings(ek.kinds) // bytewise, as the lines are sorted
	return ek, nil
}

// readKind is one kind's lines read from an archive, sorted by id.
type readKind struct{ lines []archiveLine }

// fingerprintHash is a fingerprint being hashed kind after kind, in the
// kinds' order: the archive reader hashes each kind as soon as it and
// every kind before it are read, while pg_dump goes on.
type fingerprintHash struct {
	h      hash.Hash
	w      *bufio.Writer // a few large writes to h, not five per line
	first  bool
	next   int // ek.kinds[:next] are hashed
	counts map[string]int64
}

func newFingerprintHash() *fingerprintHash {
	h := sha256.New()
	return &fingerprintHash{h: h, w: bufio.NewWriterSize(h, 64<<10), first: true, counts: map[string]int64{}}
}

// line hashes one line of kind k.
func (fh *fingerprintHash) line(k string, id, body []byte) {
	if !fh.first {
		fh.w.WriteByte('\n')
	}
	fh.first = false
	fh.w.WriteString(k)
	fh.w.WriteByte('\t')
	fh.w.Write(id)
	fh.w.WriteByte('\t')
	fh.w.Write(body)
	fh.counts[k]++
}

// kind hashes a kind read from an archive, the next in order.
func (fh *fingerprintHash) kind(k string, r readKind) {
	for _, l := range r.lines {
		fh.line(k, l.b[:l.idLen], l.b[l.idLen:])
	}
	fh.next++
}

// fingerprint hashes the kinds fh has not hashed yet: those in read from
// their lines, the others by one ordered query per kind on q.
func (ek entityKinds) fingerprint(ctx context.Context, q Querier, fh *fingerprintHash, read map[string]readKind) (Fingerprint, error) {
	for fh.next < len(ek.kinds) {
		k := ek.kinds[fh.next]
		if r, ok := read[k]; ok {
			fh.kind(k, r)
			continue
		}
		fh.next++
		var parts []string
		order := "t.id"
		for _, t := range ek.byKind[k] {
			parts = append(parts, fmt.Sprintf("SELECT t.id::text, %s::text FROM %s AS t", rowBody(t.name, t.cols, t.types), pgx.Identifier{t.name}.Sanitize()))
			if i := slices.Index(t.cols, "id"); i < 0 || t.types[i] != "uuid" || len(ek.byKind[k]) > 1 {
				order = `1 COLLATE "C"`
			}
		}
		rows, err := q.Query(ctx, strings.Join(parts, " UNION ALL ")+" ORDER BY "+order)
		if err != nil {
			return Fingerprint{}, fmt.Errorf("fingerprint %s: %w", k, err)
		}
		var id, body []byte
		_, err = pgx.ForEachRow(rows, []any{&id, &body}, func() error {
			fh.line(k, id, body)
			return nil
		})
		if err != nil {
			return Fingerprint{}, fmt.Errorf("fingerprint %s: %w", k, err)
		}
	}
	if err := fh.w.Flush(); err != nil {
		return Fingerprint{}, err
	}
	return Fingerprint{Hash: hex.EncodeToString(fh.h.Sum(nil)), Counts: fh.counts}, nil
}

// rowBody is the SQL expression of a table row as the Admin API object,
// without timestamps (see the contract above), built in one
// jsonb_build_object: a foreign key column <f>_id as {"<f>": {"id": ...}};
// null members are stripped at every depth, and a top-level [] or {} (an
// empty array column, or a jsonb column empty once its nulls are
// stripped) is made null first, so it goes too.
func rowBody(table string, cols, types []string) string {
	drop := []string{"ws_id", "cache_key", "created_at", "updated_at"}
	if table == "keyauth_credentials" {
		drop = append(drop, "ttl")
	}
	var fks []string
	for _, f := range entityTables[table] {
		if slices.Contains(cols, f+"_id") {
			drop = append(drop, f+"_id")
			fks = append(fks, f)
		}
	}
	var args []string
	for i, c := range cols {
		if slices.Contains(drop, c) {
			continue
		}
		col := "t." + pgx.Identifier{c}.Sanitize()
		switch typ := types[i]; {
		case strings.HasSuffix(typ, "[]"):
			col = "NULLIF(" + col + ", '{}')"
		case typ == "jsonb" || typ == "json":
			col = "NULLIF(NULLIF(jsonb_strip_nulls(" + col + "::jsonb), '{}'::jsonb), '[]'::jsonb)"
		}
		args = append(args, pgQuote(c)+", "+col)
	}
	for _, f := range fks {
		args = append(args, fmt.Sprintf("%s, CASE WHEN t.%s IS NULL THEN NULL ELSE jsonb_build_object('id', t.%[2]s) END",
			pgQuote(f), pgx.Identifier{f + "_id"}.Sanitize()))
	}
	// jsonb_build_object takes at most 100 arguments: 50 members a call.
	var objs []string
	for len(args) > 0 {
		n := min(len(args), 50)
		objs = append(objs, "jsonb_build_object("+strings.Join(args[:n], ", ")+")")
		args = args[n:]
	}
	if len(objs) == 0 {
		return "'{}'::jsonb"
	}
	return "jsonb_strip_nulls(" + strings.Join(objs, " || ") + ")"
}

func pgQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

type line struct{ kind, id, body string }

func hashLines(lines []line) string {
	sort.Slice(lines, func(i, j int) bool {
		if lines[i].kind != lines[j].kind {
			return lines[i].kind < lines[j].kind
		}
		return lines[i].id < lines[j].id
	})
	h := sha256.New()
	for i, l := range lines {
		if i > 0 {
			h.Write([]byte{'\n'})
		}
		h.Write([]byte(l.kind + "\t" + l.id + "\t" + l.body))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// collector gathers entities for a Go-side fingerprint.
type collector struct {
	lines  []line
	counts map[string]int64
	err    error
}

// add records entity v of kind; fk adds foreign keys ({"id": ...}) that a
// nested decK entity leaves out.
func (c *collector) add(kind string, v any, fk map[string]*string) {
	if c.err != nil {
		return
	}
	obj, err := toGeneric(v)
	if err != nil {
		c.err = fmt.Errorf("fingerprint %s: %w", kind, err)
		return
	}
	for k, id := range fk {
		if id != nil {
			obj[k] = map[string]any{"id": *id}
		}
	}
	if kind == "plugins" {
		dropShorthands(obj)
	}
	if kind == "keyauth_credentials" {
		delete(obj, "ttl") // see the contract above
	}
	id, _ := obj["id"].(string)
	if id == "" {
		c.err = fmt.Errorf("fingerprint %s: entity without id (dump with IDs)", kind)
		return
	}
	var b strings.Builder
	if err := writeJSONB(&b, normalizeEntity(obj)); err != nil {
		c.err = fmt.Errorf("fingerprint %s %s: %w", kind, id, err)
		return
	}
	c.lines = append(c.lines, line{kind: kind, id: strings.ToLower(id), body: b.String()})
	c.counts[kind]++
}

// addEach records every entity of xs as kind, with the foreign keys fk.
func addEach[T any](c *collector, kind string, xs []*T, fk map[string]*string) {
	for _, x := range xs {
		c.add(kind, x, fk)
	}
}

// dropShorthands removes the deprecated flat redis_* fields that Kong
// 3.6+ (and kongsim) add to rate-limiting and response-ratelimiting
// configurations when it reads them (shorthand_fields with
// translate_backwards): they copy the config.redis record, are never
// stored in the database, and a decK dump carries them or not depending on
// the plugin schema it fetched. Only when config.redis is a record: before
// 3.6 the flat fields are the real ones.
func dropShorthands(plugin map[string]any) {
	conf, ok := plugin["config"].(map[string]any)
	if !ok {
		return
	}
	if _, ok := conf["redis"].(map[string]any); !ok {
		return
	}
	for k := range conf {
		if strings.HasPrefix(k, "redis_") {
			delete(conf, k)
		}
	}
}

// FingerprintContent computes the fingerprint from a decK dump made with
// IDs (file.WriteConfig{WithID: true}). Nested entities get back the
// foreign key their nesting implies. Enterprise-only kinds a dump may
// carry (consumer groups, RBAC, licenses, partials, custom entities) are
// not covered; the function refuses content that has them rather than
// return a fingerprint that ignores them.
func FingerprintContent(c *file.Content) (Fingerprint, error) {
	if len(c.ConsumerGroups)+len(c.RBACRoles)+len(c.Licenses)+len(c.Partials)+len(c.CustomEntities)+len(c.ServicePackages)+len(c.FilterChains) > 0 {
		return Fingerprint{}, fmt.Errorf("fingerprint: the dump has entity kinds the fingerprint does not cover (consumer groups, RBAC, licenses, partials, custom entities, service packages or filter chains)")
	}
	col := &collector{counts: map[string]int64{}}
	plugin := func(p *file.FPlugin, fk map[string]*string) {
		pl := p.Plugin
		pl.Service, pl.Route, pl.Consumer = nil, nil, nil
		f := map[string]*string{}
		for k, v := range fk {
			f[k] = v
		}
		if p.Service != nil {
			f["service"] = p.Service.ID
		}
		if p.Route != nil {
			f["route"] = p.Route.ID
		}
		if p.Consumer != nil {
			f["consumer"] = p.Consumer.ID
		}
		col.add("plugins", pl, f)
	}
	route := func(r *file.FRoute, svc *string) {
		rt := r.Route
		if rt.Service != nil && svc == nil {
			svc = rt.Service.ID
		}
		rt.Service = nil
		col.add("routes", rt, map[string]*string{"service": svc})
		for _, p := range r.Plugins {
			plugin(p, map[string]*string{"route": rt.ID})
		}
	}
	for i := range c.Services {
		s := &c.Services[i]
		col.add("services", s.Service, nil)
		for _, r := range s.Routes {
			route(r, s.ID)
		}
		for _, p := range s.Plugins {
			plugin(p, map[string]*string{"service": s.ID})
		}
	}
	for i := range c.Routes {
		route(&c.Routes[i], nil)
	}
	for i := range c.Plugins {
		plugin(&c.Plugins[i], nil)
	}
	for i := range c.Consumers {
		cs := &c.Consumers[i]
		col.add("consumers", cs.Consumer, nil)
		fk := map[string]*string{"consumer": cs.ID}
		for _, p := range cs.Plugins {
			plugin(p, fk)
		}
		// fk replaces each credential's nested consumer reference.
		addEach(col, "keyauth_credentials", cs.KeyAuths, fk)
		addEach(col, "basicauth_credentials", cs.BasicAuths, fk)
		addEach(col, "hmacauth_credentials", cs.HMACAuths, fk)
		addEach(col, "jwt_secrets", cs.JWTAuths, fk)
		addEach(col, "acls", cs.ACLGroups, fk)
		addEach(col, "oauth2_credentials", cs.Oauth2Creds, fk)
		addEach(col, "mtls_auth_credentials", cs.MTLSAuths, fk)
	}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		col.add("upstreams", u.Upstream, nil)
		for _, t := range u.Targets {
			tg := t.Target
			tg.Upstream = nil
			col.add("targets", tg, map[string]*string{"upstream": u.ID})
		}
	}
	for i := range c.Certificates {
		ct := c.Certificates[i]
		snis := ct.SNIs
		ct.SNIs = nil
		col.add("certificates", ct, nil)
		for _, s := range snis {
			s.Certificate = nil
			col.add("snis", s, map[string]*string{"certificate": ct.ID})
		}
	}
	for i := range c.CACertificates {
		col.add("ca_certificates", c.CACertificates[i].CACertificate, nil)
	}
	for i := range c.Vaults {
		col.add("vaults", c.Vaults[i].Vault, nil)
	}
	for i := range c.KeySets {
		col.add("key_sets", c.KeySets[i].KeySet, nil)
	}
	for i := range c.Keys {
		k := c.Keys[i].Key
		var set *string
		if k.Set != nil {
			set = k.Set.ID
		}
		k.Set = nil
		col.add("keys", k, map[string]*string{"set": set})
	}
	if col.err != nil {
		return Fingerprint{}, col.err
	}
	return Fingerprint{Hash: hashLines(col.lines), Counts: col.counts}, nil
}

// FingerprintDeclarative computes the fingerprint of a declarative
// configuration in Kong's own format, as GET /config returns it (YAML or
// JSON; top-level lists per entity kind, foreign keys as plain IDs, or
// entities nested under their parent). Every entity must carry its id.
func FingerprintDeclarative(config []byte) (Fingerprint, error) {
	j, err := yaml.YAMLToJSON(config)
	if err != nil {
		return Fingerprint{}, fmt.Errorf("parse declarative configuration: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(j))
	d.UseNumber()
	var top map[string]any
	if err := d.Decode(&top); err != nil {
		return Fingerprint{}, fmt.Errorf("parse declarative configuration: %w", err)
	}
	col := &collector{counts: map[string]int64{}}
	for kind, v := range top {
		if strings.HasPrefix(kind, "_") {
			continue
		}
		col.declarative(kind, v, "", "")
	}
	if col.err != nil {
		return Fingerprint{}, col.err
	}
	return Fingerprint{Hash: hashLines(col.lines), Counts: col.counts}, nil
}

// foreignKeys are the foreign-key fields of each kind, which Kong's
// declarative format writes as a plain ID.
var foreignKeys = map[string][]string{
	"services": {"client_certificate"}, "upstreams": {"client_certificate"}, "routes": {"service"},
	"plugins": {"service", "route", "consumer"}, "targets": {"upstream"}, "snis": {"certificate"}, "keys": {"set"},
	"keyauth_credentials": {"consumer"}, "basicauth_credentials": {"consumer"}, "hmacauth_credentials": {"consumer"},
	"jwt_secrets": {"consumer"}, "acls": {"consumer"}, "oauth2_credentials": {"consumer"}, "mtls_auth_credentials": {"consumer"},
}

// parentKey is the foreign-key field a child kind nested under a parent
// kind implies.
var parentKey = map[string]string{
	"services": "service", "routes": "route", "consumers": "consumer", "upstreams": "upstream",
	"certificates": "certificate", "key_sets": "set",
}

func (c *collector) declarative(kind string, v any, parentField, parentID string) {
	list, ok := v.([]any)
	if !ok {
		c.err = fmt.Errorf("declarative configuration: %s is not a list", kind)
		return
	}
	for _, e := range list {
		obj, ok := e.(map[string]any)
		if !ok {
			c.err = fmt.Errorf("declarative configuration: a %s entry is not an object", kind)
			return
		}
		id, _ := obj["id"].(string)
		for k, child := range obj {
			if _, nested := child.([]any); nested && (foreignKeys[k] != nil || k == "consumers") && k != kind {
				if pk, ok := parentKey[kind]; ok {
					c.declarative(k, child, pk, id)
					delete(obj, k)
				}
			}
		}
		for _, fk := range foreignKeys[kind] {
			if s, ok := obj[fk].(string); ok {
				obj[fk] = map[string]any{"id": s}
			}
		}
		fk := map[string]*string{}
		if parentField != "" {
			pid := parentID
			fk[parentField] = &pid
		}
		c.add(kind, obj, fk)
	}
}
