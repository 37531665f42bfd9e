package proxy

import (
	"log/slog"

	"github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// state is a Config compiled for serving: the router and the lookups the
// plugins need.
type state struct {
	v           kongrelease.Version
	matchers    []*matcher
	plugins     []*kong.Plugin // enabled plugins
	consumers   map[string]*kong.Consumer
	keys        map[string][]*kong.KeyAuth // key -> credentials (Kong's key is unique)
	groups      map[string][]string        // consumer id -> ACL groups
	promEnabled bool
}

func build(v kongrelease.Version, cfg *Config, log *slog.Logger) *state {
	st := &state{v: v, consumers: map[string]*kong.Consumer{}, keys: map[string][]*kong.KeyAuth{}, groups: map[string][]string{}}
	services := map[string]*kong.Service{}
	for _, s := range cfg.Services {
		if s != nil && s.ID != nil {
			services[*s.ID] = s
		}
	}
	st.matchers = buildMatchers(v, cfg, services, log)
	for _, p := range cfg.Plugins {
		if p == nil || p.Name == nil || (p.Enabled != nil && !*p.Enabled) {
			continue
		}
		st.plugins = append(st.plugins, p)
		if *p.Name == "prometheus" {
			st.promEnabled = true
		}
	}
	for _, c := range cfg.Consumers {
		if c != nil && c.ID != nil {
			st.consumers[*c.ID] = c
		}
	}
	for _, k := range cfg.KeyAuths {
		if k != nil && k.Key != nil {
			st.keys[*k.Key] = append(st.keys[*k.Key], k)
		}
	}
	for _, a := range cfg.ACLs {
		if a != nil && a.Consumer != nil && a.Consumer.ID != nil && a.Group != nil {
			st.groups[*a.Consumer.ID] = append(st.groups[*a.Consumer.ID], *a.Group)
		}
	}
	return st
}

func idOf(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// pluginFor returns the configuration of plugin name that applies to a
// request, by Kong's precedence (kong/runloop/plugins_iterator.lua): the
// most specific of consumer+route+service, consumer+route,
// consumer+service, route+service, consumer, route, service, global.
// Consumer-scoped configurations apply only once a consumer is identified.
func (st *state) pluginFor(name, routeID, serviceID, consumerID string) *kong.Plugin {
	best, bestRank := (*kong.Plugin)(nil), 99
	for _, p := range st.plugins {
		if *p.Name != name {
			continue
		}
		r, s, c := "", "", ""
		if p.Route != nil {
			r = idOf(p.Route.ID)
		}
		if p.Service != nil {
			s = idOf(p.Service.ID)
		}
		if p.Consumer != nil {
			c = idOf(p.Consumer.ID)
		}
		if (r != "" && r != routeID) || (s != "" && s != serviceID) || (c != "" && c != consumerID) {
			continue
		}
		rank := 0
		switch {
		case c != "" && r != "" && s != "":
			rank = 1
		case c != "" && r != "":
			rank = 2
		case c != "" && s != "":
			rank = 3
		case r != "" && s != "":
			rank = 4
		case c != "":
			rank = 5
		case r != "":
			rank = 6
		case s != "":
			rank = 7
		default:
			rank = 8
		}
		if rank < bestRank {
			best, bestRank = p, rank
		}
	}
	return best
}
