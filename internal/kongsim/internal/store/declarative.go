package store

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/google/uuid"
	"sigs.k8s.io/yaml"
)

// EmptyConfigHash is Kong's DECLARATIVE_EMPTY_CONFIG_HASH (K: kong/constants.lua).
const EmptyConfigHash = "00000000000000000000000000000000"

// Declarative is a loaded DB-less configuration: the backend holding its
// entities, its hash and the entities as POST /config's 201 body lists them.
type Declarative struct {
	Backend  *Mem
	Hash     string
	Entities map[string]map[string]any // entity name -> id -> object
}

// ParseDeclarative decodes a declarative config given as JSON or YAML text.
func ParseDeclarative(text []byte) (map[string]any, error) {
	var m map[string]any
	if err := yaml.Unmarshal(text, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// declarativeNS is the namespace of the ids generated for entities given
// without one, so that reloading the same file gives the same ids.
var declarativeNS = uuid.MustParse("fd02801f-0957-4a15-a7b0-6a2d8e6c2a5e")

type pending struct {
	ent   *Entity
	obj   map[string]any
	refs  map[string]string // foreign field -> endpoint key (name) to resolve
	index int
}

// LoadDeclarative validates a parsed declarative config against the
// registry's schemas (and plugin configs) and builds an in-memory backend
// from it. On failure it returns Kong's code 14 error; with flatten set the
// body also carries "flattened_errors" (≥3.2).
func (s *Store) LoadDeclarative(ctx context.Context, cfg map[string]any, flatten bool) (*Declarative, error) {
	top := map[string]any{}
	var items []*pending
	for _, k := range sortedKeys(cfg) {
		switch k {
		case "_format_version", "_transform", "_comment", "_ignore":
			continue
		}
		ent := s.Reg.ByName(k)
		list, ok := cfg[k].([]any)
		if ent == nil {
			top[k] = msgUnknown
			continue
		}
		if !ok {
			if m, isMap := cfg[k].(map[string]any); isMap && len(m) == 0 {
				continue
			}
			top[k] = typeMsg["array"]
			continue
		}
		items = s.collect(ent, list, nil, items)
	}
	if fv, ok := cfg["_format_version"].(string); !ok {
		top["_format_version"] = msgRequired
	} else if fv != "1.1" && fv != "2.1" && fv != "3.0" {
		top["_format_version"] = "expected one of: 1.1, 2.1, 3.0"
	}
	if len(top) > 0 {
		return nil, declarativeErr(top, nil)
	}
	// Resolve references given by endpoint key and generate missing ids.
	keyIndex := map[string]string{}
	for i, p := range items {
		if p.obj["id"] == nil {
			p.obj["id"] = generatedID(p.ent, p.obj, i)
		}
		if p.ent.EndpointKey != "" {
			if k, ok := p.obj[p.ent.EndpointKey].(string); ok {
				keyIndex[p.ent.Name+"|"+k] = fmt.Sprint(p.obj["id"])
			}
		}
	}
	for _, p := range items {
		for f, key := range p.refs {
			ref := p.ent.Field(f).Reference
			if id, ok := keyIndex[ref+"|"+key]; ok {
				p.obj[f] = map[string]any{"id": id}
			} else if IsUUID(key) {
				p.obj[f] = map[string]any{"id": key}
			}
		}
	}
	mem := NewMem()
	ld := &Store{Reg: s.Reg, Backend: mem, Plugin: s.Plugin, PluginTop: s.PluginTop, Now: s.Now}
	order := map[string]int{}
	for i, e := range s.Reg.List {
		order[e.Name] = i
	}
	sort.SliceStable(items, func(i, j int) bool { return order[items[i].ent.Name] < order[items[j].ent.Name] })
	fields := map[string]any{}
	var flat []any
	out := map[string]map[string]any{}
	for _, p := range items {
		obj, err := ld.importOne(ctx, p.ent, p.obj)
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				return nil, err
			}
			l, _ := fields[p.ent.Name].([]any)
			for len(l) <= p.index {
				l = append(l, nil)
			}
			l[p.index] = e.Fields
			fields[p.ent.Name] = l
			flat = append(flat, flattened(p.ent, p.obj, e))
			continue
		}
		if out[p.ent.Name] == nil {
			out[p.ent.Name] = map[string]any{}
		}
		out[p.ent.Name][obj["id"].(string)] = obj
	}
	if len(fields) > 0 {
		if !flatten {
			flat = nil
		}
		return nil, declarativeErr(fields, flat)
	}
	d := &Declarative{Backend: mem, Entities: out, Hash: EmptyConfigHash}
	if len(out) > 0 {
		b, _ := json.Marshal(out)
		sum := md5.Sum(b)
		d.Hash = hex.EncodeToString(sum[:])
	}
	return d, nil
}

func declarativeErr(fields map[string]any, flat []any) *Error {
	e := newErr(CodeDeclarative, "declarative config is invalid: "+luaPretty(fields), fields)
	if flat != nil {
		e.Extra = map[string]any{"flattened_errors": flat}
	}
	return e
}

