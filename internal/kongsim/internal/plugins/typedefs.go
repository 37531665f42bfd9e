package plugins

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// Field constructors mirroring kong/db/schema/typedefs.lua.

func str(name string) *field { return &field{name: name, typ: tString} }
func boolean(name string, def bool) *field {
	return &field{name: name, typ: tBoolean, def: def, required: true}
}
func optBool(name string, def bool) *field { return &field{name: name, typ: tBoolean, def: def} }
func number(name string, def any) *field   { return &field{name: name, typ: tNumber, def: def} }
func integer(name string, def any) *field  { return &field{name: name, typ: tInteger, def: def} }
func record(name string, fs ...*field) *field {
	return &field{name: name, typ: tRecord, fields: fs}
}

func (f *field) req() *field { f.required = true; return f }
func (f *field) oneOfs(vals ...string) *field {
	f.oneOf = vals
	return f
}
func (f *field) betweens(lo, hi float64) *field { f.between = &[2]float64{lo, hi}; return f }
func (f *field) gtZero() *field                 { z := 0.0; f.gt = &z; return f }
func (f *field) withDefault(v any) *field       { f.def = v; return f }

func strArray(name string, def []any) *field {
	return &field{name: name, typ: tArray, def: def, elements: &field{typ: tString}}
}

var headerNameRE = regexp.MustCompile(`^[a-zA-Z0-9\-_]+$`)

// validateHeaderName is kong.tools.utils validate_header_name.
func validateHeaderName(v any) string {
	s, _ := v.(string)
	if !headerNameRE.MatchString(s) {
		return fmt.Sprintf("bad header name '%s', allowed characters are A-Z, a-z, 0-9, '_', and '-'", s)
	}
	return ""
}

func headerName(name string) *field {
	return &field{name: name, typ: tString, check: validateHeaderName}
}

// hostField is typedefs.host (a hostname or IP).
func hostField(name string) *field {
	return &field{name: name, typ: tString, check: func(v any) string {
		s, _ := v.(string)
		if net.ParseIP(s) != nil {
			return ""
		}
		if s == "" || strings.ContainsAny(s, "/:?#@ ") {
			return "invalid hostname: " + s
		}
		return ""
	}}
}

// portField is typedefs.port.
func portField(name string, def any) *field {
	return (&field{name: name, typ: tInteger, def: def}).betweens(0, 65535)
}

// urlField is typedefs.url (validate_url: an absolute URL with a host).
func urlField(name string) *field {
	return &field{name: name, typ: tString, check: func(v any) string {
		s, _ := v.(string)
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" {
			return "missing scheme in url"
		}
		if u.Host == "" {
			return "missing host in url"
		}
		return ""
	}}
}

// pathField is typedefs.path (must start with "/").
func pathField(name string) *field {
	return &field{name: name, typ: tString, check: func(v any) string {
		s, _ := v.(string)
		if !strings.HasPrefix(s, "/") {
			return "should start with: /"
		}
		return ""
	}}
}

// ipOrCIDR is typedefs.ip_or_cidr.
func ipOrCIDR() *field {
	return &field{typ: tString, check: func(v any) string {
		s, _ := v.(string)
		if net.ParseIP(s) != nil {
			return ""
		}
		if _, _, err := net.ParseCIDR(s); err == nil {
			return ""
		}
		return fmt.Sprintf("invalid ip or cidr range: '%s'", s)
	}}
}

// Entity checks (kong/db/schema/init.lua entity_checkers).

func quoted(names []string) string {
	var q []string
	for _, n := range names {
		q = append(q, "'"+n+"'")
	}
	return strings.Join(q, ", ")
}

func nonEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// atLeastOneOf: "at least one of these fields must be non-empty: ...".
// names are config field names; the message prefixes them with "config.".
func atLeastOneOf(names ...string) entityCheck {
	return func(cfg map[string]any) (map[string]any, []string) {
		var full []string
		for _, n := range names {
			full = append(full, "config."+n)
			if nonEmpty(cfg[n]) {
				return nil, nil
			}
		}
		return nil, []string{"at least one of these fields must be non-empty: " + quoted(full)}
	}
}

// onlyOneOf: "exactly one of these fields must be non-empty: ..." when more
// than one is set (none set is left to at_least_one_of).
func onlyOneOf(names ...string) entityCheck {
	return func(cfg map[string]any) (map[string]any, []string) {
		n, full := 0, []string{}
		for _, name := range names {
			full = append(full, "config."+name)
			if nonEmpty(cfg[name]) {
				n++
			}
		}
		if n > 1 {
			return nil, []string{"exactly one of these fields must be non-empty: " + quoted(full)}
		}
		return nil, nil
	}
}

// conditionalRequired: when cfg[ifField] == eq, then path must be set;
// Kong sets the field error and "failed conditional validation given value
// of field 'config.<ifField>'".
func conditionalRequired(ifField, eq string, then ...string) entityCheck {
	return func(cfg map[string]any) (map[string]any, []string) {
		if v, _ := cfg[ifField].(string); v != eq {
			return nil, nil
		}
		if getPath(cfg, then) != nil {
			return nil, nil
		}
		errs := map[string]any{}
		cur := errs
		for i, p := range then {
			if i == len(then)-1 {
				cur[p] = msgRequired
				break
			}
			next := map[string]any{}
			cur[p] = next
			cur = next
		}
		return errs, []string{"failed conditional validation given value of field 'config." + ifField + "'"}
	}
}

// mutuallyExclusiveSets for pre-function's functions vs access (2.8).
func mutuallyExclusive(a, b string) entityCheck {
	return func(cfg map[string]any) (map[string]any, []string) {
		if nonEmpty(cfg[a]) && nonEmpty(cfg[b]) {
			return nil, []string{fmt.Sprintf("these sets are mutually exclusive: ('config.%s'), ('config.%s')", a, b)}
		}
		return nil, nil
	}
}
