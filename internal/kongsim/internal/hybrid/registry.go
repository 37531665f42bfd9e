package hybrid

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/prom"
)

// Snapshot is the control plane's current declarative configuration.
type Snapshot struct {
	// Body is sent to data planes as is (the node's declarative config JSON).
	Body []byte
	// Plugins are the names of the plugins the configuration uses; a data
	// plane that lacks one is plugin_set_incompatible.
	Plugins []string
}

// RegistryOptions configure a control plane's Registry.
type RegistryOptions struct {
	Version kongrelease.Version
	// Config returns the configuration to push; it is called on every pull.
	Config func(ctx context.Context) (Snapshot, error)
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// PurgeDelay is cluster_data_plane_purge_delay (Kong's default 1209600 s).
	PurgeDelay time.Duration
}

// Registry is a control plane's list of data planes. It is safe for
// concurrent use.
type Registry struct {
	opts RegistryOptions
	log  *slog.Logger

	mu  sync.Mutex
	dps map[string]*DataPlane
}

// NewRegistry returns an empty registry.
func NewRegistry(opts RegistryOptions) *Registry {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PurgeDelay == 0 {
		opts.PurgeDelay = 1209600 * time.Second
	}
	r := &Registry{opts: opts, log: opts.Logger, dps: map[string]*DataPlane{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r
}

// Handler serves the control plane's side of the pull protocol on the
// cluster listener: POST /v1/dp/report and GET /v1/config?node_id=ID.
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/dp/report", r.serveReport)
	mux.HandleFunc("GET /v1/config", r.serveConfig)
	return mux
}

// Accept records a data plane's report and decides its sync status:
// kong_version_incompatible when the version rule rejects it,
// plugin_set_incompatible when a plugin the configuration uses is missing
// from its plugin list, normal when its config hash is the current one,
// unknown while it has not applied it yet.
func (r *Registry) Accept(ctx context.Context, rep Report, ip string) (ReportAnswer, error) {
	dpv, err := kongrelease.Parse(rep.Version)
	if err != nil {
		return ReportAnswer{}, fmt.Errorf("data plane %q: %w", rep.NodeID, err)
	}
	if rep.NodeID == "" {
		return ReportAnswer{}, fmt.Errorf("data plane report without node_id")
	}
	ans := ReportAnswer{SyncStatus: StatusNormal}
	if ok, why := kongrelease.DataPlaneAccepted(r.opts.Version, dpv); !ok {
		ans = ReportAnswer{SyncStatus: StatusKongVersionIncompat, Message: why}
	} else {
		snap, err := r.snapshot(ctx)
		if err != nil {
			return ReportAnswer{}, err
		}
		have := map[string]bool{}
		for _, p := range rep.Plugins {
			have[p] = true
		}
		var missing []string
		for _, p := range snap.Plugins {
			if !have[p] {
				missing = append(missing, p)
			}
		}
		sort.Strings(missing)
		ans.ConfigHash = hashOf(snap.Body)
		switch {
		case len(missing) > 0:
			ans = ReportAnswer{SyncStatus: StatusPluginSetIncompatible,
				Message: fmt.Sprintf("plugins %s are configured on the control plane but missing on the data plane", strings.Join(missing, ", "))}
		case rep.ConfigHash != ans.ConfigHash:
			ans.SyncStatus = StatusUnknown
		}
	}
	if ans.SyncStatus == StatusKongVersionIncompat || ans.SyncStatus == StatusPluginSetIncompatible {
		r.log.Warn("hybrid: data plane rejected", "node_id", rep.NodeID, "version", rep.Version, "reason", ans.Message)
	}
	now := r.opts.Now()
	hash := rep.ConfigHash
	if hash == "" {
		hash = emptyConfigHash
	}
	r.mu.Lock()
	r.dps[rep.NodeID] = &DataPlane{ID: rep.NodeID, IP: ip, Hostname: rep.Hostname, Version: rep.Version,
		SyncStatus: ans.SyncStatus, ConfigHash: hash, LastSeen: now, Labels: rep.Labels,
		CertExpiry: rep.CertExpiry, Plugins: rep.Plugins}
	r.mu.Unlock()
	return ans, nil
}

// Config returns the configuration for an accepted data plane; ok is false
// for a data plane never seen or rejected (Kong sends it no configuration).
func (r *Registry) Config(ctx context.Context, nodeID string) (body []byte, hash string, ok bool, err error) {
	r.mu.Lock()
	dp := r.dps[nodeID]
	r.mu.Unlock()
	if dp == nil || dp.SyncStatus == StatusKongVersionIncompat || dp.SyncStatus == StatusPluginSetIncompatible {
		return nil, "", false, nil
	}
	snap, err := r.snapshot(ctx)
	if err != nil {
		return nil, "", false, err
	}
	return snap.Body, hashOf(snap.Body), true, nil
}

// DataPlanes lists the data planes seen within the purge delay, ordered by
// id, each rendering as GET /clustering/data-planes shows it.
func (r *Registry) DataPlanes() []DataPlane {
	now := r.opts.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []DataPlane
	for id, dp := range r.dps {
		exp := dp.LastSeen.Add(r.opts.PurgeDelay)
		if !now.Before(exp) {
			delete(r.dps, id)
			continue
		}
		d := *dp
		d.cp, d.expires, d.now = r.opts.Version, exp, now
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// PromDataPlanes is DataPlanes for the control plane's /metrics.
func (r *Registry) PromDataPlanes() []prom.DataPlane {
	var out []prom.DataPlane
	for _, d := range r.DataPlanes() {
		out = append(out, prom.DataPlane{NodeID: d.ID, Hostname: d.Hostname, IP: d.IP, Version: d.Version,
			ConfigHash: d.ConfigHash, LastSeen: d.LastSeen,
			Compatible: d.SyncStatus != StatusKongVersionIncompat && d.SyncStatus != StatusPluginSetIncompatible && d.SyncStatus != StatusPluginVersionIncompat})
	}
	return out
}

func (r *Registry) snapshot(ctx context.Context) (Snapshot, error) {
	if r.opts.Config == nil {
		return Snapshot{}, nil
	}
	s, err := r.opts.Config(ctx)
	if err != nil {
		return Snapshot{}, fmt.Errorf("control plane configuration: %w", err)
	}
	return s, nil
}

// hashOf is the config hash sent to data planes: the MD5 of the body (Kong's
// config_hash is an MD5 of the normalised declarative config); an empty
// body is Kong's empty-config hash.
func hashOf(body []byte) string {
	if len(body) == 0 {
		return emptyConfigHash
	}
	sum := md5.Sum(body)
	return hex.EncodeToString(sum[:])
}

func (r *Registry) serveReport(w http.ResponseWriter, req *http.Request) {
	var rep Report
	if err := json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&rep); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "invalid report: " + err.Error()})
		return
	}
	ip, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		ip = req.RemoteAddr
	}
	ans, err := r.Accept(req.Context(), rep, ip)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

func (r *Registry) serveConfig(w http.ResponseWriter, req *http.Request) {
	body, hash, ok, err := r.Config(req.Context(), req.URL.Query().Get("node_id"))
	switch {
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": err.Error()})
	case !ok:
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "data plane not accepted; report first"})
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Kong-Config-Hash", hash)
		_, _ = w.Write(body)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
