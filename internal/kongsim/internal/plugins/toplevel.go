package plugins

import (
	"fmt"
	"strings"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// Protocol lists of kong/constants.lua (protocols_with_subsystem, sorted)
// and typedefs.lua (http_protocols: those of the http subsystem).
var (
	allProtocols  = []string{"grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp"}
	httpProtocols = []string{"grpc", "grpcs", "http", "https"}
)

// top is a plugin schema's top-level fields other than config.
type top struct {
	order []string // field names in declaration order
	// noConsumer, noService, noRoute: typedefs.no_* (eq = null).
	noConsumer, noService, noRoute bool
	// protocols: nil when the schema declares none (the plugins entity's
	// field applies); def is its default, oneOf its elements' one_of.
	protocols *protocolsField
}

type protocolsField struct{ def, oneOf []string }

// parseTop reads one entry of topLevelTables.
func parseTop(spec string) top {
	var t top
	for _, tok := range strings.Fields(spec) {
		switch {
		case tok == "consumer":
			t.noConsumer = true
		case tok == "service":
			t.noService = true
		case tok == "route":
			t.noRoute = true
		case tok == "protocols_http":
			t.protocols = &protocolsField{def: httpProtocols, oneOf: httpProtocols}
		case tok == "protocols":
			t.protocols = &protocolsField{def: httpProtocols, oneOf: allProtocols}
		case strings.HasPrefix(tok, "protocols="):
			t.protocols = &protocolsField{def: strings.Split(strings.TrimPrefix(tok, "protocols="), ","), oneOf: allProtocols}
		default:
			continue
		}
		t.order = append(t.order, strings.SplitN(strings.TrimSuffix(tok, "_http"), "=", 2)[0])
	}
	return t
}

// topOf is the top-level fields of a bundled plugin at v (the table of v's
// series, as bundled() picks it).
func topOf(v kongrelease.Version, name string) top {
	key := fmt.Sprintf("%d.%d", v.Major, v.Minor)
	t, ok := topLevelTables[key]
	if !ok {
		if v.Compare(kongrelease.Version{Major: 2, Minor: 8}) < 0 {
			t = topLevelTables["2.8"]
		} else {
			t = topLevelTables["3.10"]
		}
	}
	return parseTop(t[name])
}

func toAny(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}

// Protocols is the default of a bundled plugin's own protocols field at
// v, nil when its schema declares none.
func Protocols(v kongrelease.Version, name string) []any {
	if t := topOf(v, name); t.protocols != nil {
		return toAny(t.protocols.def)
	}
	return nil
}

// check validates a plugin entity's fields that the plugin's schema
// redeclares: typedefs.no_* ("value must be null") and its protocols'
// one_of, per element as Kong reports a set.
func (t top) check(obj map[string]any) map[string]any {
	errs := map[string]any{}
	for f, no := range map[string]bool{"consumer": t.noConsumer, "service": t.noService, "route": t.noRoute} {
		if no && obj[f] != nil {
			errs[f] = "value must be null"
		}
	}
	if t.protocols != nil {
		if l, ok := obj["protocols"].([]any); ok {
			elemErrs := make([]any, len(l))
			bad := false
			for i, e := range l {
				s, _ := e.(string)
				if !contains(t.protocols.oneOf, s) {
					elemErrs[i] = "expected one of: " + strings.Join(t.protocols.oneOf, ", ")
					bad = true
				}
			}
			if bad {
				errs["protocols"] = elemErrs
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// json renders the top-level fields as schema_to_jsonable does.
func (t top) json() []any {
	var out []any
	for _, name := range t.order {
		switch name {
		case "consumer", "service", "route":
			out = append(out, map[string]any{name: map[string]any{"type": "foreign", "reference": name + "s", "eq": nil}})
		case "protocols":
			out = append(out, map[string]any{"protocols": map[string]any{"type": "set", "required": true,
				"default": toAny(t.protocols.def), "elements": map[string]any{"type": "string", "one_of": toAny(t.protocols.oneOf)}}})
		}
	}
	return out
}
