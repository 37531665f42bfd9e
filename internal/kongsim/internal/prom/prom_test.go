package prom

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// scrape renders m and parses it with Prometheus' own text parser, so an
// invalid exposition fails the test.
func scrape(t *testing.T, m *Metrics, s NodeState) (string, map[string]string) {
	t.Helper()
	var b bytes.Buffer
	if err := m.Write(&b, s); err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("invalid exposition: %v\n%s", err, b.String())
	}
	types := map[string]string{}
	for name, f := range fams {
		types[name] = f.GetType().String()
	}
	return b.String(), types
}

func observeAll(m *Metrics, f Flags) {
	m.Observe(Observation{Service: "svc", Route: "r1", Consumer: "alice", Code: 200, FromUpstream: true,
		KongMs: 2, UpstreamMs: 30, RequestMs: 32, BytesIngress: 100, BytesEgress: 300, Flags: f})
	m.Observe(Observation{Service: "svc", Route: "r1", Code: 401, KongMs: 4000, UpstreamMs: -1, RequestMs: 1, BytesEgress: 50, Flags: f})
}

func TestAlwaysOn(t *testing.T) {
	m := New(kongrelease.MustParse("3.9.1"), "n1")
	out, types := scrape(t, m, NodeState{Role: "traditional", Database: "postgres", DatastoreReachable: false, TotalRequests: 7})
	for _, want := range []string{
		`kong_node_info{node_id="n1",version="3.9.1"} 1`,
		`kong_datastore_reachable 0`,
		`kong_nginx_requests_total{node_id="n1",subsystem="http"} 7`,
		`kong_nginx_connections_total{node_id="n1",subsystem="http",state="total"} 7`,
		"# TYPE kong_memory_lua_shared_dict_total_bytes gauge",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q\n%s", want, out)
		}
	}
	if types["kong_node_info"] != "GAUGE" {
		t.Errorf("types %v", types)
	}
}

func TestOptInFlags(t *testing.T) {
	v := kongrelease.MustParse("3.8.0")
	m := New(v, "n1")
	observeAll(m, Flags{})
	out, _ := scrape(t, m, NodeState{Database: "off"})
	if strings.Contains(out, "http_requests_total") || strings.Contains(out, "latency_ms") || strings.Contains(out, "bandwidth") {
		t.Fatalf("opt-in metrics without flags:\n%s", out)
	}
	m = New(v, "n1")
	observeAll(m, Flags{StatusCode: true, Latency: true, Bandwidth: true, PerConsumer: true})
	out, types := scrape(t, m, NodeState{Database: "off"})
	for _, want := range []string{
		`kong_http_requests_total{service="svc",route="r1",code="200",source="service",workspace="default",consumer="alice"} 1`,
		`kong_http_requests_total{service="svc",route="r1",code="401",source="kong",workspace="default",consumer=""} 1`,
		`kong_kong_latency_ms_bucket{service="svc",route="r1",workspace="default",le="2"} 1`,
		`kong_kong_latency_ms_bucket{service="svc",route="r1",workspace="default",le="1000"} 1`,
		`kong_kong_latency_ms_bucket{service="svc",route="r1",workspace="default",le="+Inf"} 2`,
		`kong_kong_latency_ms_sum{service="svc",route="r1",workspace="default"} 4002`,
		`kong_upstream_latency_ms_count{service="svc",route="r1",workspace="default"} 1`,
		`kong_request_latency_ms_bucket{service="svc",route="r1",workspace="default",le="25"} 1`,
		`kong_bandwidth_bytes{service="svc",route="r1",direction="ingress",workspace="default",consumer="alice"} 100`,
		`kong_datastore_reachable 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(out, `le="3000"`) {
		t.Error("3.8 has 3.9's 3000/6000 kong latency buckets")
	}
	if types["kong_kong_latency_ms"] != "HISTOGRAM" || types["kong_http_requests_total"] != "COUNTER" {
		t.Errorf("types %v", types)
	}
	if t.Failed() {
		t.Log(out)
	}
}

func TestBuckets39(t *testing.T) {
	m := New(kongrelease.MustParse("3.9.1"), "n1")
	observeAll(m, Flags{Latency: true})
	out, _ := scrape(t, m, NodeState{})
	for _, want := range []string{`le="3000"} 1`, `le="6000"} 2`} {
		if !strings.Contains(out, `kong_kong_latency_ms_bucket{service="svc",route="r1",workspace="default",`+want) {
			t.Errorf("missing bucket %s\n%s", want, out)
		}
	}
}

func TestNames28(t *testing.T) {
	m := New(kongrelease.MustParse("2.8.5"), "n1")
	observeAll(m, Flags{StatusCode: true, Latency: true, Bandwidth: true, PerConsumer: true})
	out, types := scrape(t, m, NodeState{Database: "postgres", DatastoreReachable: true})
	for _, want := range []string{
		`kong_http_status{service="svc",route="r1",code="200"} 1`,
		`kong_http_consumer_status{service="svc",route="r1",code="200",consumer="alice"} 1`,
		`kong_latency_bucket{service="svc",route="r1",type="kong",le="25"} 1`,
		`kong_latency_count{service="svc",route="r1",type="upstream"} 1`,
		`kong_bandwidth{service="svc",route="r1",type="egress"} 350`,
		`kong_nginx_http_current_connections{state="active"} 0`,
		`kong_memory_workers_lua_vms_bytes{pid="1",kong_subsystem="http"}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	for _, absent := range []string{"kong_node_info", "kong_http_requests_total", "kong_kong_latency_ms", "node_id="} {
		if strings.Contains(out, absent) {
			t.Errorf("2.8 output has %q", absent)
		}
	}
	if types["kong_latency"] != "HISTOGRAM" {
		t.Errorf("types %v", types)
	}
	if t.Failed() {
		t.Log(out)
	}
}

func TestHybridGauges(t *testing.T) {
	m := New(kongrelease.MustParse("3.9.1"), "cp")
	seen := time.Unix(1700000000, 0)
	out, _ := scrape(t, m, NodeState{Role: "control_plane", Database: "postgres", DatastoreReachable: true, DataPlanes: []DataPlane{
		{NodeID: "dp1", Hostname: "h1", IP: "10.0.0.1", Version: "3.9.0", ConfigHash: "000000000000000000000000000000ff", LastSeen: seen, Compatible: true},
		{NodeID: "dp2", Hostname: "h2", IP: "10.0.0.2", Version: "3.10.0", LastSeen: seen},
	}})
	for _, want := range []string{
		`kong_data_plane_last_seen{node_id="dp1",hostname="h1",ip="10.0.0.1"} 1700000000`,
		`kong_data_plane_config_hash{node_id="dp1",hostname="h1",ip="10.0.0.1"} 255`,
		`kong_data_plane_version_compatible{node_id="dp2",hostname="h2",ip="10.0.0.2",kong_version="3.10.0"} 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q\n%s", want, out)
		}
	}
	dp, _ := scrape(t, New(kongrelease.MustParse("3.9.1"), "dp"), NodeState{Role: "data_plane", Database: "off", ControlPlaneConnected: true})
	if !strings.Contains(dp, "kong_control_plane_connected 1") {
		t.Errorf("DP output:\n%s", dp)
	}
}
