package plugins

import "github.com/upshift-dev/upshift/kongrelease"

// schemaJSON renders GET /schemas/plugins/<name>: {"fields":[...]} where each
// element is a one-key object {name: {type, default, required, fields...}}
// as Kong's kong/api/api_helpers.lua schema serialisation produces it.
// go-database-reconciler reads config defaults from
// fields[].config.fields[].<name>.default.
func (p *plugin) schemaJSON(v kongrelease.Version) map[string]any {
	var cfg []*field
	if p != nil {
		cfg = p.config
	}
	protocols := []any{"grpc", "grpcs", "http", "https"}
	if p != nil && p.protocols != nil {
		protocols = nil
		for _, s := range p.protocols {
			protocols = append(protocols, s)
		}
	}
	consumer := map[string]any{"type": "foreign", "reference": "consumers", "eq": nil, "default": nil, "on_delete": "cascade"}
	if p == nil || !p.noConsumer {
		delete(consumer, "eq")
	}
	fields := []any{
		map[string]any{"consumer": consumer},
		map[string]any{"protocols": map[string]any{"type": "set", "required": true, "default": protocols,
			"elements": map[string]any{"type": "string", "one_of": []any{"grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss"}}}},
		map[string]any{"config": fieldJSON(&field{typ: tRecord, fields: cfg, required: true})},
	}
	return map[string]any{"fields": fields}
}

func fieldJSON(f *field) map[string]any {
	out := map[string]any{"type": string(f.typ)}
	if f.required {
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
