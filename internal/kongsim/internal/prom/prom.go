package prom

import (
	"io"
	"sync"
	"time"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// Flags are the prometheus plugin's opt-in switches that applied to one
// request (kong/plugins/prometheus/schema.lua, 3.0+). On 2.8 the proxy sets
// StatusCode, Latency and Bandwidth whenever the plugin runs, as 2.8 has no
// switches.
type Flags struct {
	StatusCode     bool
	Latency        bool
	Bandwidth      bool
	UpstreamHealth bool
	PerConsumer    bool
}

// Observation is one proxied or Kong-answered request, as the prometheus
// plugin's log phase sees it.
type Observation struct {
	Service, Route, Consumer string // names (Kong labels use the name, else the id)
	Code                     int
	// FromUpstream is true when the upstream produced the status
	// (source="service"), false when Kong did (source="kong").
	FromUpstream bool
	// Latencies in milliseconds as Kong measures them; Upstream is -1 when
	// the request never reached the upstream.
	KongMs, UpstreamMs, RequestMs float64
	BytesIngress, BytesEgress     int64
	Flags                         Flags
}

// NodeState is what the node knows at scrape time (the Admin/Status layer
// fills it).
type NodeState struct {
	// Role is traditional, control_plane or data_plane; Database postgres or off.
	Role, Database string
	// DatastoreReachable feeds kong_datastore_reachable (DB mode only).
	DatastoreReachable bool
	// Connections and requests counted by the node's listeners.
	ConnectionsAccepted, ConnectionsHandled, ConnectionsActive int64
	ConnectionsReading, ConnectionsWriting, ConnectionsWaiting int64
	TotalRequests                                              int64
	// ControlPlaneConnected feeds kong_control_plane_connected on a data plane.
	ControlPlaneConnected bool
	// DataPlanes feeds the control plane's kong_data_plane_* gauges.
	DataPlanes []DataPlane
}

// DataPlane is one data plane as a control plane's registry knows it.
type DataPlane struct {
	NodeID, Hostname, IP, Version string
	ConfigHash                    string
	LastSeen                      time.Time
	Compatible                    bool
}

// Metrics holds the counters of one node. It is safe for concurrent use.
type Metrics struct {
	version kongrelease.Version
	nodeID  string

	mu      sync.Mutex
	status  map[statusKey]float64
	bw      map[bwKey]float64
	hist    map[histKey]*histogram
	enabled func() bool
}

// New returns empty metrics for a node of version v.
func New(v kongrelease.Version, nodeID string) *Metrics {
	return &Metrics{version: v, nodeID: nodeID,
		status: map[statusKey]float64{}, bw: map[bwKey]float64{}, hist: map[histKey]*histogram{}}
}

// Write renders the exposition (text format 0.0.4) as GET /metrics returns
// it on the Admin API and the Status API.
func (m *Metrics) Write(w io.Writer, s NodeState) error {
	return m.write(w, s)
}
