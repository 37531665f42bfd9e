package plugins

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// kind is a Kong schema field type (kong/db/schema/init.lua).
type kind string

const (
	tString  kind = "string"
	tInteger kind = "integer"
	tNumber  kind = "number"
	tBoolean kind = "boolean"
	tArray   kind = "array"
	tSet     kind = "set"
	tRecord  kind = "record"
	tMap     kind = "map"
)

// Kong's validation messages (kong/db/schema/init.lua validation_errors).
const (
	msgRequired = "required field missing"
	msgUnknown  = "unknown field"
)

var typeMsg = map[kind]string{
	tString: "expected a string", tInteger: "expected an integer", tNumber: "expected a number",
	tBoolean: "expected a boolean", tArray: "expected an array", tSet: "expected a set",
	tRecord: "expected a record", tMap: "expected a map",
}

// field is one field of a plugin config schema. A nil default means the
// field is null when absent (Kong fills ngx.null), except records, which are
// filled from their own fields' defaults.
type field struct {
	name     string
	typ      kind
	def      any
	required bool
	oneOf    []string
	between  *[2]float64
	gt       *float64
	lenMin   int
	match    *regexp.Regexp // Lua pattern translated to RE2; message "invalid value: <value>"
	elements *field         // array and set
	fields   []*field       // record
	keys     *field         // map
	values   *field         // map
	// check is a custom validator returning Kong's message or "".
	check func(v any) string
	// noDefault keeps an absent record null instead of filling it (records
	// declared with required=false and no default in Kong).
	nullRecord bool
}

// shorthand is a deprecated config field that Kong translates into its new
// place (shorthand_fields in the schema). back is the new field's path,
// copied back into read responses from 3.6 (translate_backwards).
type shorthand struct {
	name string
	typ  kind
	path []string
	back bool
	// elem is the element type for array shorthands.
	elem kind
}

// entityCheck validates the whole config after the fields; it returns
// field errors (merged under "config") and "@entity" messages.
type entityCheck func(cfg map[string]any) (fieldErrs map[string]any, entity []string)

// plugin is one plugin's config schema at one version.
type plugin struct {
	name       string
	config     []*field
	shorthands []shorthand
	checks     []entityCheck
	// custom is the config record's custom_validator; its message becomes
	// the whole "config" error ({"config":"<message>"}).
	custom func(cfg map[string]any) string
	// top is the schema's other top-level fields (topLevelTables).
	top top
}

// builder for version-specific schemas.
type schemaFn func(v kongrelease.Version) *plugin

// validate checks config, translating shorthands and filling defaults.
func (p *plugin) validate(v kongrelease.Version, config map[string]any) (map[string]any, map[string]any, error) {
	in := map[string]any{}
	for k, val := range config {
		in[k] = val
	}
	errs := map[string]any{}
	// Shorthands first, as Kong's process_auto_fields does before validation.
	for _, sh := range p.shorthands {
		val, ok := in[sh.name]
		if !ok {
			continue
		}
		delete(in, sh.name)
		if val == nil {
			continue
		}
		if m := checkType(&field{typ: sh.typ, elements: &field{typ: sh.elem}}, val); m != nil {
			errs[sh.name] = m
			continue
		}
		setPath(in, sh.path, val)
	}
	rec := &field{name: "config", typ: tRecord, fields: p.config}
	out, ferr := validateRecord(rec, in)
	for k, e := range ferr {
		errs[k] = e
	}
	var entity []string
	if len(errs) == 0 && p.custom != nil {
		if m := p.custom(out); m != "" {
			return nil, map[string]any{"config": m}, nil
		}
	}
	if len(errs) == 0 {
		for _, c := range p.checks {
			fe, en := c(out)
			mergeErrs(errs, fe)
			entity = append(entity, en...)
		}
	}
	if len(errs) == 0 && len(entity) == 0 {
		return out, nil, nil
	}
	result := map[string]any{}
	if len(errs) > 0 {
		result["config"] = errs
	}
	if len(entity) > 0 {
		result["@entity"] = entity
	}
	return nil, result, nil
}

// forRead adds the translate_backwards shorthands to a stored config.
func (p *plugin) forRead(cfg map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range cfg {
		out[k] = v
	}
	for _, sh := range p.shorthands {
		if !sh.back {
			continue
		}
		out[sh.name] = getPath(cfg, sh.path)
	}
	return out
}

