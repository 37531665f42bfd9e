package migrations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// This file holds the Lua functions of Kong's migrations (up_f and
// teardown), in Go. Kong calls them with its connector after the `up`
// transaction has committed (up_f) or at `finish` (teardown), and each
// connector:query they make is one query of its own: PostgreSQL runs one
// simple query (even of several statements) in one implicit transaction,
// but nothing joins two queries. So a function that stops half-way (a
// killed runner, a timeout) leaves the queries before it applied and the
// migration unrecorded in schema_meta, as here (K: kong/db/init.lua
// run_migrations: up, then up_f, then record_migration; teardown, then
// record_migration).

// luaFunc is one such function.
type luaFunc func(ctx context.Context, c *fnConn) error

// fnConn is the connector a luaFunc gets.
type fnConn struct {
	r *Runner
}

// exec sends one query (several statements allowed, atomic together).
func (c *fnConn) exec(ctx context.Context, sql string, args ...any) error {
	conn, err := c.r.db(ctx)
	if err != nil {
		return errors.New(pgMessage(err))
	}
	bctx, cancel := c.r.bound(ctx)
	if len(args) == 0 {
		err = execSimple(bctx, conn, sql)
	} else {
		_, err = conn.Exec(bctx, sql, args...)
	}
	cancel()
	if err != nil {
		c.r.close()
		return errors.New(pgMessage(err))
	}
	if c.r.afterQuery != nil {
		c.r.afterQuery()
	}
	return nil
}

// rows reads every row of one query (Kong's connector:iterate).
func rows[T any](ctx context.Context, c *fnConn, sql string) ([]T, error) {
	conn, err := c.r.db(ctx)
	if err != nil {
		return nil, errors.New(pgMessage(err))
	}
	bctx, cancel := c.r.bound(ctx)
	defer cancel()
	rs, err := conn.Query(bctx, sql)
	if err == nil {
		var out []T
		out, err = pgx.CollectRows(rs, pgx.RowToStructByPos[T])
		if err == nil {
			return out, nil
		}
	}
	c.r.close()
	return nil, errors.New(pgMessage(err))
}

// runFunc runs f. With faults (teardowns), the step's Slow fault is a
// pg_sleep query before f, and KillAfterCommit / ClientTimeout fire after
// f's last query, before schema_meta records the step.
func (r *Runner) runFunc(ctx context.Context, subsystem, name string, f luaFunc, faults bool) error {
	c := &fnConn{r: r}
	if faults {
		if d := r.opts.Faults.slow(subsystem, name); d > 0 {
			if err := c.exec(ctx, fmt.Sprintf("SELECT pg_sleep(%.3f);", d.Seconds())); err != nil {
				return err
			}
		}
	}
	if f != nil {
		if err := f(ctx, c); err != nil {
			return err
		}
	}
	if !faults {
		return nil
	}
	if r.opts.Faults.match(r.opts.Faults.KillAfterCommit, subsystem, name) {
		if r.opts.Kill != nil {
			r.opts.Kill()
		}
		panic(killed{})
	}
	if r.opts.Faults.match(r.opts.Faults.ClientTimeout, subsystem, name) {
		r.close()
		return errors.New(timeoutMsg)
	}
	return nil
}

// upFunc returns a migration's up_f (nil for none).
func upFunc(subsystem, name string) luaFunc {
	switch subsystem + "/" + name {
	case "core/016_280_to_300":
		return migrateRegexPaths
	case "pre-function/001_280_to_300", "post-function/001_280_to_300":
		return fixupPluginConfig(subsystem, functionsToAccess)
	}
	return nil
}

// teardownFunc returns a migration's teardown (nil for none).
func teardownFunc(subsystem, name string) luaFunc {
	switch subsystem + "/" + name {
	case "core/016_280_to_300":
		return queries(core016TeardownVaults, core016TeardownTargets)
	case "rate-limiting/006_350_to_360", "response-ratelimiting/001_350_to_360":
		return queries(redisMoveTeardown(subsystem))
	case "acme/003_350_to_360":
		return queries(acme003Teardown)
	case "pre-function/001_280_to_300", "post-function/001_280_to_300":
		return fixupPluginConfig(subsystem, dropFunctions)
	case "http-log/001_280_to_300":
		return fixupPluginConfig(subsystem, httpLogHeaders)
	case "opentelemetry/001_331_to_332":
		return fixupPluginConfig(subsystem, otelBatchSize)
	case "ai-proxy/001_360_to_370":
		return fixupPluginConfig(subsystem, aiProxyLogStatistics)
	}
	return nil
}

