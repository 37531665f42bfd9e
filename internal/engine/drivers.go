package engine

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/upshift-dev/upshift/internal/analysis"
	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/plan"
)

// Drivers is everything the engine acts and observes through, built from a
// plan by buildDrivers (tests may fill one in directly: Config.Drivers).
type Drivers struct {
	Observer *Observer
	Router   Router     // nil: the plan has no traffic block
	Backups  Backups    // nil: the plan has no backup block
	Checks   []Gate     // the plan's check blocks, in order
	Analyses []Analysis // the plan's analysis blocks, in order
	Hooks    HookRunner // start/stop/freeze hooks; default ExecHooks

	// FromDSN is X's database; ToDSN Y's own (dual-cluster), "" when Y
	// shares X's database or the plan is DB-less.
	FromDSN, ToDSN string
	// Kong is Y's kong CLI (to.kong); its DB is set per call.
	Kong []string
	// ConfigLoaders are Y's DB-less nodes, by node name ("" for the side's
	// own admin_url), that get the backup's declarative configuration.
	ConfigLoaders map[string]ConfigLoader
	// Secrets are the resolved tokens and passwords, blanked out of every
	// error, output and journal line.
	Secrets []string
}

// ConfigLoader loads a declarative configuration into a DB-less node
// (POST /config); *kong.Client implements it.
type ConfigLoader interface {
	PostConfig(ctx context.Context, config []byte) error
}

// HookRunner runs a plan's hook (an argv list, without a shell). The
// output is what the command printed (stdout and stderr), for the journal.
type HookRunner interface {
	Run(ctx context.Context, argv []string) (output string, err error)
}

// BuildDrivers builds the drivers New would build for p (resolving env()
// with lookupEnv), for callers that replace one of them (the sandbox's
// hooks, tests) before passing them as Config.Drivers. It contacts nothing.
func BuildDrivers(p *plan.Plan, lookupEnv func(string) (string, bool)) (*Drivers, error) {
	if p == nil || p.From == nil || p.To == nil {
		return nil, errNoSide
	}
	return buildDrivers(p, lookupEnv)
}

// buildDrivers builds the plan's drivers; it contacts nothing.
func buildDrivers(p *plan.Plan, lookupEnv func(string) (string, bool)) (*Drivers, error) {
	obs, err := NewObserver(p, lookupEnv)
	if err != nil {
		return nil, err
	}
	d := &Drivers{Observer: obs, Hooks: ExecHooks{}, Kong: p.To.Kong.Args, Secrets: obs.secrets}
	b := &observerBuilder{p: p, env: lookupEnv, o: &Observer{}}
	if d.FromDSN, err = b.dsn(p.From.Database); err != nil {
		return nil, fmt.Errorf("from.database: %w", err)
	}
	if d.ToDSN, err = b.dsn(p.To.Database); err != nil {
		return nil, fmt.Errorf("to.database: %w", err)
	}
	if d.ToDSN == d.FromDSN {
		d.ToDSN = ""
	}
	if p.Traffic != nil {
		if d.Router, err = b.router(); err != nil {
			return nil, fmt.Errorf("traffic: %w", err)
		}
	}
	if p.Backup != nil && p.Backup.Dir.Value != "" {
		bd, err := BackupDriver(p, lookupEnv)
		if err != nil {
			return nil, fmt.Errorf("plan %q: %w", p.Name, err)
		}
		d.Backups = bd
	}
	if err := d.buildGates(p, b, obs); err != nil {
		return nil, fmt.Errorf("plan %q: %w", p.Name, err)
	}
	if p.Mode.Value == "dbless" {
		d.ConfigLoaders = map[string]ConfigLoader{}
		if c, err := b.client(p.To.AdminURL, p.To.AdminToken, plan.Value{}, p.To.TLS); err != nil {
			return nil, fmt.Errorf("to: %w", err)
		} else if c != nil {
			d.ConfigLoaders[""] = c
		}
		for _, n := range p.To.Nodes {
			c, err := b.client(n.AdminURL, n.AdminToken, plan.Value{}, nodeTLS(n, p.To))
			if err != nil {
				return nil, fmt.Errorf("to node %q: %w", n.Name, err)
			}
			if c != nil {
				d.ConfigLoaders[n.Name] = c
			}
		}
	}
	d.Secrets = append(d.Secrets, b.o.secrets...)
	return d, nil
}

