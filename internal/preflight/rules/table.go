package rules

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// Table is every preflight rule. Adding a rule is one row here and two
// fixtures, testdata/PFxx-n.yaml (rules_test.go fails on a row without
// them). Ids are PF<hop>-<n> after kong-breaking-changes.md's numbering
// (PF30-1 is its 30-1); PFX-n rules run on every hop.
var Table = []*Rule{
	{ID: "PFX-1", Entity: "plugins", Severity: all(Error), Acknowledgeable: true,
		Summary: "Custom plugin not bundled with Y",
		Fix:     "Install the plugin on Y (its Lua code, and Y's kong.conf plugins = bundled,NAME) in a version that runs on Y's release, then check that Y lists it in plugins.available_on_server; or remove its instances.",
		Source:  "kongrelease.BundledPlugins (kong/constants.lua at each tag); Kong/kong #8562",
		Check:   customPlugins},

	{ID: "PF30-1", Hop: "3.0", Entity: "route.paths", Severity: byMode(Info, Error, Error), Acknowledgeable: true,
		Summary: "Regex route path lacks the ~ prefix",
		Fix:     "Prefix the path with ~ (3.x reads a path without it as a plain prefix). deck file convert --from kong-gateway-2.x --to kong-gateway-3.x does it for services[].routes only, not top-level routes. In DB mode Kong's 3.0 migration adds the ~ itself (info).",
		Source:  "BC-30x L212-216; CL L2923; DECK convert.go L205-219",
		Check:   regexWithoutTilde},
	{ID: "PF30-2", Hop: "3.0", Entity: "route.paths", Severity: byMode(Info, Warning, Warning), Acknowledgeable: true,
		Summary: "Regex path percent-encodes an unreserved character",
		Fix:     "Write the character itself (escaping regex metacharacters): 3.x matches regex paths against the normalized path. The DB migration's normalize_regex does this; a file is not rewritten.",
		Source:  "BC-30x L218-223; CL L2915",
		Check:   regexPercent},
	{ID: "PF30-3", Hop: "3.0", Entity: "route.paths, route.headers", Severity: all(Error), Acknowledgeable: true,
		Summary: "Regex uses look-around or a backreference, which 3.x's router refuses",
		Fix:     "Rewrite the regex without (?= (?! (?<= (?<! or \\1..\\9 (the traditional_compatible and expressions routers use Rust's regex crate), or set router_flavor = traditional on Y.",
		Source:  "LTS28 L465-479; DECK rulesets/280-to-340 L101-133",
		Check:   lookAround},
	{ID: "PF30-4", Hop: "3.0", Entity: "route.path_handling", Severity: all(Warning), Acknowledgeable: true,
		Summary: "path_handling v1 is ignored by 3.x's default router",
		Fix:     "Set router_flavor = traditional on Y, or adapt the paths to v0 handling.",
		Source:  "CL L3049; DECK 280-to-340 L134-152",
		Check:   pathHandlingV1},
	{ID: "PF30-5", Hop: "3.0", Entity: "_format_version", Severity: fileOnly(Error),
		Summary: "decK file is in a 2.x format",
		Fix:     "Convert it (deck file convert --from kong-gateway-2.x --to kong-gateway-3.x), or dump again after the migrations: syncing a 2.x file into 3.x overwrites the migrated ~ paths.",
		Source:  "BC-30x L227-233; DECK 340-to-310 L3-11",
		Check:   formatVersion},
	{ID: "PF30-6", Hop: "3.0", Entity: "acl, ip-restriction, bot-detection config", Severity: all(Error),
		Summary: "whitelist/blacklist were removed in 3.0",
		Fix:     "Rename whitelist to allow and blacklist to deny (deck file convert --from 2.8 --to 3.4 does it). Kong 2.x stores them as allow/deny, so only a source file shows them.",
		Source:  "BC-30x L82-83; CL L3343",
		Check:   whitelist},
	{ID: "PF30-7", Hop: "3.0", Entity: "pre-function, post-function config.functions", Severity: all(Error),
		Summary: "config.functions was removed in 3.0",
		Fix:     "Move the functions to config.access (deck file convert does it).",
		Source:  "BC-30x L122-124; CL L2929",
		Check:   functions},
	{ID: "PF30-8", Hop: "3.0", Entity: "aws-lambda config.proxy_scheme", Severity: all(Error),
		Summary: "aws-lambda proxy_scheme was removed in 3.0",
		Fix:     "Remove config.proxy_scheme (deck file convert removes it).",
		Source:  "CL L3337",
		Check:   pluginField([]string{"aws-lambda"}, "proxy_scheme", isSet)},
	{ID: "PF30-9", Hop: "3.0", Entity: "aws-lambda config.aws_region", Severity: all(Warning), Acknowledgeable: true,
		Summary: "aws-lambda needs a region in 3.x",
		Fix:     "Set config.aws_region, or AWS_REGION in Y's environment (then acknowledge).",
		Source:  "BC-30x L88-90; DECK 280-to-340 L82-98",
		Check:   pluginField([]string{"aws-lambda"}, "aws_region", isUnset)},
	{ID: "PF30-10", Hop: "3.0", Entity: "http-log config.headers", Severity: all(Error),
		Summary: "http-log header values must be strings in 3.x",
		Fix:     "Join each header's array into one string.",
		Source:  "BC-30x L92-94; DECK 280-to-340 L3-25",
		Check:   httpLogHeaders},
	{ID: "PF30-11", Hop: "3.0", Entity: "prometheus", Severity: all(Warning), Acknowledgeable: true,
		Summary: "prometheus metrics are renamed and mostly off by default in 3.x",
		Fix:     "Set status_code_metrics, latency_metrics, bandwidth_metrics and upstream_health_metrics to true; update dashboards for the renamed metrics.",
		Source:  "BC-30x L102-120; CL L3010-3024",
		Check:   pluginPresent("prometheus")},
	{ID: "PF30-12", Hop: "3.0", Entity: "statsd", Severity: all(Warning), Acknowledgeable: true,
		Summary: "statsd service metrics gain a service. prefix; *.status.<s>.total is removed",
		Fix:     "Update the metrics' consumers.",
		Source:  "BC-30x L126-131; CL L3029",
		Check:   pluginPresent("statsd")},
	{ID: "PF30-13", Hop: "3.0", Entity: "rate-limiting, response-ratelimiting config.policy", Severity: fileOnly(Warning), Acknowledgeable: true,
		Summary: "policy omitted: its default changes from cluster to local",
		Fix:     "Set config.policy explicitly.",
		Source:  "CL L3036-3039",
		Check:   pluginField([]string{"rate-limiting", "response-ratelimiting"}, "policy", isUnset)},
	{ID: "PF30-14", Hop: "3.0", Entity: "acme config.storage_config.vault.auth_method", Severity: all(Warning), Acknowledgeable: true,
		Summary: "acme vault auth_method null: its default becomes token",
		Fix:     "Set storage_config.vault.auth_method.",
		Source:  "BC-30x L85-86; DECK 280-to-340 L46-63",
		Check:   acmeAuthMethod},
	{ID: "PF30-15", Hop: "3.0", Entity: "syslog config.facility", Severity: fileOnly(Warning), Acknowledgeable: true,
		Summary: "syslog facility omitted: its default becomes user",
		Fix:     "Set config.facility explicitly.",
		Source:  "CL L3335",
		Check:   pluginField([]string{"syslog"}, "facility", isUnset)},
	{ID: "PF30-16", Hop: "3.0", Entity: "upstreams[].targets", Severity: all(Error),
		Summary: "Duplicate target in an upstream (3.x answers 409)",
		Fix:     "Keep one target per address in each upstream.",
		Source:  "LTS28 L254-259; EE-CL 3.0.0.0",
		Check:   duplicateTargets},
	{ID: "PF30-20", Hop: "3.0", Entity: "plugins", Severity: all(Warning), Acknowledgeable: true,
		Summary: "Custom plugin runs beside bundled plugins whose priority changed",
		Fix:     "Check the custom plugin's PRIORITY against the re-prioritized bundled plugins named here.",
		Source:  "BC-30x L148-174",
		Check:   reprioritized},
	{ID: "PF30-21", Hop: "3.0", Entity: "configuration.lua_ssl_trusted_certificate", Severity: all(Warning), Acknowledgeable: true,
		Summary: "lua_ssl_trusted_certificate unset: its default becomes system",
		Fix:     "Set it explicitly if a private CA bundle is needed.",
		Source:  "BC-30x L257; CL L3060",
		Check:   confEmpty("lua_ssl_trusted_certificate")},
	{ID: "PF30-22", Hop: "3.0", Entity: "configuration.worker_consistency", Severity: all(Info),
		Summary: "worker_consistency strict is deprecated; the default becomes eventual",
		Fix:     "Accept eventual, or pin strict knowingly.",
		Source:  "kong@3.0.0:kong/templates/kong_defaults.lua",
		Check:   confEquals("worker_consistency", "strict")},
	{ID: "PF30-23", Hop: "3.0", Entity: "configuration.router_flavor", Severity: all(Info),
		Summary: "3.x routes with the traditional_compatible router by default",
		Fix:     "Test routing on Y (regex_priority and ordering differ), or set router_flavor = traditional.",
		Source:  "CL 3.0 Additions; kong_defaults diff",
		Check:   routerFlavor},
	{ID: "PF30-24", Hop: "3.0", Entity: "configuration.go_plugins_dir", Severity: all(Error),
		Summary: "Go plugins through go-pluginserver were removed in 3.0",
		Fix:     "Port the Go plugins to the pluginserver_names setting (one embedded server per plugin), or remove them.",
		Source:  "kong@2.8.5:kong/conf_loader/init.lua vs 3.0.0; BC-30x L190, L259",
		Check:   goPlugins},

	{ID: "PF31-1", Hop: "3.1", Entity: "configuration.role", Severity: all(Error),
		Summary: "Hybrid mode from before 3.0 to 3.1 or later skips the legacy protocol's end",
		Fix:     "Upgrade the hybrid cluster through 3.0.x first.",
		Source:  "BC-31x L17; CL L2815",
		Check:   hybridSkip},

	{ID: "PF32-1", Hop: "3.2", Entity: "session", Severity: all(Warning), Acknowledgeable: true,
		Summary: "session plugin: every session is invalidated and the cookie_* fields are renamed",
		Fix:     "Expect users to log in again; keep the old field names until every node runs 3.2, then rename (cookie_lifetime → rolling_timeout, ...).",
		Source:  "BC-32x L45-101; CL L2470",
		Check:   pluginPresent("session")},
	{ID: "PF32-3", Hop: "3.2", Entity: "jwt config", Severity: all(Warning), Acknowledgeable: true,
		Summary: "jwt reads tokens from several places: different tokens in two places are now denied",
		Fix:     "Keep one of uri_param_names, cookie_names, header_names, or accept the change.",
		Source:  "BC-32x L41-43; CL L2468",
		Check:   jwtSources},
	{ID: "PF32-4", Hop: "3.2", Entity: "oauth2 config.refresh_token_ttl", Severity: all(Error),
		Summary: "oauth2 refresh_token_ttl above 100000000 is refused",
		Fix:     "Lower refresh_token_ttl to at most 100000000.",
		Source:  "CL L2580",
		Check:   pluginField([]string{"oauth2"}, "refresh_token_ttl", above(1e8))},

	{ID: "PF33-2", Hop: "3.3", Entity: "http-log, statsd, datadog queue settings", Severity: all(Warning), Acknowledgeable: true,
		Summary: "retry_count no longer works; queue_size and flush_timeout are deprecated",
		Fix:     "Use config.queue.max_retry_time, .max_batch_size and .max_coalescing_delay.",
		Source:  "BC-33x L178-188; kong@3.3.0:kong/plugins/http-log/schema.lua L50-60",
		Check:   queueFields},
	{ID: "PF33-5", Hop: "3.3", Entity: "pre-function, post-function code", Severity: all(Warning), Acknowledgeable: true,
		Summary: "Function code uses kong.cache or kong.configuration, sandboxed in 3.3",
		Fix:     "Rewrite the code for the sandboxed cache and the restricted configuration.",
		Source:  "CL L2222",
		Check:   sandboxed},

	{ID: "PF34-1", Hop: "3.4", Entity: "configuration.database", Severity: all(Error),
		Summary: "Cassandra is not supported from 3.4",
		Fix:     "Move to PostgreSQL or DB-less first.",
		Source:  "BC-34x L47-62",
		Check:   confEquals("database", "cassandra")},

	{ID: "PF35-1", Hop: "3.5", Entity: "session config.logout_methods", Severity: all(Warning), Acknowledgeable: true,
		Summary: "session logout by POST ignores logout_post_arg unless read_body_for_logout",
		Fix:     "Set config.read_body_for_logout = true.",
		Source:  "BC-35x L30-32; DECK 340-to-310 L14-32",
		Check:   sessionLogout},
	{ID: "PF35-2", Hop: "3.5", Entity: "configuration.headers", Severity: all(Info),
		Summary: "Responses gain X-Kong-Request-Id; error bodies gain request_id",
		Fix:     "Update checks that compare error bodies or headers exactly, or set headers.",
		Source:  "CL L1739; kong@3.5.0:kong/tools/utils.lua L1420-1440",
		Check:   confHeaders("latency_tokens", "server_tokens")},

	{ID: "PF35-20", Hop: "3.5", Entity: "plan check expect.body_contains", Severity: all(Error), Acknowledgeable: true,
		Summary: "A check expects Kong's whole error body, which gains request_id in 3.5",
		Fix:     `Expect a part of the body ("message":"...") or use json_path, not the whole {"message":...} object.`,
		Source:  "CL L1739; kong@3.5.0:kong/tools/utils.lua L1420-1440",
		Check:   checkBody(regexp.MustCompile(`^\s*\{\s*"message"\s*:\s*"[^"]*"\s*\}\s*$`))},
	{ID: "PF36-1", Hop: "3.6", Entity: "rate-limiting, response-ratelimiting config.redis_*", Severity: all(Info),
		Summary: "redis_* fields are deprecated",
		Fix:     "Move them to config.redis.{host,port,...}.",
		Source:  "BC-36x L67-69",
		Check:   pluginField([]string{"rate-limiting", "response-ratelimiting"}, "redis_host", isSet)},
	{ID: "PF36-2", Hop: "3.6", Entity: "rate-limiting, response-ratelimiting (policy redis), acme (storage redis)", Severity: map[Mode]Severity{ModeDB: Error},
		Summary: "blue-green to 3.6.0/3.6.1: Y's `migrations up` moves the redis settings into config.redis and drops the flat fields at once (these 3.6 migrations have no teardown), so X's nodes, still serving from the shared database, lose their redis settings",
		Fix:     "Upgrade to 3.7.0 or later (its migrations keep the flat fields until finish), or use dual_cluster (Y on its own database) or in_place.",
		Source:  "kong@3.6.1 kong/plugins/rate-limiting/migrations/006_350_to_360.lua (no teardown; split into up and teardown in 3.7.0, 4724af0)",
		Check:   redisMoveOnSharedDatabase},
	{ID: "PF36-3", Hop: "3.6", Entity: "key-auth, basic-auth, ldap-auth", Severity: all(Warning), Acknowledgeable: true,
		Summary: "401 bodies change from \"Invalid authentication credentials\" to \"Unauthorized\"",
		Fix:     "Update checks and clients that compare the message; basic-auth also adds WWW-Authenticate.",
		Source:  "kong@3.6.0 #12456; CL L1598",
		Check:   pluginPresent("key-auth", "basic-auth", "ldap-auth")},
	{ID: "PF36-20", Hop: "3.6", Entity: "plan check expect.body_contains", Severity: all(Error), Acknowledgeable: true,
		Summary: `A check expects "Invalid authentication credentials", which 3.6 answers as "Unauthorized"`,
		Fix:     "Expect status 401 (and, if needed, the new message) instead of the old body.",
		Source:  "kong@3.6.0 #12456; CL L1598",
		Check:   checkBody(regexp.MustCompile(`Invalid authentication credentials`))},
	{ID: "PF36-4", Hop: "3.6", Entity: "certificates, ca_certificates", Severity: all(Error),
		Summary: "Key too small for OpenSSL 3.2's security level 2",
		Fix:     "Reissue the certificate with an RSA key of 2048 bits or more, or an EC key of 224 bits or more.",
		Source:  "BC-36x L44-51; BC-34x L16-24",
		Check:   weakKeys},
	{ID: "PF36-9", Hop: "3.6", Entity: "azure-functions", Severity: all(Warning), Acknowledgeable: true,
		Summary: "azure-functions drops the upstream URI from the path",
		Fix:     "Encode the path in routeprefix/functionname.",
		Source:  "BC-36x L71-73; DECK 340-to-310 L33-48",
		Check:   pluginPresent("azure-functions")},

	{ID: "PF37-1", Hop: "3.7", Entity: "route.paths, route.headers", Severity: all(Error), Acknowledgeable: true,
		Summary: "Regex PCRE2 10.43 may refuse: a class escape followed by - inside [...]",
		Fix:     "Escape the -, or move it to the end of the class ([\\w.-]); Kong 3.7 does not apply a configuration whose regex fails to compile.",
		Source:  "DEV-BC 3.7 PCRE version bump; LTS34 L190-195",
		Check:   pcre2Class},
	{ID: "PF37-5", Hop: "3.7", Entity: "key-auth", Severity: all(Info),
		Summary: "key-auth 401s carry WWW-Authenticate: Key",
		Fix:     "Update checks that compare headers exactly.",
		Source:  "changelog/3.7.0/kong/key_auth_www_authenticate.yml",
		Check:   pluginPresent("key-auth")},

	{ID: "PF38-1", Hop: "3.8", Entity: "configuration.headers", Severity: all(Warning), Acknowledgeable: true,
		Summary: "Via changes from kong/3.7.x to \"<httpver> kong/3.8.x\", and upstream requests get Via",
		Fix:     "Update checks on the Via header.",
		Source:  "CL L526; kong@3.8.0:kong/runloop/handler.lua L1294-1298",
		Check:   confHeaders("server_tokens", "via")},
	{ID: "PF38-20", Hop: "3.8", Entity: "plan check expect.headers.Via", Severity: all(Error), Acknowledgeable: true,
		Summary: "A check expects a Via header, which 3.8 changes to \"<httpver> kong/3.8.x\"",
		Fix:     "Expect the new form (1.1 kong/...), or drop the header from the check.",
		Source:  "CL L526-528",
		Check:   checkViaHeader},
	{ID: "PF38-4", Hop: "3.8", Entity: "hmac-auth, jwt, ldap-auth", Severity: all(Info),
		Summary: "401s carry WWW-Authenticate",
		Fix:     "Update checks that compare headers exactly.",
		Source:  "CL L838-850",
		Check:   pluginPresent("hmac-auth", "jwt", "ldap-auth")},
	{ID: "PF38-5", Hop: "3.8", Entity: "opentelemetry config.endpoint", Severity: all(Info),
		Summary: "opentelemetry endpoint is deprecated",
		Fix:     "Rename it traces_endpoint.",
		Source:  "kong@3.9.0 opentelemetry schema L107",
		Check:   pluginField([]string{"opentelemetry"}, "endpoint", isSet)},

	{ID: "PF39-1", Hop: "3.9", Entity: "configuration.node_id", Severity: all(Info),
		Summary: "node_id set explicitly is deprecated",
		Fix:     "Stop setting node_id.",
		Source:  "BC-39x L18-21; CL L136",
		Check:   nodeID},

	{ID: "PF310-6", Hop: "3.10", Entity: "key-auth config", Severity: all(Warning), Acknowledgeable: true,
		Summary: "key-auth re-encodes the query with %20 instead of +",
		Fix:     "Check upstreams that parse the query of requests with hidden credentials.",
		Source:  "BC-310x L39-42",
		Check:   keyInQuery},
}

