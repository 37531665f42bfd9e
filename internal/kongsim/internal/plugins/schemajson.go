package plugins

import "github.com/upshift-dev/upshift/internal/kongrelease"

// schemaJSON renders GET /schemas/plugins/<name>: {"fields":[...]}: the
// top-level fields the plugin's schema.lua declares (consumer, protocols...)
// then config; each
// element is a one-key object {name: {type, default, required, fields...}}
// as Kong's kong/api/api_helpers.lua schema serialisation produces it.
// go-database-reconciler reads config defaults from
// fields[].config.fields[].<name>.default.
func (p *plugin) schemaJSON(v kongrelease.Version) map[string]any {
	var fields []any
	cfg := &field{typ: tRecord, required: true}
	if p != nil {
		fields = p.top.json()
		cfg.fields = p.config
	}
	c := fieldJSON(cfg)
	if p != nil {
		var shs []any
		for _, sh := range p.shorthands {
			d := map[string]any{"type": string(sh.typ)}
			if sh.back && v.AtLeast(3, 6, 0) {
				var path []any
				for _, e := range sh.path {
					path = append(path, e)
				}
				d["translate_backwards"] = path
				d["deprecation"] = map[string]any{"removal_in_version": "4.0", "replaced_with": []any{map[string]any{"path": path}}}
			}
			shs = append(shs, map[string]any{sh.name: d})
		}
		if shs != nil {
			c["shorthand_fields"] = shs
		}
	}
	fields = append(fields, map[string]any{"config": c})
	return map[string]any{"fields": fields}
}

func fieldJSON(f *field) map[string]any {
	out := map[string]any{"type": string(f.typ)}
	// Records are required unless declared otherwise (kong/db/schema/entity.lua
	// make_records_required), so their defaults show in full.
	if f.required || (f.typ == tRecord && !f.nullRecord) {
		out["required"] = true
	}
	if f.def != nil {
		out["default"] = cloneJSON(f.def)
	}
	if len(f.oneOf) > 0 {
		var l []any
		for _, s := range f.oneOf {
			l = append(l, s)
		}
		out["one_of"] = l
	}
	if f.between != nil {
		out["between"] = []any{f.between[0], f.between[1]}
	}
	if f.gt != nil {
		out["gt"] = *f.gt
	}
	if f.lenMin > 0 {
		out["len_min"] = f.lenMin
	}
	if f.elements != nil {
		out["elements"] = fieldJSON(f.elements)
	}
	if f.keys != nil {
		out["keys"] = fieldJSON(f.keys)
	}
	if f.values != nil {
		out["values"] = fieldJSON(f.values)
	}
	if f.typ == tRecord {
		var fs []any
		for _, c := range f.fields {
			fs = append(fs, map[string]any{c.name: fieldJSON(c)})
		}
		if fs == nil {
			fs = []any{}
		}
		out["fields"] = fs
	}
	return out
}
