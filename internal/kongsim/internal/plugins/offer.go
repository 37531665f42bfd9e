package plugins

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// Offer is a node's kong.conf `plugins` setting resolved against a
// version: the plugins the node loads (K: kong/conf_loader/init.lua
// "merge plugins": `bundled` adds every bundled plugin, `off` first loads
// none, any other name is loaded as it is). A loaded name that is not
// bundled with the version is a custom plugin: kongsim accepts any config
// for it.
type Offer struct {
	v      kongrelease.Version
	loaded map[string]bool
}

// NewOffer resolves a plugins setting; nil or empty is Kong's default,
// `bundled`. Entries are trimmed; empty ones are ignored.
func NewOffer(v kongrelease.Version, setting []string) *Offer {
	o := &Offer{v: v, loaded: map[string]bool{}}
	var names []string
	for _, s := range setting {
		if s = strings.TrimSpace(s); s != "" {
			names = append(names, s)
		}
	}
	if len(names) == 0 {
		names = []string{"bundled"}
	}
	if names[0] == "off" {
		return o
	}
	for _, n := range names {
		switch n {
		case "off":
		case "bundled":
			for b := range bundled(v) {
				o.loaded[b] = true
			}
		default:
			o.loaded[n] = true
		}
	}
	return o
}

// custom reports a loaded plugin that the version does not bundle.
func (o *Offer) custom(name string) bool {
	_, isBundled := bundled(o.v)[name]
	return o.loaded[name] && !isBundled
}

// Available is GET / plugins.available_on_server: bundled plugins with
// their version and priority; a custom one with priority 0 and no version
// (kongsim has no handler to read them from).
func (o *Offer) Available() map[string]Info {
	out := map[string]Info{}
	b := bundled(o.v)
	for name := range o.loaded {
		if p, ok := b[name]; ok {
			out[name] = Info{Version: p.version(o.v), Priority: p.Priority}
			continue
		}
		out[name] = Info{}
	}
	return out
}

// Names is the sorted list of loaded plugins.
func (o *Offer) Names() []string {
	names := make([]string, 0, len(o.loaded))
	for n := range o.loaded {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Validate is the package's Validate for a loaded plugin: a name not
// loaded is a *NotEnabledError, a custom plugin's config is accepted as
// given, and none is {} (Kong fills a config record with no required
// fields; plugins.config is NOT NULL).
func (o *Offer) Validate(name string, config map[string]any) (map[string]any, map[string]any, error) {
	if !o.loaded[name] {
		return nil, nil, &NotEnabledError{Name: name}
	}
	if o.custom(name) {
		if config == nil {
			config = map[string]any{}
		}
		return config, nil, nil
	}
	return Validate(o.v, name, config)
}

// Schema is GET /schemas/plugins/<name> for a loaded plugin. A custom
// plugin's schema is kongsim's stand-in: protocols as typedefs.protocols_http
// and a config record with no declared fields.
func (o *Offer) Schema(name string) (json.RawMessage, bool) {
	if !o.loaded[name] {
		return nil, false
	}
	if o.custom(name) {
		b, err := json.Marshal((&plugin{name: name, top: parseTop("protocols_http")}).schemaJSON(o.v))
		return b, err == nil
	}
	return Schema(o.v, name)
}

// Protocols is the default of a loaded plugin's protocols field (nil:
// the plugins entity's own default applies).
func (o *Offer) Protocols(name string) []any {
	if o.custom(name) {
		return toAny(httpProtocols)
	}
	return Protocols(o.v, name)
}

// Loaded reports whether the node loads the named plugin.
func (o *Offer) Loaded(name string) bool { return o.loaded[name] }

// Check is the store's check of a loaded plugin's own top-level fields.
func (o *Offer) Check(name string, obj map[string]any) map[string]any {
	switch {
	case !o.loaded[name]:
		return nil
	case o.custom(name):
		return parseTop("protocols_http").check(obj)
	}
	return topOf(o.v, name).check(obj)
}
