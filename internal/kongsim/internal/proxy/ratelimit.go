package proxy

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/kong/go-kong/kong"
)

// counterStore holds rate-limiting counters. The local policy uses the
// node's own store (Kong's shared dict); the cluster policy (counters in the
// database) and the redis policy (no Redis here) use sharedCounters, keyed by
// plugin id and by the Redis address the config names, so nodes of one
// process that share a database or "a Redis" share counts (FIDELITY).
type counterStore struct {
	mu sync.Mutex
	m  map[string]int64
}

func newCounterStore() *counterStore { return &counterStore{m: map[string]int64{}} }

// sharedCounters emulates counters kept outside the node.
var sharedCounters = newCounterStore()

// periods in Kong's order with their window lengths in seconds
// (kong/plugins/rate-limiting/expiration.lua).
var periods = []struct {
	name, title string
	window      int64
}{
	{"second", "Second", 1}, {"minute", "Minute", 60}, {"hour", "Hour", 3600},
	{"day", "Day", 86400}, {"month", "Month", 2592000}, {"year", "Year", 31536000},
}

// periodStart is the start of the period containing t (UTC), as Kong's
// timestamp.get_timestamps computes it.
func periodStart(name string, t time.Time) time.Time {
	t = t.UTC()
	switch name {
	case "second":
		return t.Truncate(time.Second)
	case "minute":
		return t.Truncate(time.Minute)
	case "hour":
		return t.Truncate(time.Hour)
	case "day":
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case "month":
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
}

func cfgNumber(c kong.Configuration, k string) (float64, bool) {
	switch n := c[k].(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// redisAddr returns the Redis address the rate-limiting plugin reads for
// policy=redis: the flat redis_host/redis_port up to 3.5, config.redis.* from
// 3.6 (kong/plugins/rate-limiting/policies/init.lua at each tag). ok is
// false when the host is missing, which in Kong is a Lua runtime error in
// the access phase (red:connect(nil, ...)), answered with 500.
func redisAddr(rc *reqCtx, conf kong.Configuration) (string, bool) {
	var host string
	var port float64 = 6379
	if rc.v.AtLeast(3, 6, 0) {
		r, _ := conf["redis"].(map[string]any)
		host, _ = r["host"].(string)
		if p, ok := cfgNumber(kong.Configuration(r), "port"); ok {
			port = p
		}
	} else {
		host, _ = cfgString(conf, "redis_host")
		if p, ok := cfgNumber(conf, "redis_port"); ok {
			port = p
		}
	}
	if host == "" {
		return "", false
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port))), true
}

// rateLimit runs rate-limiting's access phase (kong/plugins/rate-limiting/handler.lua).
func (h *Handler) rateLimit(w http.ResponseWriter, rc *reqCtx, p *kong.Plugin) bool {
	conf := p.Config
	policy, _ := cfgString(conf, "policy")
	// Kong's counter key names the plugin's route and service ids
	// (policies/init.lua get_service_and_route_ids); local counters live in
	// the node, cluster ones in the database, redis ones in Redis.
	var pr, ps string
	if p.Route != nil {
		pr = idOf(p.Route.ID)
	}
	if p.Service != nil {
		ps = idOf(p.Service.ID)
	}
	scope := "local|" + pr + "|" + ps
	switch policy {
	case "redis":
		addr, ok := redisAddr(rc, conf)
		if !ok {
			where := "config.redis.host"
			if !rc.v.AtLeast(3, 6, 0) {
				where = "config.redis_host"
			}
			h.log.Error("rate-limiting: policy redis without a Redis host; Kong fails the request with a Lua error in the access phase",
				"plugin", idOf(p.ID), "missing", where)
			rc.kongResponse(w, http.StatusInternalServerError, msgUnexpected, nil)
			return false
		}
		scope = "redis:" + addr + "|" + pr + "|" + ps
	case "cluster":
		scope = "cluster|" + pr + "|" + ps
	}
	store := h.counters
	if policy == "redis" || policy == "cluster" {
		store = sharedCounters
	}
	id := h.rlIdentifier(rc, conf)
	now := time.Now()
	type use struct {
		name, title     string
		limit, remain   int64
		window, started int64
	}
	var uses []use
	var stop *use
	store.mu.Lock()
	for _, per := range periods {
		lim, ok := cfgNumber(conf, per.name)
		if !ok {
			continue
		}
		start := periodStart(per.name, now)
		key := fmt.Sprintf("%s|%s|%s|%d", scope, id, per.name, start.Unix())
		u := use{name: per.name, title: per.title, limit: int64(lim), remain: int64(lim) - store.m[key], window: per.window, started: start.Unix()}
		uses = append(uses, u)
		if u.remain <= 0 && stop == nil {
			s := u
			stop = &s
		}
	}
	if stop == nil {
		for _, per := range periods {
			if _, ok := cfgNumber(conf, per.name); ok {
				store.m[fmt.Sprintf("%s|%s|%s|%d", scope, id, per.name, periodStart(per.name, now).Unix())]++
			}
		}
	}
	store.mu.Unlock()
	if len(uses) == 0 {
		return true
	}
	hide := cfgBool(conf, "hide_client_headers", false)
	hdr := http.Header{}
	if !hide {
		var best *use
		var bestRemain int64
		for i := range uses {
			u := &uses[i]
			rem := u.remain
			if stop == nil || stop.name == u.name {
				rem--
			}
			if rem < 0 {
				rem = 0
			}
			if best == nil || rem < bestRemain || (rem == bestRemain && u.window > best.window) {
				best, bestRemain = u, rem
			}
			hdr.Set("X-RateLimit-Limit-"+u.title, strconv.FormatInt(u.limit, 10))
			hdr.Set("X-RateLimit-Remaining-"+u.title, strconv.FormatInt(rem, 10))
		}
		reset := best.window - (now.Unix() - best.started)
		if reset < 1 {
			reset = 1
		}
		hdr.Set("RateLimit-Limit", strconv.FormatInt(best.limit, 10))
		hdr.Set("RateLimit-Remaining", strconv.FormatInt(bestRemain, 10))
		hdr.Set("RateLimit-Reset", strconv.FormatInt(reset, 10))
		if stop != nil {
			hdr.Set("Retry-After", strconv.FormatInt(reset, 10))
		}
	}
	if stop != nil {
		code := http.StatusTooManyRequests
		if c, ok := cfgNumber(conf, "error_code"); ok {
			code = int(c)
		}
		msg := "API rate limit exceeded"
		if m, ok := cfgString(conf, "error_message"); ok && m != "" {
			msg = m
		}
		rc.kongResponse(w, code, msg, hdr)
		return false
	}
	for k, vs := range hdr {
		rc.respHeaders[k] = vs
	}
	return true
}

// rlIdentifier is get_identifier: what the limit counts by, the client IP
// by default and as fallback.
func (h *Handler) rlIdentifier(rc *reqCtx, conf kong.Configuration) string {
	by, _ := cfgString(conf, "limit_by")
	id := ""
	switch by {
	case "service":
		if rc.m.service != nil {
			id = idOf(rc.m.service.ID)
		}
	case "consumer":
		if rc.consumer != nil {
			id = idOf(rc.consumer.ID)
		} else if rc.cred != nil {
			id = idOf(rc.cred.ID)
		}
	case "credential":
		if rc.cred != nil {
			id = idOf(rc.cred.ID)
		}
	case "header":
		name, _ := cfgString(conf, "header_name")
		id = rc.req.Header.Get(name)
	case "path":
		if p, _ := cfgString(conf, "path"); p == rc.req.URL.Path {
			id = p
		}
	}
	if id == "" {
		ip, _, err := net.SplitHostPort(rc.req.RemoteAddr)
		if err != nil {
			ip = rc.req.RemoteAddr
		}
		id = ip
	}
	return id
}
