package prom

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

type statusKey struct{ service, route, code, source, consumer string }
type bwKey struct{ service, route, direction, consumer string }
type histKey struct{ name, service, route, typ string }

// SetEnabledFunc registers how Write learns whether any prometheus plugin
// is configured: from 3.4 Kong prints only the node-local metrics when none
// is (exporter.lua: metric_data(write_fn, not IS_PROMETHEUS_ENABLED)). The
// proxy registers it; without one, the plugin counts as configured.
func (m *Metrics) SetEnabledFunc(f func() bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.enabled = f
}

// Observe records one request as the prometheus plugin's log phase does.
// The caller only calls it when a prometheus plugin applies to the request
// (global, service, route or consumer scope). Kong records nothing for a
// request without a matched route (3.x) or service (2.8).
func (m *Metrics) Observe(o Observation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	consumer := ""
	if o.Flags.PerConsumer {
		consumer = o.Consumer
	}
	code := strconv.Itoa(o.Code)
	if m.version.Major < 3 {
		if o.Service == "" {
			return
		}
		m.status[statusKey{service: o.Service, route: o.Route, code: code}]++
		if consumer != "" {
			m.status[statusKey{service: o.Service, route: o.Route, code: code, consumer: consumer, source: "consumer"}]++
		}
		if o.BytesIngress > 0 {
			m.bw[bwKey{o.Service, o.Route, "ingress", ""}] += float64(o.BytesIngress)
		}
		if o.BytesEgress > 0 {
			m.bw[bwKey{o.Service, o.Route, "egress", ""}] += float64(o.BytesEgress)
		}
		m.observe(histKey{"latency", o.Service, o.Route, "request"}, buckets28, o.RequestMs)
		m.observe(histKey{"latency", o.Service, o.Route, "upstream"}, buckets28, o.UpstreamMs)
		m.observe(histKey{"latency", o.Service, o.Route, "kong"}, buckets28, o.KongMs)
		return
	}
	if o.Route == "" {
		return
	}
	if o.Flags.StatusCode {
		src := "kong"
		if o.FromUpstream {
			src = "service"
		}
		m.status[statusKey{o.Service, o.Route, code, src, consumer}]++
	}
	if o.Flags.Bandwidth {
		if o.BytesIngress > 0 {
			m.bw[bwKey{o.Service, o.Route, "ingress", consumer}] += float64(o.BytesIngress)
		}
		if o.BytesEgress > 0 {
			m.bw[bwKey{o.Service, o.Route, "egress", consumer}] += float64(o.BytesEgress)
		}
	}
	if o.Flags.Latency {
		kb := kongBuckets30
		if m.version.AtLeast(3, 9, 0) {
			kb = kongBuckets39
		}
		m.observe(histKey{"request_latency_ms", o.Service, o.Route, ""}, upstreamBuckets, o.RequestMs)
		m.observe(histKey{"upstream_latency_ms", o.Service, o.Route, ""}, upstreamBuckets, o.UpstreamMs)
		m.observe(histKey{"kong_latency_ms", o.Service, o.Route, ""}, kb, o.KongMs)
	}
}

func (m *Metrics) observe(k histKey, b []float64, v float64) {
	if v < 0 {
		return
	}
	h := m.hist[k]
	if h == nil {
		h = newHistogram(b)
		m.hist[k] = h
	}
	h.observe(v)
}