// queries is a function that sends each of qs as one query.
func queries(qs ...string) luaFunc {
	return func(ctx context.Context, c *fnConn) error {
		for _, q := range qs {
			if err := c.exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	}
}

// core016's teardown: K: kong/db/migrations/core/016_280_to_300.lua
// teardown, two connector:query calls: the pre-3.0 vault tables go; then
// p_update_cache_key removes the older of targets with the same upstream
// and target and fills targets.cache_key. (store.CoreTeardown has the same
// SQL in one piece for CoreSchema.)
const (
	core016TeardownVaults = `DROP TABLE IF EXISTS vaults_beta;
DROP TABLE IF EXISTS vaults;`
	core016TeardownTargets = `DELETE FROM targets t1
      USING targets t2
      WHERE t1.created_at < t2.created_at
        AND t1.upstream_id = t2.upstream_id
        AND t1.target = t2.target;
UPDATE targets SET cache_key = CONCAT('targets:', upstream_id, ':', target, '::::', ws_id);`
)

// migrateRegexPaths is 016's up_f (K: 016_280_to_300.lua
// p_migrate_regex_path): every route's paths through migratePath; a route
// with a changed path gets one UPDATE of its own.
func migrateRegexPaths(ctx context.Context, c *fnConn) error {
	type route struct {
		ID    string
		Paths []string
	}
	rs, err := rows[route](ctx, c, `SELECT id::text, paths FROM routes WHERE paths IS NOT NULL`)
	if err != nil {
		return err
	}
	for _, rt := range rs {
		changed := false
		for i, p := range rt.Paths {
			if np, ch := migratePath(p); ch {
				rt.Paths[i], changed = np, true
			}
		}
		if changed {
			if err := c.exec(ctx, `UPDATE routes SET paths = $1 WHERE id = $2`, rt.Paths, rt.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// notRegex is migrate_path_280_300.lua's is_not_regex: the whole path is
// made of [a-zA-Z0-9.\-_~/%] (ngx.re.find with "a", anchored at the start;
// PCRE's `$` also matches before a final newline).
var notRegex = regexp.MustCompile(`^[a-zA-Z0-9.\-_~/%]*\n?$`)

// migratePath is K: kong/db/migrations/migrate_path_280_300.lua (3.1.0 to
// HEAD; 3.0.0's escapes the same characters): a path that is not a regex
// is normalized (changed when normalizing changes it); a regex gets "~"
// and its percent-encoded triplets decoded one last time.
func migratePath(path string) (string, bool) {
	if notRegex.MatchString(path) {
		n := normalizePath(path, true)
		return n, n != path
	}
	return "~" + normalizeRegex(path), true
}

var pctTriplet = regexp.MustCompile(`(?i)%([0-9a-f]{2})`)

func hexByte(m string) byte {
	n, _ := strconv.ParseUint(m[1:], 16, 8)
	return byte(n)
}

// normalizeRegex: migrate_path_280_300.lua normalize_regex: reserved
// characters stay encoded (upper-cased), regex metacharacters are decoded
// escaped, others decoded.
func normalizeRegex(re string) string {
	if !strings.Contains(re, "%") {
		return re
	}
	return pctTriplet.ReplaceAllStringFunc(re, func(m string) string {
		b := hexByte(m)
		switch {
		case strings.IndexByte("!#$%&'()*+,/:;=?@[]", b) >= 0:
			return strings.ToUpper(m)
		case strings.IndexByte(".^-{}\\|", b) >= 0:
			return `\` + string(rune(b))
		}
		return string([]byte{b})
	})
}

// normalizePath is K: kong/tools/uri.lua normalize (unchanged 3.0–HEAD
// but for escape): unreserved and other triplets decoded, reserved ones
// upper-cased; dot segments removed; with mergeSlashes "//" merged.
func normalizePath(uri string, mergeSlashes bool) string {
	if uri == "" || uri == "/" {
		return uri
	}
	if strings.Contains(uri, "%") {
		uri = pctTriplet.ReplaceAllStringFunc(uri, func(m string) string {
			b := hexByte(m)
			if strings.IndexByte("!*'();:@&=+$,/?%#[]", b) >= 0 {
				return strings.ToUpper(m)
			}
			return string([]byte{b})
		})
	}
	if !strings.Contains(uri, ".") && (!mergeSlashes || !strings.Contains(uri, "//")) {
		return uri
	}
	var out []string
	pop := func() {
		if len(out) > 0 {
			out = out[:len(out)-1]
		}
	}
	for len(uri) > 0 {
		switch {
		case uri == "/.":
			uri = "/"
		case uri == "/..":
			uri = "/"
			pop()
		case uri == "." || uri == "..":
			uri = ""
		case strings.HasPrefix(uri, "../"):
			uri = uri[3:]
		case strings.HasPrefix(uri, "./"):
			uri = uri[2:]
		case strings.HasPrefix(uri, "/./"):
			uri = uri[2:]
		case strings.HasPrefix(uri, "/../"):
			uri = uri[3:]
			pop()
		case mergeSlashes && strings.HasPrefix(uri, "//"):
			uri = uri[1:]
		default:
			if i := strings.IndexByte(uri[1:], '/'); i >= 0 {
				out = append(out, uri[:i+1])
				uri = uri[i+1:]
			} else {
				out = append(out, uri)
				uri = ""
			}
		}
	}
	return strings.Join(out, "")
}

// fixupPluginConfig is K: kong/db/migrations/operations/200_to_210.lua
// (and 280_to_300, 331_to_332) fixup_plugin_config: every plugin of that
// name whose config fix changes gets one UPDATE of its own. The config is
// decoded and re-encoded by encoding/json (Kong uses cjson; key order and
// number spelling may differ, jsonb normalizes both).
func fixupPluginConfig(plugin string, fix func(config map[string]any) bool) luaFunc {
	return func(ctx context.Context, c *fnConn) error {
		type row struct {
			ID, Name, Config string
		}
		rs, err := rows[row](ctx, c, `SELECT id::text, name, COALESCE(config::text, 'null') FROM plugins`)
		if err != nil {
			return err
		}
		for _, p := range rs {
			if p.Name != plugin {
				continue
			}
			var config map[string]any
			dec := json.NewDecoder(strings.NewReader(p.Config))
			dec.UseNumber()
			if err := dec.Decode(&config); err != nil || config == nil {
				continue // a NULL or non-object config: Kong's fix functions would fail or skip it
			}
			if !fix(config) {
				continue
			}
			b, err := json.Marshal(config)
			if err != nil {
				return err
			}
			if err := c.exec(ctx, `UPDATE plugins SET config = $1::jsonb WHERE id = $2`, string(b), p.ID); err != nil {
				return err
			}
		}
		return nil
	}
}

// functionsToAccess: K: kong/plugins/pre-function/migrations/
// _001_280_to_300.lua up_f (pre- and post-function): a non-empty
// config.functions is copied to config.access. Kong's function returns
// true for every plugin, so every config is written back.
func functionsToAccess(config map[string]any) bool {
	if f, ok := config["functions"].([]any); ok && len(f) > 0 {
		config["access"] = f
	}
	return true
}

// dropFunctions: the same file's teardown: a non-empty config.functions
// is removed.
func dropFunctions(config map[string]any) bool {
	if f, ok := config["functions"].([]any); ok && len(f) > 0 {
		delete(config, "functions")
	}
	return true
}

// httpLogHeaders: K: kong/plugins/http-log/migrations/001_280_to_300.lua
// teardown: a header whose value is still an array becomes its values
// joined by ", ", an empty one is removed; headers left empty become null.
func httpLogHeaders(config map[string]any) bool {
	headers, ok := config["headers"].(map[string]any)
	if !ok {
		return false
	}
	updated := false
	for name, v := range headers {
		arr, ok := v.([]any)
		if !ok {
			continue
		}
		if len(arr) == 0 {
			delete(headers, name)
		} else {
			parts := make([]string, len(arr))
			for i, x := range arr {
				parts[i] = luaString(x)
			}
			headers[name] = strings.Join(parts, ", ")
		}
		updated = true
	}
	if updated && len(headers) == 0 {
		config["headers"] = nil
	}
	return updated
}

// luaString is table.concat's view of a value (strings and numbers).
func luaString(x any) string {
	switch v := x.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return fmt.Sprint(x)
}

// otelBatchSize: K: kong/plugins/opentelemetry/migrations/
// 001_331_to_332.lua teardown: queue.max_batch_size 1 becomes 200.
func otelBatchSize(config map[string]any) bool {
	q, ok := config["queue"].(map[string]any)
	if !ok {
		return false
	}
	if n, ok := q["max_batch_size"].(json.Number); ok && n.String() != "" && luaNumber(n) == 1 {
		q["max_batch_size"] = 200
		return true
	}
	return false
}

// aiProxyLogStatistics: K: kong/plugins/ai-proxy/migrations/
// 001_360_to_370.lua teardown: log_statistics is turned off for
// anthropic llm/v1/completions routes.
func aiProxyLogStatistics(config map[string]any) bool {
	logging, _ := config["logging"].(map[string]any)
	model, _ := config["model"].(map[string]any)
	if logging == nil || model == nil {
		return false
	}
	if logging["log_statistics"] == true && config["route_type"] == "llm/v1/completions" && model["provider"] == "anthropic" {
		logging["log_statistics"] = false
		return true
	}
	return false
}

// luaNumber is a JSON number as Lua compares it.
func luaNumber(n json.Number) float64 {
	f, _ := n.Float64()
	return f
}
