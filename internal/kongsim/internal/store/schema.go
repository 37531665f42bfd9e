package store

import (
	"sort"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// Field describes one field of a Kong entity schema, in the vocabulary of
// kong/db/schema/init.lua. Only what the emulator checks is modelled.
type Field struct {
	Name      string
	Type      string // string, integer, number, boolean, array, set, map, record, foreign, json
	Required  bool
	Default   any // JSON value; nil means the default is null
	Auto      bool
	UUID      bool
	Timestamp bool
	Unique    bool
	OneOf     []any
	Between   *[2]int64
	LenMin    int
	Elements  *Field   // array and set
	Values    *Field   // map (only read to coerce form-encoded bodies)
	Fields    []*Field // record
	Reference string   // foreign: the referenced entity's name
	Cascade   bool     // foreign: on_delete = "cascade" (else restrict)
	// Prefixes: a string must start with one of them, else PrefixErr
	// (Kong's match_any on route paths).
	Prefixes  []string
	PrefixErr string
}

// Entity describes one Kong entity: its table, its Admin API paths, its
// fields and the checks Kong runs on the whole entity.
type Entity struct {
	Name        string // schema and table name, e.g. "keyauth_credentials"
	Path        string // collection path on the Admin API, e.g. "key-auths"
	NestedPath  string // path under its parent, e.g. "key-auth" under /consumers/{id}
	Parent      string // the foreign field that NestedPath hangs from, e.g. "consumer"
	EndpointKey string // field usable instead of the id in URLs, e.g. "name"
	Fields      []*Field
	// Check runs entity checks after field validation succeeded; it returns
	// the messages Kong puts under "@entity".
	Check func(e map[string]any) []string
	// UniqueSets lists the column sets whose values must be unique together,
	// beyond single Unique fields (e.g. targets: upstream + target).
	CacheKey []string
	// Subsystem is the plugin subsystem that owns the table; "" for core.
	Subsystem string
	// Table is the PostgreSQL table when it is not Name (vaults: Kong
	// 3.x keeps them in sm_vaults, 2.8 in vaults_beta).
	Table string
	// Since is the first version serving the entity; zero for all.
	Since kongrelease.Version
}

// TableName is the entity's PostgreSQL table.
func (e *Entity) TableName() string {
	if e.Table != "" {
		return e.Table
	}
	return e.Name
}

// Field returns the named field or nil.
func (e *Entity) Field(name string) *Field {
	for _, f := range e.Fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Foreign returns the entity's foreign-key fields.
func (e *Entity) Foreign() []*Field {
	var out []*Field
	for _, f := range e.Fields {
		if f.Type == "foreign" {
			out = append(out, f)
		}
	}
	return out
}

func between(a, b int64) *[2]int64 { return &[2]int64{a, b} }

var (
	fID        = func() *Field { return &Field{Name: "id", Type: "string", UUID: true, Auto: true} }
	fCreatedAt = func() *Field { return &Field{Name: "created_at", Type: "integer", Timestamp: true, Auto: true} }
	fUpdatedAt = func() *Field { return &Field{Name: "updated_at", Type: "integer", Timestamp: true, Auto: true} }
	fTags      = func() *Field {
		return &Field{Name: "tags", Type: "set", Elements: &Field{Type: "string"}}
	}
	fName    = func() *Field { return &Field{Name: "name", Type: "string", Unique: true} }
	strArray = func(name string) *Field { return &Field{Name: name, Type: "array", Elements: &Field{Type: "string"}} }
	strSet   = func(name string) *Field { return &Field{Name: name, Type: "set", Elements: &Field{Type: "string"}} }
	timeout  = func(name string) *Field {
		return &Field{Name: name, Type: "integer", Default: float64(60000), Between: between(1, 2147483646)}
	}
	consumerF = func() *Field {
		return &Field{Name: "consumer", Type: "foreign", Reference: "consumers", Required: true, Cascade: true}
	}
	protocols = []any{"grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss"}
)

// healthchecksDefault is Kong's upstream healthchecks default
// (K: kong/db/schema/entities/upstreams.lua).
func healthchecksDefault() map[string]any {
	return map[string]any{
		"threshold": float64(0),
		"active": map[string]any{
			"type": "http", "timeout": float64(1), "concurrency": float64(10), "http_path": "/",
			"https_verify_certificate": true, "https_sni": nil, "headers": nil,
			"healthy": map[string]any{"interval": float64(0), "http_statuses": []any{float64(200), float64(302)}, "successes": float64(0)},
			"unhealthy": map[string]any{"interval": float64(0), "http_statuses": []any{float64(429), float64(404), float64(500), float64(501), float64(502), float64(503), float64(504), float64(505)},
				"tcp_failures": float64(0), "timeouts": float64(0), "http_failures": float64(0)},
		},
		"passive": map[string]any{
			"type": "http",
			"healthy": map[string]any{"http_statuses": []any{float64(200), float64(201), float64(202), float64(203), float64(204), float64(205), float64(206), float64(207), float64(208), float64(226),
				float64(300), float64(301), float64(302), float64(303), float64(304), float64(305), float64(306), float64(307), float64(308)}, "successes": float64(0)},
			"unhealthy": map[string]any{"http_statuses": []any{float64(429), float64(500), float64(503)}, "tcp_failures": float64(0), "timeouts": float64(0), "http_failures": float64(0)},
		},
	}
}

// Entities returns the entity definitions a node of version v serves, in
// dependency order (a referenced entity before the ones referencing it).
// Sources: K: kong/db/schema/entities/*.lua and
// kong/plugins/*/daos.lua at the 3.x tags.
func Entities(v kongrelease.Version) []*Entity {
	v3 := v.Major >= 3
	services := &Entity{Name: "services", Path: "services", EndpointKey: "name", Fields: []*Field{
		fID(), fCreatedAt(), fUpdatedAt(), fName(),
		{Name: "retries", Type: "integer", Default: float64(5), Between: between(0, 32767)},
		{Name: "protocol", Type: "string", Required: true, Default: "http", OneOf: protocols},
		{Name: "host", Type: "string", Required: true},
		{Name: "port", Type: "integer", Required: true, Default: float64(80), Between: between(0, 65535)},
		{Name: "path", Type: "string"},
		timeout("connect_timeout"), timeout("write_timeout"), timeout("read_timeout"),
		fTags(),
		{Name: "client_certificate", Type: "foreign", Reference: "certificates"},
		{Name: "tls_verify", Type: "boolean"},
		{Name: "tls_verify_depth", Type: "integer", Between: between(0, 64)},
		{Name: "ca_certificates", Type: "array", Elements: &Field{Type: "string", UUID: true}},
		{Name: "enabled", Type: "boolean", Required: true, Default: true},
	}}
	routes := &Entity{Name: "routes", Path: "routes", NestedPath: "routes", Parent: "service", EndpointKey: "name", Fields: []*Field{
		fID(), fCreatedAt(), fUpdatedAt(), fName(),
		{Name: "protocols", Type: "set", Required: true, Default: []any{"http", "https"}, Elements: &Field{Type: "string", OneOf: protocols}},
		{Name: "methods", Type: "set", Elements: &Field{Type: "string"}},
		strArray("hosts"), routePaths(v),
		{Name: "headers", Type: "map", Values: &Field{Type: "array", Elements: &Field{Type: "string"}}},
		{Name: "https_redirect_status_code", Type: "integer", Required: true, Default: float64(426), OneOf: []any{float64(426), float64(301), float64(302), float64(307), float64(308)}},
		{Name: "regex_priority", Type: "integer", Default: float64(0)},
		{Name: "strip_path", Type: "boolean", Required: true, Default: true},
		{Name: "path_handling", Type: "string", Default: "v0", OneOf: []any{"v0", "v1"}},
		{Name: "preserve_host", Type: "boolean", Required: true, Default: false},
		{Name: "request_buffering", Type: "boolean", Required: true, Default: true},
		{Name: "response_buffering", Type: "boolean", Required: true, Default: true},
		strSet("snis"),
		{Name: "sources", Type: "set", Elements: &Field{Type: "json"}},
		{Name: "destinations", Type: "set", Elements: &Field{Type: "json"}},
		fTags(),
		{Name: "service", Type: "foreign", Reference: "services"},
	}, Check: checkRoute}
	consumers := &Entity{Name: "consumers", Path: "consumers", EndpointKey: "username", Fields: []*Field{
		fID(), fCreatedAt(), fUpdatedAt(),
		{Name: "username", Type: "string", Unique: true},
		{Name: "custom_id", Type: "string", Unique: true},
		fTags(),
	}, Check: atLeastOneOf("custom_id", "username")}
	plugins := &Entity{Name: "plugins", Path: "plugins", NestedPath: "plugins", Fields: []*Field{
		fID(), {Name: "name", Type: "string", Required: true}, fCreatedAt(), fUpdatedAt(),
		{Name: "instance_name", Type: "string", Unique: true},
		{Name: "route", Type: "foreign", Reference: "routes", Cascade: true},
		{Name: "service", Type: "foreign", Reference: "services", Cascade: true},
		{Name: "consumer", Type: "foreign", Reference: "consumers", Cascade: true},
		{Name: "config", Type: "json"},
		{Name: "protocols", Type: "set", Required: true, Default: []any{"grpc", "grpcs", "http", "https"}, Elements: &Field{Type: "string", OneOf: protocols}},
		{Name: "enabled", Type: "boolean", Required: true, Default: true},
		fTags(),
	}, CacheKey: []string{"name", "route", "service", "consumer"}}
	certificates := &Entity{Name: "certificates", Path: "certificates", Fields: []*Field{
		fID(), fCreatedAt(), fUpdatedAt(),
		{Name: "cert", Type: "string", Required: true},
		{Name: "key", Type: "string", Required: true},
		{Name: "cert_alt", Type: "string"}, {Name: "key_alt", Type: "string"},
		fTags(),
	}}
	snis := &Entity{Name: "snis", Path: "snis", NestedPath: "snis", Parent: "certificate", EndpointKey: "name", Fields: []*Field{
		fID(), {Name: "name", Type: "string", Required: true, Unique: true}, fCreatedAt(), fUpdatedAt(), fTags(),
		{Name: "certificate", Type: "foreign", Reference: "certificates", Required: true},
	}}
	caCerts := &Entity{Name: "ca_certificates", Path: "ca_certificates", Fields: []*Field{
		fID(), fCreatedAt(), fUpdatedAt(),
		{Name: "cert", Type: "string", Required: true},
		{Name: "cert_digest", Type: "string", Unique: true},
		fTags(),
	}}
	upstreams := &Entity{Name: "upstreams", Path: "upstreams", EndpointKey: "name", Fields: []*Field{
		fID(), fCreatedAt(), fUpdatedAt(),
		{Name: "name", Type: "string", Required: true, Unique: true},
		{Name: "algorithm", Type: "string", Default: "round-robin", OneOf: []any{"consistent-hashing", "least-connections", "round-robin", "latency"}},
		{Name: "hash_on", Type: "string", Default: "none"},
		{Name: "hash_fallback", Type: "string", Default: "none"},
		{Name: "hash_on_header", Type: "string"}, {Name: "hash_fallback_header", Type: "string"},
		{Name: "hash_on_cookie", Type: "string"},
		{Name: "hash_on_cookie_path", Type: "string", Default: "/"},
		{Name: "hash_on_query_arg", Type: "string"}, {Name: "hash_fallback_query_arg", Type: "string"},
		{Name: "hash_on_uri_capture", Type: "string"}, {Name: "hash_fallback_uri_capture", Type: "string"},
		{Name: "slots", Type: "integer", Default: float64(10000), Between: between(10, 65536)},
		{Name: "healthchecks", Type: "json", Default: healthchecksDefault()},
		fTags(),
		{Name: "host_header", Type: "string"},
		{Name: "client_certificate", Type: "foreign", Reference: "certificates"},
		{Name: "use_srv_name", Type: "boolean", Default: false},
	}}
	targets := &Entity{Name: "targets", Path: "targets", NestedPath: "targets", Parent: "upstream", Fields: []*Field{
		fID(), fCreatedAt(), fUpdatedAt(),
		{Name: "upstream", Type: "foreign", Reference: "upstreams", Required: true, Cascade: true},
		{Name: "target", Type: "string", Required: true},
		{Name: "weight", Type: "integer", Default: float64(100), Between: between(0, 65535)},
		fTags(),
	}, CacheKey: []string{"upstream", "target"}}
	keySets := &Entity{Name: "key_sets", Path: "key-sets", EndpointKey: "name", Since: kongrelease.MustParse("3.1.0"), Fields: []*Field{
		fID(), fName(), fTags(), fCreatedAt(), fUpdatedAt(),
	}}
	keys := &Entity{Name: "keys", Path: "keys", NestedPath: "keys", Parent: "set", EndpointKey: "name", Since: kongrelease.MustParse("3.1.0"), Fields: []*Field{
		fID(), {Name: "set", Type: "foreign", Reference: "key_sets", Cascade: true}, fName(),
		{Name: "cache_key", Type: "string", Unique: true, Auto: true},
		{Name: "kid", Type: "string", Required: true},
		{Name: "jwk", Type: "string"},
		{Name: "pem", Type: "json"},
		fTags(), fCreatedAt(), fUpdatedAt(),
	}, Check: atLeastOneOf("jwk", "pem")}
	vaults := &Entity{Name: "vaults", Path: "vaults", EndpointKey: "prefix", Fields: []*Field{
		fID(), {Name: "prefix", Type: "string", Required: true, Unique: true},
		{Name: "name", Type: "string", Required: true},
		{Name: "description", Type: "string"},
		{Name: "config", Type: "json"},
		fCreatedAt(), fUpdatedAt(), fTags(),
	}}
	cred := func(name, path, nested, sub string, fields ...*Field) *Entity {
		fs := []*Field{fID(), fCreatedAt(), consumerF()}
		fs = append(fs, fields...)
		fs = append(fs, fTags())
		return &Entity{Name: name, Path: path, NestedPath: nested, Parent: "consumer", Subsystem: sub, Fields: fs}
	}
	keyauth := cred("keyauth_credentials", "key-auths", "key-auth", "key-auth",
		&Field{Name: "key", Type: "string", Unique: true, Auto: true},
		&Field{Name: "ttl", Type: "integer"})
	keyauth.EndpointKey = "key"
	basic := cred("basicauth_credentials", "basic-auths", "basic-auth", "basic-auth",
		&Field{Name: "username", Type: "string", Required: true, Unique: true},
		&Field{Name: "password", Type: "string", Required: true})
	basic.EndpointKey = "username"
	hmac := cred("hmacauth_credentials", "hmac-auths", "hmac-auth", "hmac-auth",
		&Field{Name: "username", Type: "string", Required: true, Unique: true},
		&Field{Name: "secret", Type: "string", Auto: true})
	hmac.EndpointKey = "username"
	jwt := cred("jwt_secrets", "jwts", "jwt", "jwt",
		&Field{Name: "key", Type: "string", Unique: true, Auto: true},
		&Field{Name: "secret", Type: "string", Auto: true},
		&Field{Name: "rsa_public_key", Type: "string"},
		&Field{Name: "algorithm", Type: "string", Default: "HS256", OneOf: []any{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}})
	jwt.EndpointKey = "key"
	acls := cred("acls", "acls", "acls", "acl", &Field{Name: "group", Type: "string", Required: true})
	acls.CacheKey = []string{"consumer", "group"}
	oauth2 := cred("oauth2_credentials", "oauth2", "oauth2", "oauth2",
		&Field{Name: "name", Type: "string", Required: true},
		&Field{Name: "client_id", Type: "string", Unique: true, Auto: true},
		&Field{Name: "client_secret", Type: "string", Auto: true},
		&Field{Name: "hash_secret", Type: "boolean", Required: true, Default: false},
		strArray("redirect_uris"),
		&Field{Name: "client_type", Type: "string", Required: true, Default: "confidential", OneOf: []any{"confidential", "public"}})
	oauth2.EndpointKey = "client_id"

	all := []*Entity{certificates, caCerts, services, routes, consumers, plugins, snis, upstreams, targets,
		keySets, keys, vaults, keyauth, basic, hmac, jwt, acls, oauth2}
	vaults.Table = "sm_vaults"
	if !v3 {
		vaults.Table = "vaults_beta"
		// 2.8: no routes.request/response_buffering defaults changed; no
		// services.enabled before 2.7 (2.8 has it). Keys and key-sets are 3.1+.
		plugins.Fields = withoutField(plugins.Fields, "instance_name")
	}
	var out []*Entity
	for _, e := range all {
		if e.Since != (kongrelease.Version{}) && v.Compare(e.Since) < 0 {
			continue
		}
		out = append(out, e)
	}
	return out
}

// routePaths is routes.paths: from 3.0 a path starts with "/" or "~/"
// (regex); before, with "/" (K: kong/db/schema/typedefs.lua path).
func routePaths(v kongrelease.Version) *Field {
	el := &Field{Type: "string", Prefixes: []string{"/"}, PrefixErr: "should start with: /"}
	if v.Major >= 3 {
		el = &Field{Type: "string", Prefixes: []string{"/", "~/"}, PrefixErr: "should start with: / (fixed path) or ~/ (regex path)"}
	}
	return &Field{Name: "paths", Type: "array", Elements: el}
}

func withoutField(fs []*Field, name string) []*Field {
	var out []*Field
	for _, f := range fs {
		if f.Name != name {
			out = append(out, f)
		}
	}
	return out
}

// Registry indexes a version's entities by name and by Admin API path.
type Registry struct {
	Version kongrelease.Version
	List    []*Entity
	byName  map[string]*Entity
	byPath  map[string]*Entity
}

// NewRegistry builds the registry of entities served by version v.
func NewRegistry(v kongrelease.Version) *Registry {
	r := &Registry{Version: v, List: Entities(v), byName: map[string]*Entity{}, byPath: map[string]*Entity{}}
	for _, e := range r.List {
		r.byName[e.Name] = e
		r.byPath[e.Path] = e
	}
	return r
}

// ByName returns the entity with schema name n.
func (r *Registry) ByName(n string) *Entity { return r.byName[n] }

// ByPath returns the entity whose collection path is p.
func (r *Registry) ByPath(p string) *Entity { return r.byPath[p] }

// Children returns the entities with a foreign key to parent, sorted by name.
func (r *Registry) Children(parent string) []*Entity {
	var out []*Entity
	for _, e := range r.List {
		for _, f := range e.Foreign() {
			if f.Reference == parent {
				out = append(out, e)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