func (m *Metrics) defs() map[string]metricDef {
	d := map[string]metricDef{
		"nginx_timers":                       {"Number of nginx timers", "gauge"},
		"datastore_reachable":                {"Datastore reachable from Kong, 0 is unreachable", "gauge"},
		"memory_workers_lua_vms_bytes":       {"Allocated bytes in worker Lua VM", "gauge"},
		"memory_lua_shared_dict_bytes":       {"Allocated slabs in bytes in a shared_dict", "gauge"},
		"memory_lua_shared_dict_total_bytes": {"Total capacity in bytes of a shared_dict", "gauge"},
		"nginx_metric_errors_total":          {"Number of nginx-lua-prometheus errors", "counter"},
		"data_plane_last_seen":               {"Last time data plane contacted control plane", "gauge"},
		"data_plane_config_hash":             {"Config hash numeric value of the data plane", "gauge"},
		"data_plane_version_compatible":      {"Version compatible status of the data plane, 0 is incompatible", "gauge"},
		"control_plane_connected":            {"Kong connected to control plane, 0 is unconnected", "gauge"},
	}
	if m.version.Major < 3 {
		d["nginx_http_current_connections"] = metricDef{"Number of HTTP connections", "gauge"}
		d["http_status"] = metricDef{"HTTP status codes per service/route in Kong", "counter"}
		d["http_consumer_status"] = metricDef{"HTTP status codes for customer per service/route in Kong", "counter"}
		d["latency"] = metricDef{"Latency added by Kong, total request time and upstream latency for each service/route in Kong", "histogram"}
		d["bandwidth"] = metricDef{"Total bandwidth in bytes consumed per service/route in Kong", "counter"}
		return d
	}
	d["nginx_connections_total"] = metricDef{"Number of connections by subsystem", "gauge"}
	d["nginx_requests_total"] = metricDef{"Number of requests total", "gauge"}
	d["node_info"] = metricDef{"Kong Node metadata information", "gauge"}
	d["http_requests_total"] = metricDef{"HTTP status codes per consumer/service/route in Kong", "counter"}
	d["kong_latency_ms"] = metricDef{"Latency added by Kong and enabled plugins for each service/route in Kong", "histogram"}
	d["upstream_latency_ms"] = metricDef{"Latency added by upstream response for each service/route in Kong", "histogram"}
	d["request_latency_ms"] = metricDef{"Total latency incurred during requests for each service/route in Kong", "histogram"}
	d["bandwidth_bytes"] = metricDef{"Total bandwidth (ingress/egress) throughput in bytes", "counter"}
	return d
}

// sharedDicts are the lua_shared_dicts reported by the memory metrics, with
// capacities from Kong's nginx template defaults (bytes) and a fixed
// allocation.
var sharedDicts = []struct {
	name     string
	capacity float64
}{
	{"kong", 5 << 20}, {"kong_core_db_cache", 128 << 20}, {"kong_core_db_cache_miss", 12 << 20},
	{"kong_db_cache", 128 << 20}, {"kong_db_cache_miss", 12 << 20}, {"kong_locks", 8 << 20},
	{"kong_rate_limiting_counters", 12 << 20}, {"prometheus_metrics", 5 << 20},
}

func (m *Metrics) write(w io.Writer, s NodeState) error {
	m.mu.Lock()
	enabledFn := m.enabled
	m.mu.Unlock()
	// Asked outside m.mu: the proxy may load its configuration to answer.
	enabled := enabledFn == nil || enabledFn()
	m.mu.Lock()
	v3 := m.version.Major >= 3
	var ss []sample
	add := func(short, name string, ls []label, v float64) {
		key := name + labelKey(ls)
		ss = append(ss, sample{key: key, short: short, line: key + " " + num(v)})
	}
	node := []label{{"node_id", m.nodeID}}
	withNode := func(ls ...label) []label {
		if !v3 {
			return ls
		}
		return append(append([]label{}, node...), ls...)
	}
	// Node-local metrics (prometheus.LOCAL_STORAGE in 3.x).
	conns := []struct {
		state string
		v     int64
	}{{"accepted", s.ConnectionsAccepted}, {"handled", s.ConnectionsHandled}, {"total", s.TotalRequests},
		{"active", s.ConnectionsActive}, {"reading", s.ConnectionsReading}, {"writing", s.ConnectionsWriting},
		{"waiting", s.ConnectionsWaiting}}
	for _, c := range conns {
		if v3 {
			add("nginx_connections_total", "nginx_connections_total", []label{{"node_id", m.nodeID}, {"subsystem", "http"}, {"state", c.state}}, float64(c.v))
		} else {
			add("nginx_http_current_connections", "nginx_http_current_connections", []label{{"state", c.state}}, float64(c.v))
		}
	}
	if v3 {
		add("nginx_requests_total", "nginx_requests_total", []label{{"node_id", m.nodeID}, {"subsystem", "http"}}, float64(s.TotalRequests))
		add("node_info", "node_info", []label{{"node_id", m.nodeID}, {"version", m.version.String()}}, 1)
	}
	add("nginx_timers", "nginx_timers", []label{{"state", "running"}}, 0)
	add("nginx_timers", "nginx_timers", []label{{"state", "pending"}}, 1)
	// kong_datastore_reachable: 3.x exporter asks kong.db.connector:connect(),
	// which in DB-less mode (the off strategy) always succeeds.
	reach := 1.0
	if s.Database != "off" && !s.DatastoreReachable {
		reach = 0
	}
	add("datastore_reachable", "datastore_reachable", nil, reach)
	for _, d := range sharedDicts {
		add("memory_lua_shared_dict_bytes", "memory_lua_shared_dict_bytes", withNode(label{"shared_dict", d.name}, label{"kong_subsystem", "http"}), 40960)
		add("memory_lua_shared_dict_total_bytes", "memory_lua_shared_dict_total_bytes", withNode(label{"shared_dict", d.name}, label{"kong_subsystem", "http"}), d.capacity)
	}
	add("memory_workers_lua_vms_bytes", "memory_workers_lua_vms_bytes", withNode(label{"pid", "1"}, label{"kong_subsystem", "http"}), 52428800)
	switch s.Role {
	case "control_plane":
		for _, dp := range s.DataPlanes {
			ls := []label{{"node_id", dp.NodeID}, {"hostname", dp.Hostname}, {"ip", dp.IP}}
			add("data_plane_last_seen", "data_plane_last_seen", ls, float64(dp.LastSeen.Unix()))
			add("data_plane_config_hash", "data_plane_config_hash", ls, hashNumber(dp.ConfigHash))
			c := 0.0
			if dp.Compatible {
				c = 1
			}
			add("data_plane_version_compatible", "data_plane_version_compatible", append(ls, label{"kong_version", dp.Version}), c)
		}
	case "data_plane":
		c := 0.0
		if s.ControlPlaneConnected {
			c = 1
		}
		add("control_plane_connected", "control_plane_connected", nil, c)
	}
	// Shared-dict metrics: from 3.4 only when a prometheus plugin is configured.
	if enabled || !m.version.AtLeast(3, 4, 0) {
		add("nginx_metric_errors_total", "nginx_metric_errors_total", nil, 0)
		ss = append(ss, m.requestSamples()...)
	}
	m.mu.Unlock()
	_, err := w.Write(render(ss, m.defs()))
	return err
}

