package plugins

import (
	"fmt"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// Plugin config schemas, each following kong/plugins/<name>/schema.lua at
// the tags named in its comment; the version switches mark where Kong
// changed a field (kong-breaking-changes.md).

func init() {
	register("key-auth", keyAuth)
	register("basic-auth", basicAuth)
	register("acl", allowDeny("acl", true))
	register("ip-restriction", allowDeny("ip-restriction", false))
	register("bot-detection", botDetection)
	register("prometheus", prometheus)
	register("rate-limiting", rateLimiting)
	register("pre-function", functions)
	register("post-function", functions)
	register("http-log", httpLog)
	register("response-ratelimiting", responseRateLimiting)
}

// keyAuth: kong@2.8.5..3.9.0 kong/plugins/key-auth/schema.lua; realm from
// 3.7.0 (#11794).
func keyAuth(v kongrelease.Version) *plugin {
	names := &field{name: "key_names", typ: tArray, required: true, def: []any{"apikey"}, elements: &field{typ: tString, check: validateHeaderName}}
	fs := []*field{
		names,
		boolean("hide_credentials", false),
		str("anonymous"),
		boolean("key_in_header", true),
		boolean("key_in_query", true),
		boolean("key_in_body", false),
		boolean("run_on_preflight", true),
	}
	if v.AtLeast(3, 7, 0) {
		fs = append(fs, str("realm"))
	}
	return &plugin{config: fs}
}

// basicAuth: realm (required, default "service") from 3.6.0.
func basicAuth(v kongrelease.Version) *plugin {
	fs := []*field{str("anonymous"), boolean("hide_credentials", false)}
	if v.AtLeast(3, 6, 0) {
		fs = append(fs, str("realm").req().withDefault("service"))
	}
	return &plugin{config: fs}
}

// allowDeny covers acl and ip-restriction: allow/deny lists; the 2.x
// whitelist/blacklist shorthands are gone in 3.0 (kong-breaking-changes 30-6,
// so a 3.x node answers "unknown field").
func allowDeny(name string, isACL bool) schemaFn {
	return func(v kongrelease.Version) *plugin {
		elem := &field{typ: tString}
		if !isACL {
			elem = ipOrCIDR()
		}
		fs := []*field{
			{name: "allow", typ: tArray, elements: elem},
			{name: "deny", typ: tArray, elements: elem},
		}
		p := &plugin{}
		if isACL {
			fs = append(fs, boolean("hide_groups_header", false))
			if v.AtLeast(3, 8, 0) {
				fs = append(fs, boolean("always_use_authenticated_groups", false))
			}
			p.checks = []entityCheck{onlyOneOf("allow", "deny"), atLeastOneOf("allow", "deny")}
		} else {
			fs = append(fs, number("status", nil), str("message"))
			p.checks = []entityCheck{atLeastOneOf("allow", "deny")}
		}
		p.config = fs
		if v.Major < 3 {
			p.shorthands = []shorthand{
				{name: "blacklist", typ: tArray, elem: tString, path: []string{"deny"}},
				{name: "whitelist", typ: tArray, elem: tString, path: []string{"allow"}},
			}
		}
		return p
	}
}

// botDetection: allow/deny default {}; 2.x whitelist/blacklist shorthands.
func botDetection(v kongrelease.Version) *plugin {
	p := &plugin{config: []*field{strArray("allow", []any{}), strArray("deny", []any{})}}
	if v.Major < 3 {
		p.shorthands = []shorthand{
			{name: "blacklist", typ: tArray, elem: tString, path: []string{"deny"}},
			{name: "whitelist", typ: tArray, elem: tString, path: []string{"allow"}},
		}
	}
	return p
}

// prometheus: 2.8 has only per_consumer; 3.0 adds the four *_metrics flags,
// all default false (30-11); 3.8 adds ai_metrics; 3.10 wasm_metrics.
func prometheus(v kongrelease.Version) *plugin {
	fs := []*field{optBool("per_consumer", false)}
	if v.Major >= 3 {
		fs = append(fs, optBool("status_code_metrics", false))
		if v.AtLeast(3, 8, 0) {
			fs = append(fs, optBool("ai_metrics", false))
		}
		fs = append(fs, optBool("latency_metrics", false), optBool("bandwidth_metrics", false), optBool("upstream_health_metrics", false))
		if v.AtLeast(3, 10, 0) {
			fs = append(fs, optBool("wasm_metrics", false))
		}
	}
	return &plugin{config: fs}
}

// functions is pre-function/post-function (kong/plugins/pre-function/_schema.lua):
// phase arrays default {}; 2.8's "functions" is removed in 3.0 (30-7).
func functions(v kongrelease.Version) *plugin {
	phase := func(n string) *field {
		return &field{name: n, typ: tArray, required: true, def: []any{}, elements: &field{typ: tString}}
	}
	var fs []*field
	names := []string{"certificate", "rewrite", "access", "header_filter", "body_filter", "log"}
	p := &plugin{}
	if v.Major < 3 {
		fs = append(fs, phase("functions"))
		p.checks = append(p.checks, mutuallyExclusive("functions", "access"))
		names = append([]string{"functions"}, names...)
	}
	for _, n := range []string{"certificate", "rewrite", "access", "header_filter", "body_filter", "log"} {
		fs = append(fs, phase(n))
	}
	p.config = fs
	p.checks = append(p.checks, atLeastOneOf(names...))
	return p
}

// rateLimiting: kong@2.8.5, 3.1.0 (error_code, error_message), 3.4.0
// (sync_rate), 3.6.0 (redis record; flat redis_* become shorthands with
// translate_backwards, 36-1). The policy one_of is the DB-mode list
// (local, cluster, redis); DB-less nodes refuse "cluster" in Kong.
func rateLimiting(v kongrelease.Version) *plugin {
	fs := []*field{}
	for _, per := range []string{"second", "minute", "hour", "day", "month", "year"} {
		fs = append(fs, number(per, nil).gtZero())
	}
	policyDefault := "local"
	if v.Major < 3 {
		policyDefault = "cluster"
	}
	fs = append(fs,
		(&field{name: "limit_by", typ: tString, def: "consumer"}).oneOfs("consumer", "credential", "ip", "service", "header", "path"),
		headerName("header_name"),
		pathField("path"),
		(&field{name: "policy", typ: tString, def: policyDefault}).oneOfs("local", "cluster", "redis"),
		boolean("fault_tolerant", true),
	)
	p := &plugin{}
	if v.AtLeast(3, 6, 0) {
		fs = append(fs, redisRecord())
		p.shorthands = redisShorthands()
	} else {
		fs = append(fs,
			hostField("redis_host"),
			portField("redis_port", 6379),
			str("redis_password"),
			str("redis_username"),
		)
		if v.AtLeast(2, 8, 0) {
			fs = append(fs, boolean("redis_ssl", false), boolean("redis_ssl_verify", false), str("redis_server_name"))
		}
		fs = append(fs, number("redis_timeout", 2000), integer("redis_database", 0))
	}
	fs = append(fs, boolean("hide_client_headers", false))
	if v.AtLeast(3, 1, 0) {
		fs = append(fs, number("error_code", 429).gtZero(), str("error_message").withDefault("API rate limit exceeded"))
	}
	if v.AtLeast(3, 4, 0) {
		fs = append(fs, (&field{name: "sync_rate", typ: tNumber, def: -1.0, required: true}))
	}
	p.config = fs
	p.custom = func(cfg map[string]any) string { return periodsOrder(v, cfg) }
	p.checks = []entityCheck{atLeastOneOf("second", "minute", "hour", "day", "month", "year")}
	if v.AtLeast(3, 6, 0) {
		p.checks = append(p.checks,
			conditionalRequired("policy", "redis", "redis", "host"),
			conditionalRequired("policy", "redis", "redis", "port"),
			conditionalRequired("policy", "redis", "redis", "timeout"))
	} else {
		p.checks = append(p.checks,
			conditionalRequired("policy", "redis", "redis_host"),
			conditionalRequired("policy", "redis", "redis_port"))
	}
	p.checks = append(p.checks,
		conditionalRequired("limit_by", "header", "header_name"),
		conditionalRequired("limit_by", "path", "path"))
	if !v.AtLeast(3, 6, 0) {
		p.checks = append(p.checks, conditionalRequired("policy", "redis", "redis_timeout"))
	}
	return p
}

// periodsOrder is rate-limiting's validate_periods_order custom validator.
func periodsOrder(v kongrelease.Version, cfg map[string]any) string {
	order := []string{"second", "minute", "hour", "day", "month", "year"}
	for i, lo := range order {
		v1, ok := toFloat(cfg[lo])
		if !ok {
			continue
		}
		for _, hi := range order[i+1:] {
			if v2, ok := toFloat(cfg[hi]); ok && v2 < v1 {
				return fmt.Sprintf("The limit for %s(%.1f) cannot be lower than the limit for %s(%.1f)", hi, v2, lo, v1)
			}
		}
	}
	if v.AtLeast(3, 4, 0) {
		sr, _ := toFloat(cfg["sync_rate"])
		policy, _ := cfg["policy"].(string)
		if policy != "redis" && sr != -1 {
			return "sync_rate can only be used with the redis policy"
		}
		if policy == "redis" && sr != -1 && sr < 0.02 {
			return "sync_rate must be greater than 0.02, or -1 to disable"
		}
	}
	return ""
}

// httpLog: kong@2.8.5 (headers map of arrays; retry_count 10, queue_size 1,
// flush_timeout 2), 3.0.0 (headers values are strings, 30-10), 3.3.0 (queue
// record; the three old fields lose their defaults and only warn, 33-2),
// 3.4.0 (queue integers and delay bounds, 34-2), 3.8.0 queue.concurrency_limit.
func httpLog(v kongrelease.Version) *plugin {
	headerKey := &field{typ: tString, check: func(x any) string {
		if m := validateHeaderName(x); m != "" {
			return m
		}
		switch s, _ := x.(string); {
		case equalFold(s, "host"):
			return "cannot contain 'Host' header"
		case equalFold(s, "content-length"):
			return "cannot contain 'Content-Length' header"
		case equalFold(s, "content-type"):
			return "cannot contain 'Content-Type' header"
		}
		return ""
	}}
	headers := &field{name: "headers", typ: tMap, keys: headerKey, values: &field{typ: tString}}
	if v.Major < 3 {
		headers.values = &field{typ: tArray, elements: &field{typ: tString}}
	}
	ctypes := []string{"application/json"}
	if v.AtLeast(3, 3, 0) {
		ctypes = append(ctypes, "application/json; charset=utf-8")
	}
	fs := []*field{
		urlField("http_endpoint").req(),
		(&field{name: "method", typ: tString, def: "POST"}).oneOfs("POST", "PUT", "PATCH"),
		(&field{name: "content_type", typ: tString, def: "application/json"}).oneOfs(ctypes...),
		number("timeout", 10000.0),
		number("keepalive", 60000.0),
	}
	if v.AtLeast(3, 3, 0) {
		fs = append(fs, integer("retry_count", nil), integer("queue_size", nil), number("flush_timeout", nil))
	} else {
		fs = append(fs, integer("retry_count", 10), integer("queue_size", 1), number("flush_timeout", 2))
	}
	fs = append(fs, headers)
	if v.AtLeast(3, 3, 0) {
		intOrNum := tNumber
		if v.AtLeast(3, 4, 0) {
			intOrNum = tInteger
		}
		q := record("queue",
			(&field{name: "max_batch_size", typ: intOrNum, def: 1}).betweens(1, 1000000),
			(&field{name: "max_coalescing_delay", typ: tNumber, def: 1}).betweens(0, 3600),
			(&field{name: "max_entries", typ: intOrNum, def: 10000}).betweens(1, 1000000),
			&field{name: "max_bytes", typ: intOrNum},
			number("max_retry_time", 60),
			number("initial_retry_delay", 0.01),
			number("max_retry_delay", 60),
		)
		if v.AtLeast(3, 4, 0) {
			q.fields[5].betweens(0.001, 1000000)
			q.fields[6].betweens(0.001, 1000000)
		}
		if v.AtLeast(3, 8, 0) {
			q.fields = append(q.fields, &field{name: "concurrency_limit", typ: tInteger, def: 1, check: func(x any) string {
				if n, _ := toFloat(x); n != 1 && n != -1 {
					return "expected one of: -1, 1"
				}
				return ""
			}})
		}
		fs = append(fs, q)
	}
	fs = append(fs, &field{name: "custom_fields_by_lua", typ: tMap, keys: &field{typ: tString}, values: &field{typ: tString}})
	return &plugin{config: fs}
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// responseRateLimiting: kong/plugins/response-ratelimiting/schema.lua at
// 2.8.5 (policy default cluster), 3.1.0 (redis_ssl*, redis_server_name),
// 3.6.0 (redis record, flat redis_* shorthands, 36-1). limits is a map of
// records, each needing at least one period, in increasing order.
func responseRateLimiting(v kongrelease.Version) *plugin {
	policyDefault := "local"
	if v.Major < 3 {
		policyDefault = "cluster"
	}
	fs := []*field{
		str("header_name").withDefault("x-kong-limit"),
		(&field{name: "limit_by", typ: tString, def: "consumer"}).oneOfs("consumer", "credential", "ip"),
		(&field{name: "policy", typ: tString, def: policyDefault}).oneOfs("local", "cluster", "redis"),
		boolean("fault_tolerant", true),
	}
	p := &plugin{}
	if v.AtLeast(3, 6, 0) {
		fs = append(fs, redisRecord())
		p.shorthands = redisShorthands()
		p.checks = []entityCheck{
			conditionalRequired("policy", "redis", "redis", "host"),
			conditionalRequired("policy", "redis", "redis", "port"),
			conditionalRequired("policy", "redis", "redis", "timeout")}
	} else {
		fs = append(fs, hostField("redis_host"), portField("redis_port", 6379), str("redis_password"), str("redis_username"))
		if v.AtLeast(3, 1, 0) {
			fs = append(fs, boolean("redis_ssl", false), boolean("redis_ssl_verify", false), str("redis_server_name"))
		}
		fs = append(fs, number("redis_timeout", 2000), number("redis_database", 0))
		p.checks = []entityCheck{
			conditionalRequired("policy", "redis", "redis_host"),
			conditionalRequired("policy", "redis", "redis_port"),
			conditionalRequired("policy", "redis", "redis_timeout")}
	}
	var periodFields []*field
	for _, per := range []string{"second", "minute", "hour", "day", "month", "year"} {
		periodFields = append(periodFields, number(per, nil).gtZero())
	}
	limit := &field{typ: tRecord, fields: periodFields, check: func(x any) string {
		m, _ := x.(map[string]any)
		order := []string{"second", "minute", "hour", "day", "month", "year"}
		any := false
		for i, lo := range order {
			v1, ok := toFloat(m[lo])
			if !ok {
				continue
			}
			any = true
			for _, hi := range order[i+1:] {
				if v2, ok := toFloat(m[hi]); ok && v2 < v1 {
					return fmt.Sprintf("the limit for %s(%.1f) cannot be lower than the limit for %s(%.1f)", hi, v2, lo, v1)
				}
			}
		}
		if !any {
			return "at least one of these fields must be non-empty: 'second', 'minute', 'hour', 'day', 'month', 'year'"
		}
		return ""
	}}
	fs = append(fs,
		boolean("block_on_first_violation", false),
		boolean("hide_client_headers", false),
		&field{name: "limits", typ: tMap, required: true, lenMin: 1, keys: &field{typ: tString}, values: limit},
	)
	p.config = fs
	return p
}

// redisRecord is kong/tools/redis/schema.lua config_schema (3.6+).
func redisRecord() *field {
	return record("redis",
		hostField("host"),
		portField("port", 6379),
		integer("timeout", 2000).betweens(0, 2147483646),
		str("username"),
		str("password"),
		integer("database", 0),
		optBool("ssl", false),
		optBool("ssl_verify", false),
		str("server_name"),
	)
}

// redisShorthands are the deprecated flat redis_* fields of 3.6+ (36-1).
func redisShorthands() []shorthand {
	var out []shorthand
	for _, s := range []struct {
		name string
		typ  kind
		to   string
	}{{"redis_host", tString, "host"}, {"redis_port", tInteger, "port"}, {"redis_password", tString, "password"},
		{"redis_username", tString, "username"}, {"redis_ssl", tBoolean, "ssl"}, {"redis_ssl_verify", tBoolean, "ssl_verify"},
		{"redis_server_name", tString, "server_name"}, {"redis_timeout", tInteger, "timeout"}, {"redis_database", tInteger, "database"}} {
		out = append(out, shorthand{name: s.name, typ: s.typ, path: []string{"redis", s.to}, back: true})
	}
	return out
}