// regexChar is the test Kong's 3.0 migration (is_not_regex) and decK
// (pathRegexPattern) use: a path with a character outside this set is a
// regex.
var regexChar = regexp.MustCompile(`[^A-Za-z0-9._~/%-]`)

func routePaths(in *Input, fn func(r Entity, p string)) {
	for _, r := range in.Content.Routes {
		for _, p := range strs(r.Obj["paths"]) {
			fn(r, p)
		}
	}
}

// regexes calls fn with every regex of a route: paths with ~ or regex
// characters (minus the ~), and header values with ~*.
func regexes(in *Input, fn func(r Entity, field, re string)) {
	for _, r := range in.Content.Routes {
		for _, p := range strs(r.Obj["paths"]) {
			if strings.HasPrefix(p, "~") {
				fn(r, "paths", p[1:])
			} else if regexChar.MatchString(p) {
				fn(r, "paths", p)
			}
		}
		if h, ok := r.Obj["headers"].(map[string]any); ok {
			for k, v := range h {
				for _, s := range strs(v) {
					if strings.HasPrefix(s, "~*") {
						fn(r, "headers."+k, s[2:])
					}
				}
			}
		}
	}
}

func regexWithoutTilde(in *Input, hit func(Hit)) {
	routePaths(in, func(r Entity, p string) {
		if !strings.HasPrefix(p, "~") && regexChar.MatchString(p) {
			hit(Hit{Entity: r, Field: "paths", Detail: fmt.Sprintf("%q becomes a plain prefix on 3.x; write %q", p, "~"+p)})
		}
	})
}