// requestSamples renders the per-request counters and histograms.
func (m *Metrics) requestSamples() []sample {
	var ss []sample
	v3 := m.version.Major >= 3
	for k, v := range m.status {
		var name string
		var ls []label
		switch {
		case !v3 && k.source == "consumer":
			name, ls = "http_consumer_status", []label{{"service", k.service}, {"route", k.route}, {"code", k.code}, {"consumer", k.consumer}}
		case !v3:
			name, ls = "http_status", []label{{"service", k.service}, {"route", k.route}, {"code", k.code}}
		default:
			name, ls = "http_requests_total", []label{{"service", k.service}, {"route", k.route}, {"code", k.code}, {"source", k.source}, {"workspace", "default"}, {"consumer", k.consumer}}
		}
		key := name + labelKey(ls)
		ss = append(ss, sample{key: key, short: name, line: key + " " + num(v)})
	}
	for k, v := range m.bw {
		name, ls := "bandwidth_bytes", []label{{"service", k.service}, {"route", k.route}, {"direction", k.direction}, {"workspace", "default"}, {"consumer", k.consumer}}
		if !v3 {
			name, ls = "bandwidth", []label{{"service", k.service}, {"route", k.route}, {"type", k.direction}}
		}
		key := name + labelKey(ls)
		ss = append(ss, sample{key: key, short: name, line: key + " " + num(v)})
	}
	for k, h := range m.hist {
		ls := []label{{"service", k.service}, {"route", k.route}, {"workspace", "default"}}
		if !v3 {
			ls = []label{{"service", k.service}, {"route", k.route}, {"type", k.typ}}
		}
		base := labelKey(ls)
		inner := strings.TrimSuffix(base, "}")
		cum := 0.0
		for i, b := range h.buckets {
			cum = h.counts[i]
			key := fmt.Sprintf("%s_bucket%s,le=\"%012.3f\"}", k.name, inner, b)
			line := fmt.Sprintf("%s_bucket%s,le=\"%s\"} %s", k.name, inner, num(b), num(cum))
			ss = append(ss, sample{key: key, short: k.name, line: line, order: b})
		}
		key := fmt.Sprintf("%s_bucket%s,le=\"Inf\"}", k.name, inner)
		ss = append(ss, sample{key: key, short: k.name, line: fmt.Sprintf("%s_bucket%s,le=\"+Inf\"} %s", k.name, inner, num(h.count))})
		ss = append(ss, sample{key: k.name + "_count" + base, short: k.name, line: k.name + "_count" + base + " " + num(h.count)})
		ss = append(ss, sample{key: k.name + "_sum" + base, short: k.name, line: k.name + "_sum" + base + " " + num(h.sum)})
	}
	return ss
}

// hashNumber is exporter.lua's config_hash_to_number: tonumber("0x"..hash),
// a float in LuaJIT.
func hashNumber(h string) float64 {
	f := 0.0
	for _, c := range strings.ToLower(h) {
		d := strings.IndexRune("0123456789abcdef", c)
		if d < 0 {
			return 0
		}
		f = f*16 + float64(d)
	}
	return f
}
