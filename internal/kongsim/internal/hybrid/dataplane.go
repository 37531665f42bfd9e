package hybrid

import (
	"encoding/json"
	"time"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// Sync statuses (kong/constants.lua CLUSTERING_SYNC_STATUS).
const (
	StatusUnknown               = "unknown"
	StatusNormal                = "normal"
	StatusKongVersionIncompat   = "kong_version_incompatible"
	StatusPluginSetIncompatible = "plugin_set_incompatible"
	StatusPluginVersionIncompat = "plugin_version_incompatible"
	StatusFilterSetIncompatible = "filter_set_incompatible"
	emptyConfigHash             = "00000000000000000000000000000000"
)

// Report is what a data plane sends its control plane (POST /v1/dp/report).
type Report struct {
	NodeID     string            `json:"node_id"`
	Hostname   string            `json:"hostname"`
	Version    string            `json:"version"`
	ConfigHash string            `json:"config_hash"`
	Plugins    []string          `json:"plugins"`
	Labels     map[string]string `json:"labels,omitempty"`
	// CertExpiry is the DP cluster certificate's expiry (Unix seconds), 0 if unknown.
	CertExpiry int64 `json:"cert_expiry,omitempty"`
}

// ReportAnswer is the control plane's answer to a Report.
type ReportAnswer struct {
	SyncStatus string `json:"sync_status"`
	Message    string `json:"message,omitempty"`
	// ConfigHash is the hash of the configuration the data plane should run.
	ConfigHash string `json:"config_hash,omitempty"`
}

// DataPlane is one entry of GET /clustering/data-planes.
type DataPlane struct {
	ID         string
	IP         string
	Hostname   string
	Version    string
	SyncStatus string
	ConfigHash string
	LastSeen   time.Time
	Labels     map[string]string
	CertExpiry int64
	Plugins    []string

	// cp and expires shape the JSON (fields per CP version, ttl).
	cp      kongrelease.Version
	expires time.Time
	now     time.Time
}

// MarshalJSON renders the entry as the control plane's version shows it
// (kong/db/schema/entities/clustering_data_planes.lua): labels from 3.5,
// cert_details from 3.6; ttl counts down from cluster_data_plane_purge_delay.
func (d DataPlane) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		"id": d.ID, "ip": d.IP, "hostname": d.Hostname, "version": d.Version,
		"sync_status": d.SyncStatus, "config_hash": d.ConfigHash,
		"last_seen": d.LastSeen.Unix(), "updated_at": d.LastSeen.Unix(),
		"ttl": int64(d.expires.Sub(d.now).Seconds()),
	}
	if d.cp.AtLeast(3, 5, 0) {
		labels := map[string]string{}
		for k, v := range d.Labels {
			labels[k] = v
		}
		m["labels"] = labels
	}
	if d.cp.AtLeast(3, 6, 0) {
		cd := map[string]any{}
		if d.CertExpiry > 0 {
			cd["expiry_timestamp"] = d.CertExpiry
		}
		m["cert_details"] = cd
	}
	return json.Marshal(m)
}
