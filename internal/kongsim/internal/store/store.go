package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Store applies Kong's DAO rules (validation, defaults, auto fields,
// uniqueness, foreign keys, cascades) on top of a Backend. Entity objects
// are Kong's JSON shape decoded into map[string]any (numbers as float64).
type Store struct {
	Reg     *Registry
	Backend Backend
	// Plugin validates plugin configs; nil accepts any config as is.
	Plugin PluginValidator
	// PluginTop, when set, gives a plugin's own top-level schema fields:
	// its protocols default and the checks of its protocols, consumer,
	// service and route fields (a plugin's schema.lua overrides the
	// plugins entity's).
	PluginTop PluginTop
	// Now gives timestamps; nil means time.Now.
	Now func() time.Time
	// Check, when set, runs before every backend call; a non-nil result is
	// returned as a database error (fault injection: database unreachable).
	Check func() error
	// ReadOnly makes writes fail after validation with code 12, as a
	// DB-less node does (K: kong/db/strategies/off/init.lua).
	ReadOnly bool

	mu sync.RWMutex // guards Backend and ReadOnly after SetBackend
}

func (s *Store) be() Backend {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.Backend
}

func (s *Store) readOnly() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ReadOnly
}

// SetBackend swaps the backend while requests may be running (a DB-less
// /config load); readOnly as for ReadOnly.
func (s *Store) SetBackend(b Backend, readOnly bool) {
	s.mu.Lock()
	s.Backend, s.ReadOnly = b, readOnly
	s.mu.Unlock()
}

// unsupported is the DB-less strategy's refusal; byField is the endpoint
// key the URL used instead of the id, if any (K: kong/db/strategies/off).
func (s *Store) unsupported(op string, ent *Entity, byField string) error {
	if byField != "" {
		return Unsupported(fmt.Sprintf("cannot %s '%s' entities by '%s' when not using a database", op, ent.Name, byField))
	}
	return Unsupported(fmt.Sprintf("cannot %s '%s' entities when not using a database", op, ent.Name))
}

// byField is the endpoint key used in place of an id, "" for an id.
func byField(ent *Entity, idOrKey string) string {
	if IsUUID(idOrKey) || ent.EndpointKey == "" {
		return ""
	}
	return ent.EndpointKey
}

// Parent restricts an operation to the children of one parent entity, as
// the nested Admin API paths do (/consumers/{id}/key-auth).
type Parent struct {
	Field string // foreign field in the child, e.g. "consumer"
	ID    string
}

func (s *Store) now() int64 {
	if s.Now != nil {
		return s.Now().Unix()
	}
	return time.Now().Unix()
}

func (s *Store) dbErr(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*Error); ok {
		return err
	}
	return DatabaseError(err.Error())
}

func (s *Store) check() error {
	if s.Check != nil {
		if err := s.Check(); err != nil {
			return DatabaseError(err.Error())
		}
	}
	return nil
}

// IsUUID reports whether s is a UUID, the test Kong uses to tell an id from
// an endpoint key in a URL.
func IsUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// Lookup finds an entity by id or endpoint key; nil when absent or not a
// child of parent.
func (s *Store) Lookup(ctx context.Context, ent *Entity, idOrKey string, parent *Parent) (map[string]any, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var obj map[string]any
	if IsUUID(idOrKey) {
		o, err := s.be().Get(ctx, ent, idOrKey)
		if err != nil {
			return nil, s.dbErr(err)
		}
		obj = o
	}
	if obj == nil && ent.EndpointKey != "" {
		l, err := s.be().Find(ctx, ent, ent.EndpointKey, idOrKey)
		if err != nil {
			return nil, s.dbErr(err)
		}
		if len(l) > 0 {
			obj = l[0]
		}
	}
	if obj != nil && parent != nil && refID(obj[parent.Field]) != parent.ID {
		return nil, nil
	}
	return obj, nil
}

// PageQuery is a list request from the Admin API.
type PageQuery struct {
	Size   int
	Offset string
	Tags   []string
	AnyTag bool
	Parent *Parent
	Filter func(map[string]any) bool // extra filter applied after the query
}

