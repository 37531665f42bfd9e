package plugins

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/form"
)

// Info is one entry of GET / plugins.available_on_server.
type Info struct {
	Version  string `json:"version,omitempty"` // empty for a custom plugin
	Priority int    `json:"priority"`
}

// NotEnabledError is returned by Validate for a plugin name this version does
// not bundle. Kong reports it as a schema violation on the plugin's "name"
// field with this message (kong/db/schema/plugin_loader.lua).
type NotEnabledError struct{ Name string }

func (e *NotEnabledError) Error() string {
	return fmt.Sprintf("plugin '%s' not enabled; add it to the 'plugins' configuration property", e.Name)
}

// Available lists the plugins bundled with Kong version v, with each one's
// version and priority, as GET / reports them in available_on_server.
func Available(v kongrelease.Version) map[string]Info {
	out := map[string]Info{}
	for name, b := range bundled(v) {
		out[name] = Info{Version: b.version(v), Priority: b.Priority}
	}
	return out
}

// Names is the sorted list of plugin names bundled with v (a data plane's
// plugin list in hybrid mode).
func Names(v kongrelease.Version) []string {
	var names []string
	for name := range bundled(v) {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Validate checks a plugin's config against version v's schema and fills in
// the defaults. config may be nil (Kong treats a missing config as {}).
//
// filled is the config as Kong stores it: every field of the schema present,
// defaults filled, shorthand fields translated. fieldErrs is non-nil when
// the config violates the schema; it is the value of the "fields" key of
// Kong's schema-violation error, e.g. {"config":{"whitelist":"unknown field"}}
// or {"@entity":["..."]} for entity checks. err is non-nil only when the
// plugin is not bundled with v (a *NotEnabledError).
//
// A bundled plugin whose schema kongsim does not model is accepted with its
// config returned unchanged (see FIDELITY).
func Validate(v kongrelease.Version, name string, config map[string]any) (filled map[string]any, fieldErrs map[string]any, err error) {
	if _, ok := bundled(v)[name]; !ok {
		return nil, nil, &NotEnabledError{Name: name}
	}
	s := lookup(v, name)
	if s == nil {
		return config, nil, nil
	}
	return s.validate(v, config)
}

// Schema returns the body of GET /schemas/plugins/<name> for version v:
// {"fields":[...]} in Kong's shape: the top-level fields the plugin's
// schema.lua declares, then the config record's fields and their defaults. ok is false for a plugin not bundled with v.
func Schema(v kongrelease.Version, name string) (body json.RawMessage, ok bool) {
	if _, ok := bundled(v)[name]; !ok {
		return nil, false
	}
	s := lookup(v, name)
	if s == nil {
		// Not modelled: the top-level fields, and config with no fields.
		s = &plugin{name: name, top: topOf(v, name)}
	}
	b, err := json.Marshal(s.schemaJSON(v))
	if err != nil {
		return nil, false
	}
	return b, true
}

// ConfigField is the config record of plugin name at v for coercing
// form-encoded arguments (form.Infer); nil when kongsim does not model the
// plugin's schema.
func ConfigField(v kongrelease.Version, name string) form.Field {
	s := lookup(v, name)
	if s == nil {
		return nil
	}
	return &formField{f: &field{name: "config", typ: tRecord, fields: s.config}, shorthands: s.shorthands}
}

// formField adapts a config field to form.Field.
type formField struct {
	f          *field
	shorthands []shorthand // the config record's shorthand fields
}

func (x *formField) Type() string { return string(x.f.typ) }

func (x *formField) Elements() form.Field {
	if x.f.elements == nil {
		return nil
	}
	return &formField{f: x.f.elements}
}

func (x *formField) Values() form.Field {
	if x.f.values == nil {
		return nil
	}
	return &formField{f: x.f.values}
}

func (x *formField) Sub(name string) form.Field {
	for _, c := range x.f.fields {
		if c.name == name {
			return &formField{f: c}
		}
	}
	for _, sh := range x.shorthands {
		if sh.name == name {
			return &formField{f: &field{typ: sh.typ, elements: &field{typ: sh.elem}}}
		}
	}
	return nil
}
