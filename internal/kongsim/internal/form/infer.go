package form

// Field is what coercion needs of a schema field (K: kong/db/schema).
type Field interface {
	// Type is Kong's field type: string, number, integer, boolean, array,
	// set, map, record or foreign; anything else is left alone.
	Type() string
	// Elements is an array's or set's element field (nil: not coerced).
	Elements() Field
	// Values is a map's value field (nil: not coerced).
	Values() Field
	// Sub is a record's field or shorthand field, or a field of the schema
	// a foreign key references; nil when unknown.
	Sub(name string) Field
}

// Infer coerces decoded form arguments in place by the schema's top-level
// fields, as kong/api/arguments.lua infer does: only the fields the schema
// (for plugins: the plugin's subschema, chosen by name) declares; unknown
// keys stay strings for validation to refuse.
func Infer(args map[string]any, schema Field) {
	if schema == nil {
		return
	}
	for k, v := range args {
		if v == nil || v == false {
			continue
		}
		if f := schema.Sub(k); f != nil {
			args[k] = inferValue(v, f)
		}
	}
}

// inferValue is arguments.lua infer_value: "" is null; numbers and
// integers go through tonumber (a string that is not a number stays, for
// validation to refuse); "true"/"false" are booleans; a single value for
// an array or set is a one-element array; records, maps and foreign keys
// are coerced field by field.
func inferValue(v any, f Field) any {
	if v == nil || v == false || f == nil {
		return v
	}
	if v == "" {
		return nil
	}
	switch f.Type() {
	case "number", "integer":
		if s, ok := v.(string); ok {
			if n, ok := luaNumber(s); ok {
				return n
			}
		}
	case "boolean":
		switch v {
		case "true":
			return true
		case "false":
			return false
		}
	case "array", "set":
		switch l := v.(type) {
		case []any:
			for i, e := range l {
				l[i] = inferValue(e, f.Elements())
			}
		case map[string]any:
			// A Lua table that is not a sequence: ipairs sees nothing.
		default:
			return []any{inferValue(v, f.Elements())}
		}
	case "foreign":
		if m, ok := v.(map[string]any); ok {
			Infer(m, f)
		}
	case "map":
		if m, ok := v.(map[string]any); ok {
			for k, e := range m {
				m[k] = inferValue(e, f.Values())
			}
		}
	case "record":
		if m, ok := v.(map[string]any); ok {
			for k, e := range m {
				if sub := f.Sub(k); sub != nil {
					m[k] = inferValue(e, sub)
				}
			}
		}
	}
	return v
}
