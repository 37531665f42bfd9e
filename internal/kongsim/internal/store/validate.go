package store

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Kong's field validation messages (K: kong/db/schema/init.lua
// validation_errors).
const (
	msgRequired = "required field missing"
	msgUnknown  = "unknown field"
	msgUUID     = "expected a valid UUID"
)

var typeMsg = map[string]string{
	"string": "expected a string", "integer": "expected an integer", "number": "expected a number",
	"boolean": "expected a boolean", "array": "expected an array", "set": "expected a set",
	"map": "expected a map", "record": "expected a record", "foreign": "expected a record",
}

// PluginValidator validates and fills a plugin's config for the node's
// version (the plugins package's Validate). fieldErrs is the value of the
// error's "fields" key, e.g. {"config":{"whitelist":"unknown field"}}; err
// means the plugin is unknown or not enabled (reported under "name").
type PluginValidator func(name string, config map[string]any) (filled map[string]any, fieldErrs map[string]any, err error)

// PluginTop gives a plugin's top-level fields (the plugins package's
// Offer): Protocols is its protocols default, nil for the entity's; Check
// returns field errors of the plugin's own top-level fields.
type PluginTop interface {
	Protocols(name string) []any
	Check(name string, obj map[string]any) map[string]any
}

// normalize applies Kong's shorthands before validation (services.url)
// and reduces foreign references given as whole objects to their primary
// key, as Kong's Admin API does.
func normalize(ent *Entity, in map[string]any) map[string]any {
	for _, f := range ent.Foreign() {
		if m, ok := in[f.Name].(map[string]any); ok && len(m) > 1 {
			if id, ok := m["id"]; ok {
				cp := map[string]any{}
				for k, v := range in {
					cp[k] = v
				}
				cp[f.Name] = map[string]any{"id": id}
				in = cp
			}
		}
	}
	if ent.Name != "services" {
		return in
	}
	raw, ok := in["url"]
	if !ok {
		return in
	}
	out := map[string]any{}
	for k, v := range in {
		if k != "url" {
			out[k] = v
		}
	}
	s, _ := raw.(string)
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		out["url"] = raw // reported as unknown/invalid by validation
		return out
	}
	out["protocol"] = u.Scheme
	out["host"] = u.Hostname()
	if p := u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		out["port"] = float64(n)
	} else if u.Scheme == "https" || u.Scheme == "grpcs" || u.Scheme == "tls" || u.Scheme == "wss" {
		out["port"] = float64(443)
	} else {
		out["port"] = float64(80)
	}
	if u.Path != "" {
		out["path"] = u.Path
	} else {
		out["path"] = nil
	}
	return out
}