var percent = regexp.MustCompile(`%[0-9A-Fa-f]{2}`)

func regexPercent(in *Input, hit func(Hit)) {
	regexes(in, func(r Entity, field, re string) {
		if field != "paths" {
			return
		}
		for _, m := range percent.FindAllString(re, -1) {
			c, err := url.PathUnescape(m)
			if err == nil && !strings.ContainsAny(c, "!#$%&'()*+,/:;=?@[]") {
				hit(Hit{Entity: r, Field: field, Detail: fmt.Sprintf("%s in %q is %q", m, re, c)})
				return
			}
		}
	})
}

var lookAroundRE = regexp.MustCompile(`\(\?<?[=!]|\\[1-9]`)

func traditional(in *Input) bool {
	return str(in.YConf["router_flavor"]) == "traditional"
}

func lookAround(in *Input, hit func(Hit)) {
	if traditional(in) {
		return
	}
	regexes(in, func(r Entity, field, re string) {
		if m := lookAroundRE.FindString(re); m != "" {
			hit(Hit{Entity: r, Field: field, Detail: fmt.Sprintf("%q uses %s", re, m)})
		}
	})
}

func pathHandlingV1(in *Input, hit func(Hit)) {
	if traditional(in) {
		return
	}
	for _, r := range in.Content.Routes {
		if str(r.Obj["path_handling"]) == "v1" {
			hit(Hit{Entity: r, Field: "path_handling", Detail: "v1"})
		}
	}
}