// flattened is one entry of flattened_errors (K: kong/db/errors.lua
// declarative_config_flattened).
func flattened(ent *Entity, obj map[string]any, e *Error) map[string]any {
	var errs []any
	for _, k := range sortedKeys(e.Fields) {
		switch v := e.Fields[k].(type) {
		case []any:
			if k == "@entity" {
				for _, m := range v {
					errs = append(errs, map[string]any{"type": "entity", "message": m})
				}
				continue
			}
			for i, m := range v {
				if m != nil {
					errs = append(errs, map[string]any{"type": "field", "field": fmt.Sprintf("%s.%d", k, i), "message": plainOrPretty(m)})
				}
			}
		case map[string]any:
			for _, sk := range sortedKeys(v) {
				errs = append(errs, map[string]any{"type": "field", "field": k + "." + sk, "message": plainOrPretty(v[sk])})
			}
		default:
			errs = append(errs, map[string]any{"type": "field", "field": k, "message": fmt.Sprint(v)})
		}
	}
	entry := map[string]any{
		"entity_type": singular(ent.Name), "entity_id": obj["id"], "entity": obj, "errors": errs,
		"entity_tags": obj["tags"],
	}
	if ent.EndpointKey != "" {
		entry["entity_name"] = obj[ent.EndpointKey]
	}
	return entry
}

func singular(n string) string {
	if len(n) > 1 && n[len(n)-1] == 's' {
		return n[:len(n)-1]
	}
	return n
}

// collect walks a list of declarative entities, pulling nested children
// (routes under a service, credentials under a consumer, ...) out into
// their own items with the parent's foreign key set.
func (s *Store) collect(ent *Entity, list []any, parent *Parent, items []*pending) []*pending {
	children := s.Reg.Children(ent.Name)
	for i, raw := range list {
		obj, ok := raw.(map[string]any)
		if !ok {
			items = append(items, &pending{ent: ent, obj: map[string]any{"@invalid": raw}, index: i})
			continue
		}
		obj = copyObj(obj)
		p := &pending{ent: ent, obj: obj, refs: map[string]string{}, index: i}
		if parent != nil {
			obj[parent.Field] = map[string]any{"id": parent.ID}
		}
		for _, f := range ent.Foreign() {
			if key, ok := obj[f.Name].(string); ok {
				p.refs[f.Name] = key
				obj[f.Name] = map[string]any{"id": key}
			}
		}
		if obj["id"] == nil {
			obj["id"] = generatedID(ent, obj, len(items))
		}
		items = append(items, p)
		for _, c := range children {
			nestedKey := c.Name
			nl, ok := obj[nestedKey].([]any)
			if !ok {
				continue
			}
			delete(obj, nestedKey)
			for _, f := range c.Foreign() {
				if f.Reference == ent.Name {
					items = s.collect(c, nl, &Parent{Field: f.Name, ID: obj["id"].(string)}, items)
					break
				}
			}
		}
	}
	return items
}

func generatedID(ent *Entity, obj map[string]any, i int) string {
	key := ""
	if ent.EndpointKey != "" {
		key, _ = obj[ent.EndpointKey].(string)
	}
	if key == "" {
		b, _ := json.Marshal(obj)
		key = fmt.Sprintf("%d:%s", i, b)
	}
	return uuid.NewSHA1(declarativeNS, []byte(ent.Name+":"+key)).String()
}

// importOne validates and stores an entity of a declarative config,
// keeping the timestamps it carries.
func (s *Store) importOne(ctx context.Context, ent *Entity, obj map[string]any) (map[string]any, error) {
	obj = copyObj(normalize(ent, obj))
	now := float64(s.now())
	for _, f := range []string{"created_at", "updated_at"} {
		if ent.Field(f) != nil && obj[f] == nil {
			obj[f] = now
		}
	}
	s.fillAuto(ent, obj)
	if errs := complete(ent, obj, s.Plugin, s.PluginTop); errs != nil {
		return nil, SchemaViolation(errs)
	}
	if err := s.checkRefs(ctx, ent, obj); err != nil {
		return nil, err
	}
	if err := s.checkUnique(ctx, ent, obj); err != nil {
		return nil, err
	}
	return obj, s.be().Save(ctx, ent, obj)
}

// Export renders the node's entities as Kong's declarative config (GET
// /config, kong config db_export): flat lists per entity, foreign keys as
// ids, format 3.0 (2.1 before 3.0).
func (s *Store) Export(ctx context.Context) ([]byte, error) {
	out := map[string]any{"_transform": false}
	if s.Reg.Version.Major >= 3 {
		out["_format_version"] = "3.0"
	} else {
		out["_format_version"] = "2.1"
	}
	for _, ent := range s.Reg.List {
		rows, err := s.All(ctx, ent)
		if err != nil {
			return nil, err
		}
		if len(rows) == 0 {
			continue
		}
		l := make([]any, 0, len(rows))
		for _, r := range rows {
			for _, f := range ent.Foreign() {
				if id := refID(r[f.Name]); id != "" {
					r[f.Name] = id
				}
			}
			for k, v := range r {
				if v == nil {
					delete(r, k)
				}
			}
			l = append(l, r)
		}
		out[ent.Name] = l
	}
	return yaml.Marshal(out)
}
