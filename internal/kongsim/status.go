package kongsim

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strconv"

	"github.com/upshift-dev/upshift/internal/kongsim/internal/prom"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/store"
)

// status serves GET /status on the Admin and Status APIs
// (K: kong/api/routes/health.lua).
func (n *Node) status(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	unit := "m"
	if u := q.Get("unit"); u != "" {
		switch u {
		case "b", "B", "k", "K", "m", "M", "g", "G":
			unit = u
		default:
			writeMessage(w, http.StatusBadRequest, "invalid unit '"+u+"' (expected 'k/K', 'm/M', or 'g/G')")
			return
		}
	}
	scale := 2
	if s := q.Get("scale"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			writeMessage(w, http.StatusBadRequest, "invalid scale '"+s+"' (expected a non-negative integer)")
			return
		}
		scale = v
	}
	size := func(bytes float64) string {
		switch unit {
		case "b", "B":
			return fmt.Sprintf("%d bytes", int64(bytes))
		case "k", "K":
			return fmt.Sprintf("%.*f KiB", scale, bytes/1024)
		case "g", "G":
			return fmt.Sprintf("%.*f GiB", scale, bytes/(1<<30))
		}
		return fmt.Sprintf("%.*f MiB", scale, bytes/(1<<20))
	}
	reqs := n.requests.Load()
	body := map[string]any{
		"memory": map[string]any{
			"workers_lua_vms":  []any{map[string]any{"http_allocated_gc": size(20 << 10), "pid": os.Getpid()}},
			"lua_shared_dicts": map[string]any{"kong": map[string]any{"allocated_slabs": size(40 << 10), "capacity": size(5 << 20)}},
		},
		"server": map[string]any{"total_requests": reqs, "connections_active": 1, "connections_accepted": reqs,
			"connections_handled": reqs, "connections_reading": 0, "connections_writing": 1, "connections_waiting": 0},
	}
	if n.dbless() {
		h := n.configHash()
		if h == "" {
			h = store.EmptyConfigHash
		}
		body["configuration_hash"] = h
	} else {
		body["database"] = map[string]any{"reachable": n.dbReachable(r)}
	}
	writeJSON(w, http.StatusOK, body)
}

// dbReachable is kong.db:connect() succeeding.
func (n *Node) dbReachable(r *http.Request) bool {
	if !n.faults.dbReachable() {
		return false
	}
	return n.pool.Ping(r.Context()) == nil
}

// statusAPI serves the Status API (K: kong/status/init.lua, ready.lua):
// /status, /status/ready (≥3.3; POST draining ≥3.9) and /metrics.
func (n *Node) statusAPI(w http.ResponseWriter, r *http.Request) {
	if n.faults.intercept(w, r, "status") {
		return
	}
	switch r.URL.Path {
	case "/status", "/status/":
		n.only(w, r, n.status, http.MethodGet)
	case "/metrics":
		n.only(w, r, n.metricsHandler, http.MethodGet)
	case "/status/ready":
		if !n.version.AtLeast(3, 3, 0) {
			writeMessage(w, http.StatusNotFound, "Not found")
			return
		}
		methods := []string{http.MethodGet}
		if n.version.AtLeast(3, 9, 0) {
			methods = append(methods, http.MethodPost)
		}
		n.only(w, r, n.ready, methods...)
	default:
		writeMessage(w, http.StatusNotFound, "Not found")
	}
}

// ready is GET/POST /status/ready.
func (n *Node) ready(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		_ = r.ParseForm()
		st := r.Form.Get("status")
		if st == "" {
			if b, ok := readBody(r); ok {
				st, _ = b["status"].(string)
			}
		}
		if st != "draining" {
			writeMessage(w, http.StatusBadRequest, "invalid status")
			return
		}
		n.draining.Store(true)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if msg := n.notReady(r); msg != "" {
		writeMessage(w, http.StatusServiceUnavailable, msg)
		return
	}
	writeMessage(w, http.StatusOK, "ready")
}

// notReady returns the reason Kong gives for not being ready, "" if ready.
// Routers and plugin iterators are built at once in kongsim, so the
// "router builds not yet complete" reasons never occur.
func (n *Node) notReady(r *http.Request) string {
	if n.draining.Load() {
		return "draining"
	}
	if !n.dbless() {
		if !n.dbReachable(r) {
			return "failed to connect to database"
		}
		return ""
	}
	switch n.configHash() {
	case "":
		return "no configuration available (configuration hash is not initialized)"
	case store.EmptyConfigHash:
		return "no configuration available (empty configuration present)"
	}
	return ""
}

// metricsHandler serves /metrics as the prometheus plugin does.
func (n *Node) metricsHandler(w http.ResponseWriter, r *http.Request) {
	st := prom.NodeState{Role: n.cfg.Role, Database: n.cfg.Database, TotalRequests: n.requests.Load(),
		ConnectionsAccepted: n.requests.Load(), ConnectionsHandled: n.requests.Load(), ConnectionsActive: 1, ConnectionsWriting: 1}
	if !n.dbless() {
		st.DatastoreReachable = n.dbReachable(r)
	}
	if n.dp != nil {
		st.ControlPlaneConnected = n.dp.Connected()
	}
	if n.cp != nil {
		st.DataPlanes = n.cp.PromDataPlanes()
	}
	var buf bytes.Buffer
	if err := n.metrics.Write(&buf, st); err != nil {
		n.writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	_, _ = w.Write(buf.Bytes())
}