func formatVersion(in *Input, hit func(Hit)) {
	v := fmt.Sprint(in.Content.Raw["_format_version"])
	if _, ok := in.Content.Raw["_format_version"]; ok && v < "3.0" {
		hit(Hit{Entity: Entity{Kind: "file", Where: "_format_version"}, Detail: fmt.Sprintf("_format_version is %q", v)})
	}
}

func whitelist(in *Input, hit func(Hit)) {
	for _, p := range in.Content.PluginsNamed("acl", "ip-restriction", "bot-detection") {
		for _, k := range []string{"whitelist", "blacklist"} {
			if present(Config(p), k) {
				to := map[string]string{"whitelist": "allow", "blacklist": "deny"}[k]
				hit(Hit{Entity: p, Field: "config." + k, Detail: fmt.Sprintf("rename %s to %s", k, to)})
			}
		}
	}
}

func functions(in *Input, hit func(Hit)) {
	for _, p := range in.Content.PluginsNamed("pre-function", "post-function") {
		if n := len(strs(Config(p)["functions"])); n > 0 {
			hit(Hit{Entity: p, Field: "config.functions", Detail: fmt.Sprintf("%d function(s): move them to config.access", n)})
		}
	}
}

func isSet(v any, ok bool) bool   { return ok && v != nil }
func isUnset(v any, ok bool) bool { return !ok || v == nil }
func above(n float64) func(any, bool) bool {
	return func(v any, ok bool) bool { x, isNum := num(v); return ok && isNum && x > n }
}