// Page lists one page; next is "" on the last page.
func (s *Store) Page(ctx context.Context, ent *Entity, q PageQuery) (data []map[string]any, next string, err error) {
	if err := s.check(); err != nil {
		return nil, "", err
	}
	after := ""
	if q.Offset != "" {
		after, err = decodeOffset(q.Offset)
		if err != nil {
			return nil, "", err
		}
	}
	bq := Query{After: after, Tags: q.Tags, AnyTag: q.AnyTag}
	if q.Parent != nil {
		bq.Where = map[string]string{q.Parent.Field: q.Parent.ID}
	}
	if q.Filter == nil {
		bq.Limit = q.Size + 1
	}
	rows, err := s.be().List(ctx, ent, bq)
	if err != nil {
		return nil, "", s.dbErr(err)
	}
	if q.Filter != nil {
		var kept []map[string]any
		for _, r := range rows {
			if q.Filter(r) {
				kept = append(kept, r)
			}
		}
		rows = kept
	}
	if len(rows) > q.Size {
		rows = rows[:q.Size]
		next = encodeOffset(rows[len(rows)-1]["id"].(string))
	}
	return rows, next, nil
}

func encodeOffset(id string) string {
	b, _ := json.Marshal([]string{id})
	return base64.StdEncoding.EncodeToString(b)
}

