package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Content is a decK file (a dump of X, or a source file kept in Git) as
// generic maps, with its entities indexed wherever the file nests them:
// routes under services and at the top level, plugins under services,
// routes and consumers and at the top level. decK's `file convert` walks
// only services[].routes (kong-breaking-changes.md, DECK); the rules see
// every route.
type Content struct {
	Raw          map[string]any
	Services     []Entity
	Routes       []Entity
	Plugins      []Entity
	Consumers    []Entity
	Upstreams    []Entity
	Certificates []Entity // certificates and ca_certificates
}

// Entity is one entity of a Content: its kind, where the file holds it
// (services[billing].routes[login]), its name (or id), its fields, and for
// plugins the entity it is scoped to.
type Entity struct {
	Kind  string
	Where string
	Name  string
	Obj   map[string]any
}

// Parse reads a decK file, YAML or JSON.
func Parse(data []byte) (*Content, error) {
	var raw map[string]any
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		// JSON is also YAML, but encoding/json is several times faster on
		// a large dump.
		if err := json.Unmarshal(t, &raw); err != nil {
			return nil, fmt.Errorf("decK file: %w", err)
		}
	} else if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decK file: %w", err)
	}
	if raw == nil {
		raw = map[string]any{}
	}
	return FromMap(raw), nil
}

// FromMap indexes a decK file already decoded into generic maps.
func FromMap(raw map[string]any) *Content {
	c := &Content{Raw: raw}
	for _, s := range objects(raw["services"]) {
		svc := c.add(&c.Services, "service", "services", s)
		for _, r := range objects(s["routes"]) {
			rt := c.add(&c.Routes, "route", svc.Where+".routes", r)
			c.plugins(rt.Where, r)
		}
		c.plugins(svc.Where, s)
	}
	for _, r := range objects(raw["routes"]) {
		rt := c.add(&c.Routes, "route", "routes", r)
		c.plugins(rt.Where, r)
	}
	for _, cs := range objects(raw["consumers"]) {
		e := c.add(&c.Consumers, "consumer", "consumers", cs)
		c.plugins(e.Where, cs)
	}
	c.plugins("", raw)
	for _, u := range objects(raw["upstreams"]) {
		c.add(&c.Upstreams, "upstream", "upstreams", u)
	}
	for _, k := range []string{"certificates", "ca_certificates"} {
		for _, ct := range objects(raw[k]) {
			c.add(&c.Certificates, strings.TrimSuffix(k, "s"), k, ct)
		}
	}
	return c
}

func (c *Content) plugins(parent string, obj map[string]any) {
	where := "plugins"
	if parent != "" {
		where = parent + ".plugins"
	}
	for _, p := range objects(obj["plugins"]) {
		c.add(&c.Plugins, "plugin", where, p)
	}
}

func (c *Content) add(list *[]Entity, kind, where string, obj map[string]any) Entity {
	name := str(obj["name"])
	switch {
	case kind == "consumer":
		name = first(str(obj["username"]), str(obj["custom_id"]), str(obj["id"]))
	case kind == "plugin":
		// A plugin's name is its type: it is told apart by id.
		if id := str(obj["id"]); id != "" {
			where += "[" + name + " " + id + "]"
		} else {
			where += "[" + name + "]"
		}
		e := Entity{Kind: kind, Where: where, Name: name, Obj: obj}
		*list = append(*list, e)
		return e
	case name == "":
		name = str(obj["id"])
	}
	label := name
	if label == "" {
		label = fmt.Sprint(len(*list))
	}
	e := Entity{Kind: kind, Where: where + "[" + label + "]", Name: name, Obj: obj}
	*list = append(*list, e)
	return e
}

func first(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// PluginsNamed returns the plugins of type name.
func (c *Content) PluginsNamed(names ...string) []Entity {
	var out []Entity
	for _, p := range c.Plugins {
		for _, n := range names {
			if p.Name == n {
				out = append(out, p)
			}
		}
	}
	return out
}

// PluginCounts is the number of plugin rows per plugin name: what
// predicts a slow migration of a plugin's table.
func (c *Content) PluginCounts() map[string]int {
	out := map[string]int{}
	for _, p := range c.Plugins {
		out[p.Name]++
	}
	return out
}

// PluginNames is the sorted names of the plugins in use.
func (c *Content) PluginNames() []string {
	counts := c.PluginCounts()
	out := make([]string, 0, len(counts))
	for n := range counts {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Entities counts every entity indexed.
func (c *Content) Entities() int {
	return len(c.Services) + len(c.Routes) + len(c.Plugins) + len(c.Consumers) + len(c.Upstreams) + len(c.Certificates)
}

// Config returns a plugin's config (an empty map when it has none).
func Config(e Entity) map[string]any {
	if m, ok := e.Obj["config"].(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

func objects(v any) []map[string]any {
	list, _ := v.([]any)
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func strs(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// present reports whether m has key k with a value that is not null.
func present(m map[string]any, k string) bool {
	v, ok := m[k]
	return ok && v != nil
}

func num(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}
