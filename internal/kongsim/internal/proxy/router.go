package proxy

import (
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// matcher is one route (or, in 3.x, one group of a route's paths sharing a
// priority, as kong/router/transform.lua splits them) with its priority.
type matcher struct {
	route    *kong.Route
	service  *kong.Service
	priority uint64
	hosts    []string
	methods  map[string]bool
	prefixes []string
	regexes  []*regexp.Regexp
	hasPaths bool
	order    int
}

// Priority bits (kong/router/transform.lua get_priority, 3.x).
const (
	plainHostOnlyBit = uint64(1) << 60
	regexURLBit      = uint64(1) << 51
)

// isRegexPath says whether a route path is a regex for this version:
// "~"-prefixed from 3.0; in 2.8 any path with a character outside
// [A-Za-z0-9._~/%-] (kong@2.8.5 kong/router.lua, the same test as
// kong-breaking-changes "Detection notes" 3).
func isRegexPath(v kongrelease.Version, p string) (bool, string) {
	if v.Major >= 3 {
		if strings.HasPrefix(p, "~") {
			return true, p[1:]
		}
		return false, p
	}
	for _, r := range p {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("._~/%-", r)) {
			return true, p
		}
	}
	return false, p
}

// buildMatchers compiles the routes. Routes whose regex does not compile in
// Go's RE2 are skipped with a log line (Kong would refuse them at write
// time; PCRE features missing in RE2 are a FIDELITY gap).
func buildMatchers(v kongrelease.Version, cfg *Config, services map[string]*kong.Service, log *slog.Logger) []*matcher {
	var out []*matcher
	for i, r := range cfg.Routes {
		var svc *kong.Service
		if r.Service != nil && r.Service.ID != nil {
			svc = services[*r.Service.ID]
		}
		base := matcher{route: r, service: svc, order: i}
		for _, h := range r.Hosts {
			if h != nil {
				base.hosts = append(base.hosts, strings.ToLower(*h))
			}
		}
		if len(r.Methods) > 0 {
			base.methods = map[string]bool{}
			for _, m := range r.Methods {
				if m != nil {
					base.methods[strings.ToUpper(*m)] = true
				}
			}
		}
		// Group paths: regexes together, prefixes by length.
		groups := map[int]*matcher{}
		var keys []int
		for _, pp := range r.Paths {
			if pp == nil {
				continue
			}
			isRe, expr := isRegexPath(v, *pp)
			k := len(*pp)
			if isRe {
				k = -1
			}
			if v.Major < 3 {
				k = 0 // 2.8's traditional router keeps a route's paths together
			}
			g := groups[k]
			if g == nil {
				c := base
				c.hasPaths = true
				g = &c
				groups[k] = g
				keys = append(keys, k)
			}
			if isRe {
				re, err := regexp.Compile("^(?:" + expr + ")")
				if err != nil {
					log.Warn("proxy: route path regex not supported, route skipped", "route", routeLabel(r), "path", *pp, "err", err)
					continue
				}
				g.regexes = append(g.regexes, re)
			} else {
				g.prefixes = append(g.prefixes, *pp)
			}
		}
		if len(keys) == 0 {
			m := base
			out = append(out, &m)
			continue
		}
		sort.Ints(keys)
		for _, k := range keys {
			out = append(out, groups[k])
		}
	}
	for _, m := range out {
		m.priority = priority(m)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].priority != out[j].priority {
			return out[i].priority > out[j].priority
		}
		// Equal priority: the older route first (kong@2.8.5 kong/router.lua
		// sort_routes), then the configuration's order.
		ci, cj := createdAt(out[i].route), createdAt(out[j].route)
		if ci != cj && ci != 0 && cj != 0 {
			return ci < cj
		}
		return out[i].order < out[j].order
	})
	return out
}

// priority follows kong/router/transform.lua get_priority (3.x). The same
// ordering is used for 2.8 (FIDELITY: 2.8's traditional router orders by
// match categories, then regex_priority, then prefix length, which agrees for
// the host/path/method routes kongsim supports).
func priority(m *matcher) uint64 {
	var weight uint64
	if len(m.methods) > 0 {
		weight++
	}
	if len(m.hosts) > 0 {
		weight++
	}
	var p uint64
	plain := len(m.hosts) > 0
	for _, h := range m.hosts {
		if strings.Contains(h, "*") {
			plain = false
		}
	}
	if plain {
		p |= plainHostOnlyBit
	}
	if m.hasPaths {
		weight++
		if len(m.regexes) > 0 && len(m.prefixes) == 0 {
			p |= regexURLBit
			rp := 0
			if m.route.RegexPriority != nil {
				rp = *m.route.RegexPriority
			}
			p |= (uint64(rp) & 0xFFFFFFFF) << 19
		} else {
			maxLen := 0
			for _, pre := range m.prefixes {
				if len(pre) > maxLen {
					maxLen = len(pre)
				}
			}
			p |= uint64(maxLen) & 0x7FFFF
		}
	}
	return weight<<61 | p
}

// match returns the first matcher that accepts the request and the part of
// the path it matched (for strip_path).
func match(ms []*matcher, r *http.Request) (*matcher, string) {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	for _, m := range ms {
		if m.methods != nil && !m.methods[r.Method] {
			continue
		}
		if len(m.hosts) > 0 && !hostMatches(m.hosts, host) {
			continue
		}
		if !m.hasPaths {
			return m, ""
		}
		if len(m.regexes) > 0 {
			for _, re := range m.regexes {
				if loc := re.FindStringIndex(path); loc != nil {
					return m, path[:loc[1]]
				}
			}
		}
		best := ""
		found := false
		for _, pre := range m.prefixes {
			if strings.HasPrefix(path, pre) && (!found || len(pre) > len(best)) {
				best, found = pre, true
			}
		}
		if found {
			return m, best
		}
	}
	return nil, ""
}

// hostMatches implements Kong's host matching: exact, leading wildcard
// (*.example.com) or trailing wildcard (example.*). A host with a port
// ("example.com:8000") matches only that port (not emulated: ports in
// route hosts are compared without the port).
func hostMatches(hosts []string, host string) bool {
	for _, h := range hosts {
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
		switch {
		case h == host:
			return true
		case strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) && len(host) > len(h)-1:
			return true
		case strings.HasSuffix(h, ".*") && strings.HasPrefix(host, h[:len(h)-1]) && len(host) > len(h)-1:
			return true
		}
	}
	return false
}

func routeLabel(r *kong.Route) string {
	if r.Name != nil {
		return *r.Name
	}
	if r.ID != nil {
		return *r.ID
	}
	return ""
}

func createdAt(r *kong.Route) int {
	if r.CreatedAt == nil {
		return 0
	}
	return *r.CreatedAt
}
