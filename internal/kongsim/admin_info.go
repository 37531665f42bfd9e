package kongsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"

	"github.com/upshift-dev/upshift/internal/kongsim/internal/store"
)

// root serves GET / (K: kong/api/routes/kong.lua).
func (n *Node) root(w http.ResponseWriter, r *http.Request) {
	enabled, err := n.enabledPlugins(r)
	if err != nil {
		n.writeErr(w, err)
		return
	}
	body := map[string]any{
		"tagline":     "Welcome to kong",
		"version":     n.version.String(),
		"hostname":    n.hostname,
		"node_id":     n.nodeID,
		"lua_version": "LuaJIT 2.1.0-20231117",
		"timers":      map[string]any{"running": 0, "pending": 1},
		"pids":        map[string]any{"master": n.masterPID, "workers": []int{os.Getpid()}},
		"plugins": map[string]any{
			"available_on_server": n.offer.Available(),
			"enabled_in_cluster":  enabled,
		},
		"configuration": n.configuration(),
	}
	if n.version.AtLeast(3, 6, 0) {
		body["edition"] = n.version.Edition()
	}
	writeJSON(w, http.StatusOK, body)
}

// configuration is GET /'s "configuration": kong.conf values with secrets
// masked as remove_sensitive() does.
func (n *Node) configuration() map[string]any {
	c := map[string]any{
		"database":                       n.cfg.Database,
		"role":                           n.cfg.Role,
		"log_level":                      "notice",
		"plugins":                        n.pluginsSetting(),
		"admin_listen":                   []string{listenOrOff(n.cfg.AdminListen)},
		"proxy_listen":                   []string{listenOrOff(n.cfg.ProxyListen)},
		"status_listen":                  []string{listenOrOff(n.cfg.StatusListen)},
		"cluster_listen":                 []string{listenOrOff(n.cfg.ClusterListen)},
		"cluster_control_plane":          n.cfg.ControlPlane,
		"declarative_config":             nil,
		"prefix":                         "/usr/local/kong",
		"cluster_data_plane_purge_delay": 1209600,
	}
	if n.version.Major >= 3 {
		c["router_flavor"] = "traditional_compatible"
	}
	if n.pgInfo != nil {
		c["pg_host"] = n.pgInfo.host
		c["pg_port"] = n.pgInfo.port
		c["pg_database"] = n.pgInfo.database
		c["pg_user"] = n.pgInfo.user
		if n.pgInfo.hasPassword {
			c["pg_password"] = "******"
		}
	}
	return c
}

// pluginsSetting is GET / configuration.plugins: the setting as given
// (kong.conf's list), ["bundled"] by default.
func (n *Node) pluginsSetting() []string {
	var out []string
	for _, p := range n.cfg.Plugins {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return []string{"bundled"}
	}
	return out
}

func listenOrOff(s string) string {
	if s == "" {
		return "off"
	}
	return s
}

// enabledPlugins is the sorted, distinct list of plugin names configured.
func (n *Node) enabledPlugins(r *http.Request) ([]string, error) {
	if n.pool != nil {
		return n.pluginNamesInUse(r.Context())
	}
	rows, err := n.store.All(r.Context(), n.reg.ByName("plugins"))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := []string{}
	for _, p := range rows {
		name, _ := p["name"].(string)
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// pluginsEnabled serves GET /plugins/enabled.
func (n *Node) pluginsEnabled(w http.ResponseWriter, r *http.Request) {
	names := n.offer.Names()
	writeJSON(w, http.StatusOK, map[string]any{"enabled_plugins": names})
}

// schemas serves /schemas/<entity>, /schemas/plugins/<name> and the
// /validate variants (K: kong/api/routes/kong.lua).
func (n *Node) schemas(w http.ResponseWriter, r *http.Request, segs []string) {
	switch {
	case len(segs) == 2 && segs[0] == "plugins" && segs[1] == "validate":
		n.only(w, r, func(w http.ResponseWriter, r *http.Request) { n.validate(w, r, n.reg.ByName("plugins")) }, http.MethodPost)
	case len(segs) == 2 && segs[0] == "plugins":
		n.only(w, r, func(w http.ResponseWriter, r *http.Request) {
			body, ok := n.offer.Schema(segs[1])
			if !ok {
				writeMessage(w, http.StatusNotFound, fmt.Sprintf("No plugin named '%s'", segs[1]))
				return
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = w.Write(body)
		}, http.MethodGet)
	case len(segs) == 1 || (len(segs) == 2 && segs[1] == "validate"):
		ent := n.reg.ByName(segs[0])
		if ent == nil {
			writeMessage(w, http.StatusNotFound, fmt.Sprintf("No entity named '%s'", segs[0]))
			return
		}
		if len(segs) == 2 {
			n.only(w, r, func(w http.ResponseWriter, r *http.Request) { n.validate(w, r, ent) }, http.MethodPost)
			return
		}
		n.only(w, r, func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, store.SchemaJSON(ent))
		}, http.MethodGet)
	default:
		writeMessage(w, http.StatusNotFound, "Not found")
	}
}

// validate serves POST /schemas/<entity>/validate: 200 {"message":"schema
// validation successful"} or Kong's schema-violation error.
func (n *Node) validate(w http.ResponseWriter, r *http.Request, ent *store.Entity) {
	a, ok := n.readArgs(w, r)
	if !ok {
		return
	}
	if err := n.store.Validate(ent, n.coerce(a, ent, nil)); err != nil {
		n.writeErr(w, err)
		return
	}
	writeMessage(w, http.StatusOK, "schema validation successful")
}

// clustering serves /clustering/data-planes and /clustering/status on a
// control plane (K: kong/api/routes/clustering.lua).
func (n *Node) clustering(w http.ResponseWriter, r *http.Request, segs []string) {
	if len(segs) != 1 || (segs[0] != "data-planes" && segs[0] != "status") {
		writeMessage(w, http.StatusNotFound, "Not found")
		return
	}
	n.only(w, r, func(w http.ResponseWriter, r *http.Request) {
		if n.cp == nil {
			writeMessage(w, http.StatusBadRequest, "this endpoint is only available when Kong is configured to run as Control Plane for the cluster")
			return
		}
		dps := n.cp.DataPlanes()
		if segs[0] == "status" {
			w.Header().Set("Deprecation", "true")
			out := map[string]any{}
			for _, dp := range dps {
				var m map[string]any
				b, _ := json.Marshal(dp)
				_ = json.Unmarshal(b, &m)
				out[fmt.Sprint(m["id"])] = map[string]any{"config_hash": m["config_hash"], "hostname": m["hostname"], "ip": m["ip"], "last_seen": m["last_seen"]}
			}
			writeJSON(w, http.StatusOK, out)
			return
		}
		data := make([]any, len(dps))
		for i, dp := range dps {
			data[i] = dp
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": data, "next": nil})
	}, http.MethodGet)
}