func setPath(m map[string]any, path []string, val any) {
	for i, p := range path {
		if i == len(path)-1 {
			m[p] = val
			return
		}
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
}

func getPath(m map[string]any, path []string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

// validateRecord validates a record value and returns it filled with
// defaults, or the field errors keyed by field name.
func validateRecord(rec *field, in map[string]any) (map[string]any, map[string]any) {
	errs := map[string]any{}
	known := map[string]*field{}
	for _, f := range rec.fields {
		known[f.name] = f
	}
	for k := range in {
		if _, ok := known[k]; !ok {
			errs[k] = msgUnknown
		}
	}
	out := map[string]any{}
	for _, f := range rec.fields {
		val, present := in[f.name]
		if !present || val == nil {
			d := defaultOf(f)
			if f.required && d == nil {
				errs[f.name] = msgRequired
				continue
			}
			out[f.name] = d
			continue
		}
		filled, e := validateValue(f, val)
		if e != nil {
			errs[f.name] = e
			continue
		}
		out[f.name] = filled
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// defaultOf is the value Kong stores for an absent field.
func defaultOf(f *field) any {
	if f.def != nil {
		return cloneJSON(f.def)
	}
	if f.typ == tRecord && !f.nullRecord {
		out, _ := validateRecord(f, map[string]any{})
		return out
	}
	return nil
}

func cloneJSON(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneJSON(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = cloneJSON(e)
		}
		return out
	case int:
		return float64(x)
	}
	return v
}

// checkType returns Kong's type error for val, or nil.
func checkType(f *field, val any) any {
	ok := true
	switch f.typ {
	case tString:
		_, ok = val.(string)
	case tBoolean:
		_, ok = val.(bool)
	case tNumber:
		_, ok = toFloat(val)
	case tInteger:
		n, isNum := toFloat(val)
		ok = isNum && n == math.Trunc(n)
	case tArray, tSet:
		_, ok = val.([]any)
		if !ok {
			// Kong accepts an empty object as an empty array (cjson decodes {} and [] alike).
			if m, isMap := val.(map[string]any); isMap && len(m) == 0 {
				ok = true
			}
		}
	case tRecord, tMap:
		_, ok = val.(map[string]any)
	}
	if !ok {
		return typeMsg[f.typ]
	}
	return nil
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// validateValue validates a present, non-null value and returns it
// normalised (defaults filled in nested records) or its error.
func validateValue(f *field, val any) (any, any) {
	if m := checkType(f, val); m != nil {
		return nil, m
	}
	switch f.typ {
	case tRecord:
		out, errs := validateRecord(f, val.(map[string]any))
		if errs != nil {
			return nil, errs
		}
		if f.check != nil {
			if m := f.check(out); m != "" {
				return nil, m
			}
		}
		return out, nil
	case tArray, tSet:
		arr, _ := val.([]any)
		if f.lenMin > 0 && len(arr) < f.lenMin {
			return nil, fmt.Sprintf("length must be at least %d", f.lenMin)
		}
		out := make([]any, 0, len(arr))
		elemErrs := map[int]any{}
		seen := map[string]bool{}
		for i, e := range arr {
			if f.elements == nil {
				out = append(out, e)
				continue
			}
			if e == nil {
				elemErrs[i] = msgRequired
				continue
			}
			ev, ee := validateValue(f.elements, e)
			if ee != nil {
				elemErrs[i] = ee
				continue
			}
			if f.typ == tSet {
				k := fmt.Sprint(ev)
				if seen[k] {
					continue // Kong drops duplicates in sets
				}
				seen[k] = true
			}
			out = append(out, ev)
		}
		if len(elemErrs) > 0 {
			return nil, positional(elemErrs)
		}
		return out, nil
	case tMap:
		m := val.(map[string]any)
		if f.lenMin > 0 && len(m) < f.lenMin {
			return nil, fmt.Sprintf("length must be at least %d", f.lenMin)
		}
		out := map[string]any{}
		errs := map[string]any{}
		for k, e := range m {
			if f.keys != nil {
				if ke := validateScalar(f.keys, k); ke != nil {
					errs[k] = ke
					continue
				}
			}
			if f.values != nil {
				if e == nil {
					errs[k] = msgRequired
					continue
				}
				ev, ee := validateValue(f.values, e)
				if ee != nil {
					errs[k] = ee
					continue
				}
				e = ev
			}
			out[k] = e
		}
		if len(errs) > 0 {
			return nil, errs
		}
		return out, nil
	}
	if e := validateScalar(f, val); e != nil {
		return nil, e
	}
	if f.typ == tInteger || f.typ == tNumber {
		n, _ := toFloat(val)
		return n, nil
	}
	return val, nil
}

// validateScalar applies the value constraints of a scalar field.
func validateScalar(f *field, val any) any {
	if m := checkType(f, val); m != nil {
		return m
	}
	if s, ok := val.(string); ok {
		if f.lenMin > 0 && len(s) < f.lenMin {
			return fmt.Sprintf("length must be at least %d", f.lenMin)
		}
		if len(f.oneOf) > 0 && !contains(f.oneOf, s) {
			return "expected one of: " + strings.Join(f.oneOf, ", ")
		}
		if f.match != nil && !f.match.MatchString(s) {
			return "invalid value: " + s
		}
	}
	if n, ok := toFloat(val); ok {
		if f.between != nil && (n < f.between[0] || n > f.between[1]) {
			return fmt.Sprintf("value should be between %d and %d", int64(f.between[0]), int64(f.between[1]))
		}
		if f.gt != nil && n <= *f.gt {
			return fmt.Sprintf("value must be greater than %v", *f.gt)
		}
	}
	if f.check != nil {
		if m := f.check(val); m != "" {
			return m
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// positional renders per-element errors as cjson encodes a Lua table keyed
// by position: a JSON array (nulls for valid elements) when the table is not
// excessively sparse (cjson's default encode_sparse_array: ratio 2, safe 10),
// else an object keyed by 1-based position.
func positional(errs map[int]any) any {
	maxIdx := 0
	for i := range errs {
		if i+1 > maxIdx {
			maxIdx = i + 1
		}
	}
	if maxIdx <= 10 || maxIdx <= 2*len(errs) {
		out := make([]any, maxIdx)
		for i, e := range errs {
			out[i] = e
		}
		return out
	}
	out := map[string]any{}
	for i, e := range errs {
		out[fmt.Sprint(i+1)] = e
	}
	return out
}

// sortedNames returns a map's keys in order (for stable messages).
func sortedNames(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// mergeErrs merges nested field errors from src into dst.
func mergeErrs(dst, src map[string]any) {
	for k, v := range src {
		sm, sok := v.(map[string]any)
		dm, dok := dst[k].(map[string]any)
		if sok && dok {
			mergeErrs(dm, sm)
			continue
		}
		dst[k] = v
	}
}