// buildGates turns check and analysis blocks into gates.
func (d *Drivers) buildGates(p *plan.Plan, b *observerBuilder, obs *Observer) error {
	sideProxies := func(target string) ([]namedURL, error) {
		s := p.To
		if target == "from" {
			s = p.From
		}
		urls, err := namedProxies(b, s)
		if err != nil {
			return nil, err
		}
		if len(urls) == 0 {
			return nil, fmt.Errorf("%s has no proxy_url to send checks to", target)
		}
		return urls, nil
	}
	for _, c := range p.Checks {
		switch {
		case c.DataPlanesSynced.Value:
			var lister analysis.DataPlaneLister
			target := ""
			for _, s := range obs.DataPlanes {
				if s.Source == "to" || s.Source == "control_plane" {
					lister = s.Lister
					if cl, ok := s.Lister.(*kong.Client); ok {
						target = cl.AdminURL()
					}
				}
			}
			if lister == nil {
				return fmt.Errorf("check %q: data_planes_synced needs a hybrid plan's control plane", c.Name)
			}
			g, err := analysis.NewDataPlaneSync(analysis.DataPlaneSyncConfig{Name: c.Name, ControlPlane: lister,
				Target: target, Version: p.To.Version.Value, MinDataPlanes: 1})
			if err != nil {
				return err
			}
			d.Checks = append(d.Checks, g)
		case c.Request != nil:
			targets, err := sideProxies(c.Target.Value)
			if err != nil {
				return fmt.Errorf("check %q: %w", c.Name, err)
			}
			cfg := analysis.HTTPCheckConfig{Name: c.Name, Method: c.Request.Method.Value,
				Path: c.Request.Path.Value, Body: c.Request.Body.Value, Headers: map[string]string{}}
			for k, v := range c.Request.Headers {
				s, err := v.Resolve(b.env)
				if err != nil {
					return fmt.Errorf("check %q: header %s: %w", c.Name, k, err)
				}
				cfg.Headers[k] = s
				d.Secrets = append(d.Secrets, s)
			}
			if e := c.Expect; e != nil {
				cfg.Status, cfg.BodyContains = e.Status.Value, e.BodyContains.Value
				if len(e.Headers) > 0 {
					cfg.ExpectHeaders = map[string]string{}
					for k, v := range e.Headers {
						cfg.ExpectHeaders[k] = v.Value
					}
				}
				if len(e.JSONPath) > 0 {
					cfg.JSONPath = map[string]string{}
					for k, v := range e.JSONPath {
						cfg.JSONPath[k] = v.Value
					}
				}
			}
			// Every proxy the plan lists for the side is judged: one
			// node that fails is enough to keep traffic off Y.
			side := "to"
			if c.Target.Value == "from" {
				side = "from"
			}
			for _, t := range targets {
				cfg.BaseURL = t.url
				g, err := analysis.NewHTTPCheck(cfg)
				if err != nil {
					return err
				}
				d.Checks = append(d.Checks, &proxyCheck{Gate: g, side: side, node: t.name, url: t.url})
			}
		}
	}
	for _, a := range p.Analyses {
		interval := 30 * time.Second
		if a.Interval.Value != "" {
			v, err := a.Interval.Duration()
			if err != nil {
				return fmt.Errorf("analysis %q: interval: %w", a.Name, err)
			}
			interval = v
		}
		policy := analysis.Policy{MinRequests: a.MinRequests.Value, OnNoData: a.OnNoData.Value}
		if a.MaxWindow.Value != "" {
			v, err := a.MaxWindow.Duration()
			if err != nil {
				return fmt.Errorf("analysis %q: max_window: %w", a.Name, err)
			}
			policy.MaxWindow = ScalePause(v) // the window grows with the pauses it extends
		}
		switch {
		case a.Prometheus.Given():
			u, err := a.Prometheus.Resolve(b.env)
			if err != nil {
				return fmt.Errorf("analysis %q: prometheus: %w", a.Name, err)
			}
			cfg := analysis.PrometheusConfig{Name: a.Name, URL: u, Query: a.Query.Value, Interval: interval, Failures: a.Failures.Value,
				Policy: policy, FromVersion: p.From.Version.Value, ToVersion: p.To.Version.Value}
			if a.Margin.Set {
				cfg.Margin = &a.Margin.Value
			}
			if a.Max.Set {
				cfg.Max = &a.Max.Value
			}
			if a.Min.Set {
				cfg.Min = &a.Min.Value
			}
			g, err := analysis.NewPrometheus(cfg)
			if err != nil {
				return err
			}
			d.Analyses = append(d.Analyses, g)
		case a.Compare.Value == "kong_metrics":
			from, err := metricsSide(b, p.From)
			if err != nil {
				return fmt.Errorf("analysis %q: from: %w", a.Name, err)
			}
			to, err := metricsSide(b, p.To)
			if err != nil {
				return fmt.Errorf("analysis %q: to: %w", a.Name, err)
			}
			cfg := analysis.CompareConfig{Name: a.Name, From: from, To: to, Interval: interval, Failures: a.Failures.Value, Policy: policy}
			if a.ErrorRateMargin.Set {
				cfg.ErrorRateMargin = &a.ErrorRateMargin.Value
			}
			if a.P99LatencyMargin.Value != "" {
				v, err := a.P99LatencyMargin.Duration()
				if err != nil {
					return fmt.Errorf("analysis %q: p99_latency_margin: %w", a.Name, err)
				}
				cfg.P99LatencyMargin = &v
			}
			g, err := analysis.NewCompare(cfg)
			if err != nil {
				return err
			}
			d.Analyses = append(d.Analyses, g)
		}
	}
	return nil
}