func decodeOffset(off string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(off)
	if err != nil {
		return "", InvalidOffset(off, "bad base64 encoding")
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil || len(l) != 1 || !IsUUID(l[0]) {
		return "", InvalidOffset(off, "bad json encoding")
	}
	return l[0], nil
}

// All lists every row of ent (declarative export, dumps).
func (s *Store) All(ctx context.Context, ent *Entity) ([]map[string]any, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.be().List(ctx, ent, Query{})
	return rows, s.dbErr(err)
}

// Insert validates and creates an entity (POST). in is not modified.
func (s *Store) Insert(ctx context.Context, ent *Entity, in map[string]any, parent *Parent) (map[string]any, error) {
	obj := copyObj(normalize(ent, in))
	if parent != nil {
		obj[parent.Field] = map[string]any{"id": parent.ID}
	}
	if obj["id"] == nil {
		obj["id"] = uuid.NewString()
	}
	return s.write(ctx, ent, obj, "create", "")
}

// Upsert is PUT /<entity>/<id|key>: it replaces the entity (fields not
// given take their defaults), creating it when absent. created_at is kept.
func (s *Store) Upsert(ctx context.Context, ent *Entity, idOrKey string, in map[string]any, parent *Parent) (map[string]any, error) {
	obj := copyObj(normalize(ent, in))
	if parent != nil {
		obj[parent.Field] = map[string]any{"id": parent.ID}
	}
	old, err := s.Lookup(ctx, ent, idOrKey, nil)
	if err != nil {
		return nil, err
	}
	switch {
	case old != nil:
		obj["id"] = old["id"]
	case IsUUID(idOrKey):
		obj["id"] = idOrKey
	case ent.EndpointKey != "":
		obj["id"] = uuid.NewString()
		obj[ent.EndpointKey] = idOrKey
	default:
		return nil, InvalidPrimaryKey(map[string]any{"id": msgUUID})
	}
	if old != nil && ent.Field("created_at") != nil {
		obj["created_at"] = old["created_at"]
	}
	return s.write(ctx, ent, obj, "create or update", byField(ent, idOrKey))
}

// Update is PATCH of old, found by idOrKey: the given top-level fields
// replace the stored ones; a plugin's config is merged key by key as Kong
// does.
func (s *Store) Update(ctx context.Context, ent *Entity, idOrKey string, old map[string]any, in map[string]any) (map[string]any, error) {
	obj := copyObj(old)
	in = normalize(ent, in)
	for k, v := range in {
		if k == "config" && ent.Name == "plugins" {
			if om, ok := obj["config"].(map[string]any); ok {
				if nm, ok := v.(map[string]any); ok {
					for ck, cv := range nm {
						om[ck] = cv
					}
					continue
				}
			}
		}
		obj[k] = v
	}
	obj["id"] = old["id"]
	return s.write(ctx, ent, obj, "update", byField(ent, idOrKey))
}

func (s *Store) write(ctx context.Context, ent *Entity, obj map[string]any, op, by string) (map[string]any, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	now := float64(s.now())
	if ent.Field("created_at") != nil && obj["created_at"] == nil {
		obj["created_at"] = now
	}
	if ent.Field("updated_at") != nil {
		obj["updated_at"] = now
	}
	s.fillAuto(ent, obj)
	if errs := complete(ent, obj, s.Plugin, s.PluginTop); errs != nil {
		return nil, SchemaViolation(errs)
	}
	if s.readOnly() {
		return nil, s.unsupported(op, ent, by)
	}
	if err := s.checkRefs(ctx, ent, obj); err != nil {
		return nil, err
	}
	if err := s.checkUnique(ctx, ent, obj); err != nil {
		return nil, err
	}
	if err := s.be().Save(ctx, ent, obj); err != nil {
		if isPgCode(err, "23505") {
			return nil, UniqueViolation(map[string]any{"id": obj["id"]})
		}
		return nil, fmt.Errorf("save %s: %w", ent.Name, s.dbErr(err))
	}
	return obj, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fillAuto generates the values Kong generates for auto fields.
func (s *Store) fillAuto(ent *Entity, obj map[string]any) {
	if ent.Name == "ca_certificates" {
		obj["cert_digest"] = certDigest(obj["cert"])
	}
	for _, f := range ent.Fields {
		if !f.Auto || obj[f.Name] != nil || f.Name == "id" || f.Timestamp {
			continue
		}
		switch f.Name {
		case "cache_key":
			obj[f.Name] = cacheKey(ent, obj)
		default:
			obj[f.Name] = randomHex(16)
		}
	}
}

func (s *Store) checkRefs(ctx context.Context, ent *Entity, obj map[string]any) error {
	for _, f := range ent.Foreign() {
		id := refID(obj[f.Name])
		if id == "" {
			continue
		}
		ref := s.Reg.ByName(f.Reference)
		if ref == nil {
			continue
		}
		o, err := s.be().Get(ctx, ref, id)
		if err != nil {
			return s.dbErr(err)
		}
		if o == nil {
			return ForeignKeyViolation(f.Name, map[string]any{"id": id}, f.Reference)
		}
	}
	return nil
}

func (s *Store) checkUnique(ctx context.Context, ent *Entity, obj map[string]any) error {
	id := obj["id"]
	for _, f := range ent.Fields {
		if !f.Unique || obj[f.Name] == nil {
			continue
		}
		l, err := s.be().Find(ctx, ent, f.Name, fmt.Sprint(obj[f.Name]))
		if err != nil {
			return s.dbErr(err)
		}
		for _, o := range l {
			if o["id"] != id {
				return UniqueViolation(map[string]any{f.Name: obj[f.Name]})
			}
		}
	}
	if len(ent.CacheKey) > 0 {
		l, err := s.be().Find(ctx, ent, "cache_key", cacheKey(ent, obj))
		if err != nil {
			return s.dbErr(err)
		}
		for _, o := range l {
			if o["id"] != id {
				key := map[string]any{}
				for _, k := range ent.CacheKey {
					key[k] = obj[k]
				}
				return UniqueViolation(key)
			}
		}
	}
	return nil
}

// DeleteBy is Delete for a row the URL named by idOrKey (DB-less nodes
// word their refusal after it).
func (s *Store) DeleteBy(ctx context.Context, ent *Entity, idOrKey string, obj map[string]any) error {
	if s.readOnly() {
		return s.unsupported("remove", ent, byField(ent, idOrKey))
	}
	return s.Delete(ctx, ent, obj)
}

// Delete removes obj, cascading to children whose foreign key cascades and
// refusing (code 4) when a restricting child exists.
func (s *Store) Delete(ctx context.Context, ent *Entity, obj map[string]any) error {
	if err := s.check(); err != nil {
		return err
	}
	if s.readOnly() {
		return s.unsupported("remove", ent, "")
	}
	id := obj["id"].(string)
	for _, child := range s.Reg.Children(ent.Name) {
		for _, f := range child.Foreign() {
			if f.Reference != ent.Name {
				continue
			}
			rows, err := s.be().List(ctx, child, Query{Where: map[string]string{f.Name: id}})
			if err != nil {
				return s.dbErr(err)
			}
			if len(rows) == 0 {
				continue
			}
			if !f.Cascade {
				return ReferencedBy(ent.Name, child.Name)
			}
			for _, r := range rows {
				if err := s.Delete(ctx, child, r); err != nil {
					return err
				}
			}
		}
	}
	return s.dbErr(s.be().Delete(ctx, ent, id))
}

// ParseTags reads the tags query parameter: "a,b" means all of them,
// "a/b" any of them (K: kong/api/endpoints.lua, kong/db/dao tags).
func ParseTags(q string) (tags []string, anyTag bool) {
	if q == "" {
		return nil, false
	}
	if strings.Contains(q, "/") {
		return strings.Split(q, "/"), true
	}
	return strings.Split(q, ","), false
}

// certDigest is Kong's ca_certificates.cert_digest: the hex SHA-256 of the
// certificate's DER (K: kong/db/schema/entities/ca_certificates.lua
// transformations); of the text itself when it is not PEM, which Kong
// would refuse (kongsim does not parse certificates); nil without a cert.
func certDigest(v any) any {
	cert, ok := v.(string)
	if !ok {
		return nil
	}
	der := []byte(cert)
	if b, _ := pem.Decode([]byte(cert)); b != nil {
		der = b.Bytes
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}