// complete fills defaults and nulls for every field of ent missing from obj,
// and validates all fields. It returns Kong's "fields" error map, or nil.
func complete(ent *Entity, obj map[string]any, plugin PluginValidator, top PluginTop) map[string]any {
	errs := map[string]any{}
	if ent.Name == "plugins" && top != nil && obj["protocols"] == nil {
		if name, _ := obj["name"].(string); name != "" {
			if def := top.Protocols(name); def != nil {
				obj["protocols"] = def
			}
		}
	}
	for k := range obj {
		if ent.Field(k) == nil {
			errs[k] = msgUnknown
		}
	}
	for _, f := range ent.Fields {
		v, present := obj[f.Name]
		if !present || v == nil {
			if f.Default != nil {
				v = deepCopy(f.Default)
			} else {
				v = nil
			}
			obj[f.Name] = v
		}
		if v == nil {
			if f.Required && !f.Auto {
				errs[f.Name] = msgRequired
			}
			continue
		}
		if e := checkValue(f, v); e != nil {
			errs[f.Name] = e
		}
	}
	if ent.Name == "plugins" && len(errs) == 0 && top != nil {
		name, _ := obj["name"].(string)
		for k, e := range top.Check(name, obj) {
			errs[k] = e
		}
	}
	if ent.Name == "plugins" && len(errs) == 0 && plugin != nil {
		name, _ := obj["name"].(string)
		cfg, _ := obj["config"].(map[string]any)
		if obj["config"] != nil && cfg == nil {
			errs["config"] = typeMsg["record"]
		} else {
			filled, ferrs, err := plugin(name, cfg)
			switch {
			case err != nil:
				errs["name"] = err.Error()
			case len(ferrs) > 0:
				for k, v := range ferrs { // already Kong's "fields" shape
					errs[k] = v
				}
			default:
				obj["config"] = filled
			}
		}
	}
	if len(errs) == 0 && ent.Check != nil {
		if msgs := ent.Check(obj); len(msgs) > 0 {
			l := make([]any, len(msgs))
			for i, m := range msgs {
				l[i] = m
			}
			errs["@entity"] = l
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// checkValue returns nil, a message string, or a nested error table.
func checkValue(f *Field, v any) any {
	switch f.Type {
	case "json":
		return nil
	case "string":
		s, ok := v.(string)
		if !ok {
			return typeMsg["string"]
		}
		if f.UUID {
			if _, err := uuid.Parse(s); err != nil {
				return msgUUID
			}
		}
		if s == "" {
			return "length must be at least 1"
		}
		if f.LenMin > 0 && len(s) < f.LenMin {
			return fmt.Sprintf("length must be at least %d", f.LenMin)
		}
		if len(f.Prefixes) > 0 {
			ok := false
			for _, p := range f.Prefixes {
				ok = ok || strings.HasPrefix(s, p)
			}
			if !ok {
				return f.PrefixErr
			}
		}
	case "integer", "number":
		n, ok := v.(float64)
		if !ok || (f.Type == "integer" && n != math.Trunc(n)) {
			return typeMsg[f.Type]
		}
		if f.Between != nil && (n < float64(f.Between[0]) || n > float64(f.Between[1])) {
			return fmt.Sprintf("value should be between %d and %d", f.Between[0], f.Between[1])
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return typeMsg["boolean"]
		}
	case "array", "set":
		l, ok := v.([]any)
		if !ok {
			if m, isMap := v.(map[string]any); isMap && len(m) == 0 {
				return nil // an empty JSON object is Lua's empty table
			}
			return typeMsg[f.Type]
		}
		if f.Elements != nil {
			var elemErrs []any
			bad := false
			for _, e := range l {
				var m any
				if e == nil {
					m = msgRequired
				} else {
					m = checkValue(f.Elements, e)
				}
				elemErrs = append(elemErrs, m)
				if m != nil {
					bad = true
				}
			}
			if bad {
				return elemErrs
			}
		}
	case "map", "record":
		if _, ok := v.(map[string]any); !ok {
			return typeMsg[f.Type]
		}
	case "foreign":
		m, ok := v.(map[string]any)
		if !ok {
			return typeMsg["foreign"]
		}
		for k := range m {
			if k != "id" {
				return map[string]any{k: msgUnknown}
			}
		}
		id, ok := m["id"].(string)
		if !ok {
			return map[string]any{"id": msgRequired}
		}
		if _, err := uuid.Parse(id); err != nil {
			return map[string]any{"id": msgUUID}
		}
	}
	if len(f.OneOf) > 0 {
		for _, o := range f.OneOf {
			if o == v {
				return nil
			}
		}
		parts := make([]string, len(f.OneOf))
		for i, o := range f.OneOf {
			parts[i] = luaPrettyBare(o)
		}
		return "expected one of: " + strings.Join(parts, ", ")
	}
	return nil
}

func luaPrettyBare(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return luaPretty(v)
}

func atLeastOneOf(fields ...string) func(map[string]any) []string {
	return func(e map[string]any) []string {
		for _, f := range fields {
			if !empty(e[f]) {
				return nil
			}
		}
		return []string{"at least one of these fields must be non-empty: " + quoteList(fields)}
	}
}

func quoteList(fields []string) string {
	q := make([]string, len(fields))
	for i, f := range fields {
		q[i] = "'" + f + "'"
	}
	return strings.Join(q, ", ")
}

func empty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return t == ""
	case []any:
		return len(t) == 0
	case map[string]any:
		return len(t) == 0
	}
	return false
}

func contains(l any, s string) bool {
	arr, _ := l.([]any)
	for _, e := range arr {
		if e == s {
			return true
		}
	}
	return false
}

// checkRoute is routes' conditional_at_least_one_of entity check
// (K: kong/db/schema/entities/routes.lua) plus the 3.x path prefix rule.
func checkRoute(e map[string]any) []string {
	var msgs []string
	switch {
	case contains(e["protocols"], "https"):
		f := []string{"methods", "hosts", "headers", "paths", "snis"}
		if empty(e["methods"]) && empty(e["hosts"]) && empty(e["headers"]) && empty(e["paths"]) && empty(e["snis"]) {
			msgs = append(msgs, "must set one of "+quoteList(f)+" when 'protocols' is 'https'")
		}
	case contains(e["protocols"], "http"):
		f := []string{"methods", "hosts", "headers", "paths"}
		if empty(e["methods"]) && empty(e["hosts"]) && empty(e["headers"]) && empty(e["paths"]) {
			msgs = append(msgs, "must set one of "+quoteList(f)+" when 'protocols' is 'http'")
		}
	}
	return msgs
}

func deepCopy(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
