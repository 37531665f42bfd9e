package store

// SchemaJSON renders an entity schema as GET /schemas/<entity> does:
// {"fields":[{"<name>":{"type":...,"default":...}}, ...]}. go-kong reads the
// defaults from it to fill entities before a sync (FillEntityDefaults).
func SchemaJSON(ent *Entity) map[string]any {
	fields := make([]any, 0, len(ent.Fields))
	for _, f := range ent.Fields {
		fields = append(fields, map[string]any{f.Name: fieldJSON(f)})
	}
	out := map[string]any{"fields": fields}
	if ent.EndpointKey != "" {
		out["endpoint_key"] = ent.EndpointKey
	}
	return out
}

func fieldJSON(f *Field) map[string]any {
	m := map[string]any{"type": f.Type}
	if f.Type == "json" {
		m["type"] = "record"
		if d, ok := f.Default.(map[string]any); ok {
			return recordFromDefault(d)
		}
		m["fields"] = []any{}
	}
	if f.Required {
		m["required"] = true
	}
	if f.Default != nil {
		m["default"] = f.Default
	}
	if f.Auto {
		m["auto"] = true
	}
	if f.UUID {
		m["uuid"] = true
	}
	if f.Timestamp {
		m["timestamp"] = true
	}
	if f.Unique {
		m["unique"] = true
	}
	if len(f.OneOf) > 0 {
		m["one_of"] = f.OneOf
	}
	if f.Between != nil {
		m["between"] = []any{f.Between[0], f.Between[1]}
	}
	if f.Elements != nil {
		m["elements"] = fieldJSON(f.Elements)
	}
	if f.Reference != "" {
		m["reference"] = f.Reference
		if f.Cascade {
			m["on_delete"] = "cascade"
		}
	}
	return m
}

// recordFromDefault describes a nested record whose leaves carry the
// defaults of d (upstreams.healthchecks).
func recordFromDefault(d map[string]any) map[string]any {
	var fields []any
	for _, k := range sortedKeys(d) {
		var fm map[string]any
		switch v := d[k].(type) {
		case map[string]any:
			fm = recordFromDefault(v)
		case []any:
			fm = map[string]any{"type": "array", "default": v}
		case bool:
			fm = map[string]any{"type": "boolean", "default": v}
		case float64:
			fm = map[string]any{"type": "number", "default": v}
		case string:
			fm = map[string]any{"type": "string", "default": v}
		default:
			fm = map[string]any{"type": "string"}
		}
		fields = append(fields, map[string]any{k: fm})
	}
	return map[string]any{"type": "record", "fields": fields, "default": d}
}

// Validate runs a create's validation without writing (POST
// /schemas/<entity>/validate).
func (s *Store) Validate(ent *Entity, in map[string]any) error {
	obj := copyObj(normalize(ent, in))
	s.fillAuto(ent, obj)
	for _, f := range ent.Fields {
		if f.Auto && obj[f.Name] == nil && (f.Name == "id" || f.Timestamp) {
			delete(obj, f.Name)
		}
	}
	errs := complete(ent, obj, s.Plugin, s.PluginTop)
	for _, f := range ent.Fields {
		if f.Auto && f.Required {
			delete(errs, f.Name)
		}
	}
	if len(errs) > 0 {
		return SchemaViolation(errs)
	}
	return nil
}