// metricsSide lists a side's /metrics endpoints: the Status API when
// given, else the Admin API, for the side and each rolling node.
func metricsSide(b *observerBuilder, s *plan.Side) (analysis.MetricsSide, error) {
	out := analysis.MetricsSide{Version: s.Version.Value}
	name := "" // the rolling node's, for the per-node breakdown
	add := func(admin, status, token plan.Value, tc *plan.TLS) error {
		u, err := b.resolve(status, false)
		if err != nil {
			return err
		}
		if u == "" {
			if u, err = b.resolve(admin, false); err != nil {
				return err
			}
			tok, err := b.resolve(token, true)
			if err != nil {
				return err
			}
			if tok != "" {
				out.Header = http.Header{"Kong-Admin-Token": []string{tok}}
			}
		}
		if u != "" {
			mu, err := url.JoinPath(u, "metrics")
			if err != nil {
				return err
			}
			var hc *http.Client // nil: the analysis's default client
			if tc != nil {
				t, err := b.tls(tc)
				if err != nil {
					return err
				}
				if hc, err = t.HTTPClient(10 * time.Second); err != nil {
					return err
				}
			}
			out.URLs = append(out.URLs, mu)
			out.Names = append(out.Names, name)
			out.Clients = append(out.Clients, hc)
		}
		return nil
	}
	if err := add(s.AdminURL, s.StatusURL, s.AdminToken, s.TLS); err != nil {
		return out, err
	}
	for _, n := range s.Nodes {
		name = n.Name
		if err := add(n.AdminURL, n.StatusURL, n.AdminToken, nodeTLS(n, s)); err != nil {
			return out, err
		}
	}
	return out, nil
}

// proxyCheck is a check block's request sent to one proxy of its side:
// the side's proxy_url or one rolling node's.
type proxyCheck struct {
	Gate
	side string // "to" | "from"
	node string // the rolling node's name; "" for the side's proxy_url
	url  string
}

// checkLabel names a check and, for a request, the proxy it went to.
func checkLabel(g Gate) string {
	pc, ok := g.(*proxyCheck)
	if !ok {
		return g.Name()
	}
	who := "Y"
	if pc.side == "from" {
		who = "X"
	}
	if pc.node != "" {
		who += " node " + pc.node
	}
	return fmt.Sprintf("%s on %s (%s)", pc.Name(), who, pc.url)
}

// yRequest: g is a request sent to one of Y's proxies (to node's, when
// node is not "*"). Other checks (data_planes_synced watches for 30 s)
// run only in the checks step.
func yRequest(g Gate, node string) bool {
	pc, ok := g.(*proxyCheck)
	return ok && pc.side == "to" && (node == "*" || pc.node == node)
}

// namedURL is a proxy address and the rolling node it belongs to ("" for
// the side's own proxy_url).
type namedURL struct{ name, url string }

// namedProxies lists a side's proxy addresses as observerBuilder.proxies
// does, each with its node's name.
func namedProxies(b *observerBuilder, s *plan.Side) ([]namedURL, error) {
	var out []namedURL
	v, err := b.resolve(s.ProxyURL, false)
	if err != nil {
		return nil, err
	}
	if v != "" {
		out = append(out, namedURL{"", v})
	}
	for _, n := range s.Nodes {
		v, err := b.resolve(n.ProxyURL, false)
		if err != nil {
			return nil, fmt.Errorf("node %q: %w", n.Name, err)
		}
		if v != "" {
			out = append(out, namedURL{n.Name, v})
		}
	}
	return out, nil
}