// pluginField hits every plugin of names whose config field satisfies pred.
func pluginField(names []string, field string, pred func(v any, ok bool) bool) func(*Input, func(Hit)) {
	return func(in *Input, hit func(Hit)) {
		for _, p := range in.Content.PluginsNamed(names...) {
			v, ok := Config(p)[field]
			if pred(v, ok) {
				d := "not set"
				if ok && v != nil {
					d = fmt.Sprintf("%v", v)
				}
				hit(Hit{Entity: p, Field: "config." + field, Detail: d})
			}
		}
	}
}

func pluginPresent(names ...string) func(*Input, func(Hit)) {
	return func(in *Input, hit func(Hit)) {
		for _, p := range in.Content.PluginsNamed(names...) {
			hit(Hit{Entity: p})
		}
	}
}

// redisMoveOnSharedDatabase hits the plugins whose redis settings Kong
// 3.6.0/3.6.1's `migrations up` moves under X's feet in a blue-green
// upgrade (from 3.7.0 the flat fields stay until finish).
func redisMoveOnSharedDatabase(in *Input, hit func(Hit)) {
	if in.Strategy != "blue_green" || in.To.Series().Compare(kongrelease.MustParse("3.7.0").Series()) >= 0 {
		return
	}
	for _, p := range in.Content.PluginsNamed("rate-limiting", "response-ratelimiting") {
		if str(Config(p)["policy"]) == "redis" {
			hit(Hit{Entity: p, Field: "config.policy", Detail: "redis"})
		}
	}
	for _, p := range in.Content.PluginsNamed("acme") {
		if str(Config(p)["storage"]) == "redis" {
			hit(Hit{Entity: p, Field: "config.storage", Detail: "redis"})
		}
	}
}

