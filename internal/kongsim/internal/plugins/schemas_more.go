package plugins

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// Config schemas of more bundled plugins, each from
// kong/plugins/<name>/schema.lua at the tags named in its comment (every
// structural change between 2.8.5 and HEAD found with git log on the file).

func init() {
	register("cors", cors)
	register("correlation-id", correlationID)
	register("request-transformer", requestTransformer)
	register("response-transformer", responseTransformer)
	register("jwt", jwt)
	register("proxy-cache", proxyCache)
	register("request-termination", requestTermination)
}

// cors: 2.8.5; private_network from 3.5.0 (#11523); allow_origin_absent
// (default true) at HEAD 3.10 (87e9a76). The origins regex check (is_regex)
// is not emulated.
func cors(v kongrelease.Version) *plugin {
	methods := []string{"GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
	fs := []*field{
		strArray("origins", nil),
		strArray("headers", nil),
		strArray("exposed_headers", nil),
		{name: "methods", typ: tArray, def: toAny(methods), elements: (&field{typ: tString}).oneOfs(methods...)},
		number("max_age", nil),
		boolean("credentials", false),
	}
	if v.AtLeast(3, 5, 0) {
		fs = append(fs, boolean("private_network", false))
	}
	fs = append(fs, boolean("preflight_continue", false))
	if v.AtLeast(3, 10, 0) {
		fs = append(fs, boolean("allow_origin_absent", true))
	}
	return &plugin{config: fs}
}

// correlationID: 2.8.5; generator required from 3.8.0 (166f465).
func correlationID(v kongrelease.Version) *plugin {
	gen := (&field{name: "generator", typ: tString, def: "uuid#counter"}).oneOfs("uuid", "uuid#counter", "tracker")
	if v.AtLeast(3, 8, 0) {
		gen.req()
	}
	return &plugin{config: []*field{
		str("header_name").withDefault("Kong-Request-ID"),
		gen,
		boolean("echo_downstream", false),
	}}
}

// colonPair is Lua's pair:match("^([^:]+):*(.-)$"): the name before the
// first colon and the value after the colons.
func colonPair(s string) (name, value string, ok bool) {
	i := strings.IndexByte(s, ':')
	if i == 0 || s == "" {
		return "", "", false
	}
	if i < 0 {
		return s, "", true
	}
	return s[:i], strings.TrimLeft(s[i:], ":"), true
}

// validHeaders is the transformers' validate_headers: the name (and, for
// renames, the value) must be a valid header name.
func validHeaders(withValue bool) func(any) string {
	return func(x any) string {
		s, _ := x.(string)
		name, value, ok := colonPair(s)
		if !ok {
			name = "nil"
		}
		if !ok || validateHeaderName(name) != "" {
			return fmt.Sprintf("'%s' is not a valid header", name)
		}
		if withValue && validateHeaderName(value) != "" {
			return fmt.Sprintf("'%s' is not a valid header", value)
		}
		return ""
	}
}

var colonRE = regexp.MustCompile(`(?s)^[^:]+:.*$`)

// arr is a required array of strings defaulting to {}, with an optional
// element match and check.
func arr(name string, match *regexp.Regexp, check func(any) string) *field {
	return &field{name: name, typ: tArray, def: []any{}, required: true, elements: &field{typ: tString, match: match, check: check}}
}

// requestTransformer: kong/plugins/request-transformer/schema.lua, config
// unchanged 2.8.5 to HEAD (protocols from 3.1.0, #9525). Template
// compilation of values (check_for_value) is not emulated beyond "has no
// value".
func requestTransformer(v kongrelease.Version) *plugin {
	hasValue := func(x any) string {
		s, _ := x.(string)
		name, value, ok := colonPair(s)
		if !ok || value == "" {
			return fmt.Sprintf("key '%s' has no value", name)
		}
		return ""
	}
	colonRecord := func(name string, withURI bool) *field {
		r := record(name, arr("body", nil, hasValue), arr("headers", colonRE, validHeaders(false)), arr("querystring", nil, hasValue))
		if withURI {
			r.fields = append(r.fields, str("uri"))
		}
		return r
	}
	return &plugin{config: []*field{
		{name: "http_method", typ: tString, match: regexp.MustCompile(`^[A-Z]+$`)},
		record("remove", arr("body", nil, nil), arr("headers", nil, validHeaders(false)), arr("querystring", nil, nil)),
		record("rename", arr("body", nil, hasValue), arr("headers", colonRE, validHeaders(true)), arr("querystring", nil, hasValue)),
		colonRecord("replace", true),
		colonRecord("add", false),
		colonRecord("append", false),
	}}
}

// responseTransformer: kong/plugins/response-transformer/schema.lua,
// 2.8.5; rename.json from 3.8.0 (#13131).
func responseTransformer(v kongrelease.Version) *plugin {
	colonRecord := func(name string) *field {
		return record(name, arr("json", colonRE, nil),
			&field{name: "json_types", typ: tArray, def: []any{}, required: true, elements: (&field{typ: tString}).oneOfs("boolean", "number", "string")},
			arr("headers", colonRE, nil))
	}
	rename := record("rename", arr("headers", colonRE, validHeaders(true)))
	if v.AtLeast(3, 8, 0) {
		rename.fields = append([]*field{arr("json", colonRE, nil)}, rename.fields...)
	}
	return &plugin{config: []*field{
		record("remove", arr("json", nil, nil), arr("headers", nil, nil)),
		rename,
		colonRecord("replace"),
		colonRecord("add"),
		colonRecord("append"),
	}}
}

// jwt: kong/plugins/jwt/schema.lua 2.8.5; realm from 3.8.0 (a3f5410). The
// entity check: a maximum_expiration above 0 needs "exp" in
// claims_to_verify.
func jwt(v kongrelease.Version) *plugin {
	set := func(name string, def []any) *field {
		return &field{name: name, typ: tSet, def: def, elements: &field{typ: tString}}
	}
	fs := []*field{
		set("uri_param_names", []any{"jwt"}),
		set("cookie_names", []any{}),
		str("key_claim_name").withDefault("iss"),
		boolean("secret_is_base64", false),
		{name: "claims_to_verify", typ: tSet, elements: (&field{typ: tString}).oneOfs("exp", "nbf")},
		str("anonymous"),
		boolean("run_on_preflight", true),
		number("maximum_expiration", 0).betweens(0, 31536000),
		set("header_names", []any{"authorization"}),
	}
	if v.AtLeast(3, 8, 0) {
		fs = append(fs, str("realm"))
	}
	return &plugin{config: fs, checks: []entityCheck{func(cfg map[string]any) (map[string]any, []string) {
		if n, _ := toFloat(cfg["maximum_expiration"]); n <= 0 {
			return nil, nil
		}
		l, _ := cfg["claims_to_verify"].([]any)
		for _, c := range l {
			if c == "exp" {
				return nil, nil
			}
		}
		return map[string]any{"claims_to_verify": "expected to contain: exp"},
			[]string{"failed conditional validation given value of field 'config.maximum_expiration'"}
	}}}
}

// proxyCache: kong/plugins/proxy-cache/schema.lua 2.8.5; ignore_uri_case
// from 3.3.0 (78d75b4); response_headers from 3.5.0 (5e09745). The
// memory strategy's shared-dict check is not emulated.
func proxyCache(v kongrelease.Version) *plugin {
	fs := []*field{
		{name: "response_code", typ: tArray, def: []any{200.0, 301.0, 404.0}, required: true, lenMin: 1, elements: (&field{typ: tInteger}).betweens(100, 900)},
		{name: "request_method", typ: tArray, def: []any{"GET", "HEAD"}, required: true, elements: (&field{typ: tString}).oneOfs("HEAD", "GET", "POST", "PATCH", "PUT")},
		{name: "content_type", typ: tArray, def: []any{"text/plain", "application/json"}, required: true, elements: &field{typ: tString}},
		integer("cache_ttl", 300).gtZero(),
		(&field{name: "strategy", typ: tString, required: true}).oneOfs("memory"),
		boolean("cache_control", false),
	}
	if v.AtLeast(3, 3, 0) {
		fs = append(fs, optBool("ignore_uri_case", false))
	}
	fs = append(fs,
		integer("storage_ttl", nil),
		record("memory", str("dictionary_name").req().withDefault("kong_db_cache")),
		strArray("vary_query_params", nil),
		strArray("vary_headers", nil),
	)
	if v.AtLeast(3, 5, 0) {
		fs = append(fs, record("response_headers", optBool("age", true), optBool("X-Cache-Status", true), optBool("X-Cache-Key", true)))
	}
	return &plugin{config: fs}
}

// requestTermination: kong/plugins/request-termination/schema.lua 2.8.5;
// status_code required from 3.1.0 (3774c36).
func requestTermination(v kongrelease.Version) *plugin {
	status := integer("status_code", 503).betweens(100, 599)
	if v.AtLeast(3, 1, 0) {
		status.req()
	}
	present := func(x any) bool { s, _ := x.(string); return s != "" }
	return &plugin{
		config: []*field{status, str("message"), str("content_type"), str("body"), boolean("echo", false), headerName("trigger")},
		custom: func(cfg map[string]any) string {
			switch {
			case present(cfg["message"]) && (present(cfg["content_type"]) || present(cfg["body"])):
				return "message cannot be used with content_type or body"
			case present(cfg["content_type"]) && !present(cfg["body"]):
				return "content_type requires a body"
			case cfg["echo"] == true && (present(cfg["content_type"]) || present(cfg["body"])):
				return "echo cannot be used with content_type and body"
			}
			return ""
		},
	}
}
