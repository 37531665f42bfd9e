package plugins

import "github.com/upshift-dev/upshift/internal/kongrelease"

// schemas maps a plugin name to its schema builder. Plugins absent here are
// still bundled (Available lists them) but their configs are not validated.
var schemas = map[string]schemaFn{}

func register(name string, fn schemaFn) { schemas[name] = fn }

// lookup returns the schema of a plugin at v, or nil when not modelled.
func lookup(v kongrelease.Version, name string) *plugin {
	fn, ok := schemas[name]
	if !ok {
		return nil
	}
	p := fn(v)
	p.name = name
	p.top = topOf(v, name)
	return p
}

// ForRead returns a stored config as Kong's Admin API returns it on reads:
// from 3.6 the deprecated shorthand fields that carry translate_backwards
// (rate-limiting's redis_host...) are copied back from their new place
// (kong/db/schema/init.lua process_auto_fields, "select" context). Configs of
// plugins kongsim does not model come back unchanged.
func ForRead(v kongrelease.Version, name string, config map[string]any) map[string]any {
	p := lookup(v, name)
	if p == nil || config == nil || !v.AtLeast(3, 6, 0) {
		return config
	}
	return p.forRead(config)
}