func httpLogHeaders(in *Input, hit func(Hit)) {
	for _, p := range in.Content.PluginsNamed("http-log") {
		h, _ := Config(p)["headers"].(map[string]any)
		for k, v := range h {
			if _, isList := v.([]any); isList {
				hit(Hit{Entity: p, Field: "config.headers." + k, Detail: "an array"})
			}
		}
	}
}

func acmeAuthMethod(in *Input, hit func(Hit)) {
	for _, p := range in.Content.PluginsNamed("acme") {
		c := Config(p)
		if str(c["storage"]) != "vault" {
			continue
		}
		sc, _ := c["storage_config"].(map[string]any)
		v, _ := sc["vault"].(map[string]any)
		if !present(v, "auth_method") {
			hit(Hit{Entity: p, Field: "config.storage_config.vault.auth_method", Detail: "null"})
		}
	}
}

func duplicateTargets(in *Input, hit func(Hit)) {
	for _, u := range in.Content.Upstreams {
		seen := map[string]bool{}
		for _, t := range objects(u.Obj["targets"]) {
			a := str(t["target"])
			if seen[a] {
				hit(Hit{Entity: u, Field: "targets", Detail: fmt.Sprintf("%q twice", a)})
			}
			seen[a] = true
		}
	}
}

// custom returns the plugin names in use that Y's release does not bundle.
func custom(in *Input) []string {
	b := kongrelease.BundledPlugins(in.To)
	var out []string
	for _, n := range in.Content.PluginNames() {
		if _, ok := b[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}

func customPlugins(in *Input, hit func(Hit)) {
	names := custom(in)
	seen := map[string]bool{}
	for _, p := range in.Content.Plugins {
		if slices.Contains(names, p.Name) && !seen[p.Name] {
			seen[p.Name] = true
			if in.YPlugins != nil && in.YPlugins[p.Name] {
				continue // Y answers and has it
			}
			d := fmt.Sprintf("%d instance(s) on X; not bundled with %s", in.Content.PluginCounts()[p.Name], in.To)
			if in.YPlugins != nil {
				d += ", and Y does not list it in plugins.available_on_server"
			}
			hit(Hit{Entity: p, Field: "name", Detail: d})
		}
	}
	// Enabled in X's plugins setting, not in use: Y needs it only if the
	// configuration will use it, but a plugins setting naming a plugin Y
	// lacks stops Y's start.
	b := kongrelease.BundledPlugins(in.To)
	for _, n := range strs(in.XConf["plugins"]) {
		n = strings.TrimSpace(n)
		if _, ok := b[n]; ok || n == "bundled" || n == "off" || seen[n] || in.YPlugins[n] {
			continue
		}
		seen[n] = true
		hit(Hit{Field: "plugins", Detail: fmt.Sprintf("%q is enabled in X's plugins setting and not bundled with %s", n, in.To)})
	}
}

func reprioritized(in *Input, hit func(Hit)) {
	names := custom(in)
	if len(names) == 0 {
		return
	}
	var used []string
	counts := in.Content.PluginCounts()
	for _, n := range kongrelease.Reprioritized(in.From, in.To) {
		if counts[n] > 0 {
			used = append(used, n)
		}
	}
	if len(used) > 0 {
		hit(Hit{Entity: Entity{Kind: "plugins", Where: "plugins"}, Detail: fmt.Sprintf("custom %s beside re-prioritized %s", strings.Join(names, ", "), strings.Join(used, ", "))})
	}
}

func confEmpty(key string) func(*Input, func(Hit)) {
	return func(in *Input, hit func(Hit)) {
		if in.XConf == nil {
			return
		}
		v, ok := in.XConf[key]
		if l, isList := v.([]any); ok && (v == nil || isList && len(l) == 0 || v == "") {
			hit(Hit{Field: key, Detail: "not set on X"})
		}
	}
}

func confEquals(key, want string) func(*Input, func(Hit)) {
	return func(in *Input, hit func(Hit)) {
		if str(in.XConf[key]) == want {
			hit(Hit{Field: key, Detail: fmt.Sprintf("%s on X", want)})
		}
	}
}

func routerFlavor(in *Input, hit func(Hit)) {
	if len(in.Content.Routes) > 0 && !traditional(in) {
		hit(Hit{Field: "router_flavor", Detail: fmt.Sprintf("%d routes", len(in.Content.Routes))})
	}
}

func goPlugins(in *Input, hit func(Hit)) {
	if v := str(in.XConf["go_plugins_dir"]); v != "" && v != "off" {
		hit(Hit{Field: "go_plugins_dir", Detail: v})
	}
}

func hybridSkip(in *Input, hit func(Hit)) {
	role := str(in.XConf["role"])
	if role != "" && role != "traditional" && !in.From.AtLeast(3, 0, 0) {
		hit(Hit{Field: "role", Detail: fmt.Sprintf("%s %s → %s", role, in.From, in.To)})
	}
}

func jwtSources(in *Input, hit func(Hit)) {
	for _, p := range in.Content.PluginsNamed("jwt") {
		var used []string
		for _, k := range []string{"uri_param_names", "cookie_names", "header_names"} {
			if len(strs(Config(p)[k])) > 0 {
				used = append(used, k)
			}
		}
		if len(used) > 1 {
			hit(Hit{Entity: p, Field: "config", Detail: strings.Join(used, ", ")})
		}
	}
}

func queueFields(in *Input, hit func(Hit)) {
	defaults := map[string]float64{"retry_count": 10, "queue_size": 1, "flush_timeout": 2}
	for _, p := range in.Content.PluginsNamed("http-log", "statsd", "datadog") {
		for _, k := range []string{"retry_count", "queue_size", "flush_timeout"} {
			if x, ok := num(Config(p)[k]); ok && x != defaults[k] {
				hit(Hit{Entity: p, Field: "config." + k, Detail: fmt.Sprint(x)})
			}
		}
	}
}

func sandboxed(in *Input, hit func(Hit)) {
	for _, p := range in.Content.PluginsNamed("pre-function", "post-function") {
		for k, v := range Config(p) {
			for _, code := range strs(v) {
				if strings.Contains(code, "kong.cache") || strings.Contains(code, "kong.configuration") {
					hit(Hit{Entity: p, Field: "config." + k})
					break
				}
			}
		}
	}
}

func sessionLogout(in *Input, hit func(Hit)) {
	for _, p := range in.Content.PluginsNamed("session") {
		c := Config(p)
		if slices.Contains(strs(c["logout_methods"]), "POST") && c["read_body_for_logout"] != true {
			hit(Hit{Entity: p, Field: "config.read_body_for_logout"})
		}
	}
}

// confHeaders hits when X's headers setting holds any of names (the
// default holds server_tokens and latency_tokens).
func confHeaders(names ...string) func(*Input, func(Hit)) {
	return func(in *Input, hit func(Hit)) {
		for _, h := range strs(in.XConf["headers"]) {
			if slices.Contains(names, h) {
				hit(Hit{Field: "headers", Detail: h + " on X"})
				return
			}
		}
	}
}

func weakKeys(in *Input, hit func(Hit)) {
	for _, c := range in.Content.Certificates {
		blk, _ := pem.Decode([]byte(str(c.Obj["cert"])))
		if blk == nil {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			continue
		}
		switch k := cert.PublicKey.(type) {
		case *rsa.PublicKey:
			if k.N.BitLen() < 2048 {
				hit(Hit{Entity: c, Field: "cert", Detail: fmt.Sprintf("RSA %d bits", k.N.BitLen())})
			}
		case *ecdsa.PublicKey:
			if k.Curve.Params().BitSize < 224 {
				hit(Hit{Entity: c, Field: "cert", Detail: fmt.Sprintf("EC %d bits", k.Curve.Params().BitSize)})
			}
		}
	}
}

var pcre2ClassRE = regexp.MustCompile(`\[[^\]]*\\[wdsWDS]-[^\]]`)

func pcre2Class(in *Input, hit func(Hit)) {
	regexes(in, func(r Entity, field, re string) {
		if m := pcre2ClassRE.FindString(re); m != "" {
			hit(Hit{Entity: r, Field: field, Detail: fmt.Sprintf("%q has %s", re, m)})
		}
	})
}

func nodeID(in *Input, hit func(Hit)) {
	// GET / shows the node's id, set or generated; only kong.conf's own
	// node_id setting is in configuration.
	if v := str(in.XConf["node_id"]); v != "" {
		hit(Hit{Field: "node_id", Detail: v})
	}
}

func keyInQuery(in *Input, hit func(Hit)) {
	for _, p := range in.Content.PluginsNamed("key-auth") {
		c := Config(p)
		if c["hide_credentials"] == true && c["key_in_query"] != false {
			hit(Hit{Entity: p, Field: "config.hide_credentials"})
		}
	}
}

// checkBody hits the plan's checks whose expected body matches re.
func checkBody(re *regexp.Regexp) func(*Input, func(Hit)) {
	return func(in *Input, hit func(Hit)) {
		for _, c := range in.Checks {
			if c.BodyContains != "" && re.MatchString(c.BodyContains) {
				hit(Hit{Entity: Entity{Kind: "check", Name: c.Name, Where: "check." + c.Name}, Field: "expect.body_contains", Detail: c.BodyContains})
			}
		}
	}
}

func checkViaHeader(in *Input, hit func(Hit)) {
	for _, c := range in.Checks {
		for k, v := range c.Headers {
			if strings.EqualFold(k, "via") {
				hit(Hit{Entity: Entity{Kind: "check", Name: c.Name, Where: "check." + c.Name}, Field: "expect.headers." + k, Detail: v})
			}
		}
	}
}
