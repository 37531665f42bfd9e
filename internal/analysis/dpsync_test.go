package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/kong"
)

// fakeCP serves /clustering/data-planes as a Kong control plane does
// (kong-facts §1.4); pages[i] is the list served to the i-th request (the
// last one repeats).
func fakeCP(t *testing.T, pages ...[]map[string]any) *kong.Client {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/clustering/data-planes" {
			w.WriteHeader(404)
			return
		}
		i := min(int(n.Add(1))-1, len(pages)-1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": pages[i], "next": nil})
	}))
	t.Cleanup(srv.Close)
	c, err := kong.New(kong.Options{AdminURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func dp(id, version, status, hash string, lastSeen time.Time) map[string]any {
	return map[string]any{"id": id, "hostname": "dp-" + id, "ip": "10.0.0.1", "version": version,
		"sync_status": status, "config_hash": hash, "last_seen": lastSeen.Unix(), "ttl": 1209593}
}

const hashA, hashB = "595214af5fb356cc569313184c64d9b7", "a1b2c3d4e5f60718293a4b5c6d7e8f90"

func dpCheck(t *testing.T, lister DataPlaneLister, mod func(*DataPlaneSyncConfig)) Result {
	t.Helper()
	cfg := DataPlaneSyncConfig{Name: "data_planes_synced", ControlPlane: lister, Target: "cp", Version: "3.9", MinDataPlanes: 2, Stable: 50 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewDataPlaneSync(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Measure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%v", r)
	return r
}

func TestDataPlaneSync(t *testing.T) {
	now := time.Now()
	old := dp("o1", "3.8.0", "normal", hashB, now) // X's data plane: not selected
	good := []map[string]any{dp("n1", "3.9.1", "normal", hashA, now), dp("n2", "3.9.1", "normal", hashA, now.Add(-20*time.Second)), old}

	r := dpCheck(t, fakeCP(t, good), nil)
	if !r.OK() || !strings.Contains(r.Reason, "2 data planes of version 3.9 connected") || !strings.Contains(r.Value, hashA) {
		t.Errorf("synced data planes: %+v", r)
	}

	for name, tc := range map[string]struct {
		pages [][]map[string]any
		want  string
	}{
		"too few": {[][]map[string]any{{good[0], old}}, "1 data planes of version 3.9 listed by cp, want at least 2 (others: data plane dp-o1 (o1) 3.8.0)"},
		"incompatible": {[][]map[string]any{{good[0], dp("n2", "3.9.1", "plugin_set_incompatible", hashA, now)}},
			`data plane dp-n2 (n2) has sync_status "plugin_set_incompatible"`},
		"empty config": {[][]map[string]any{{good[0], dp("n2", "3.9.1", "normal", emptyHash, now)}}, "(no configuration)"},
		"two hashes":   {[][]map[string]any{{good[0], dp("n2", "3.9.1", "normal", hashB, now)}}, "different config_hash values"},
		"gone":         {[][]map[string]any{{good[0], dp("n2", "3.9.1", "normal", hashA, now.Add(-5*time.Minute))}}, "more than 1m30s: not connected"},
		"moving":       {[][]map[string]any{good, {dp("n1", "3.9.1", "normal", hashB, now), dp("n2", "3.9.1", "normal", hashB, now)}}, "config_hash changed between two observations 50ms apart"},
		"replaced":     {[][]map[string]any{good, {good[0], dp("n3", "3.9.1", "normal", hashA, now)}}, "set of data planes changed"},
	} {
		r := dpCheck(t, fakeCP(t, tc.pages...), nil)
		if r.Outcome != Failed || !strings.Contains(r.Reason, tc.want) {
			t.Errorf("%s: %+v, want a failure saying %q", name, r, tc.want)
		}
	}
}

type failingLister struct{}

func (failingLister) DataPlanes(context.Context) ([]kong.DataPlane, error) {
	return nil, fmt.Errorf("HTTP 400: this endpoint is only available when Kong is configured to run as Control Plane for the cluster")
}

func TestDataPlaneSyncUnreachableIsInconclusive(t *testing.T) {
	r := dpCheck(t, failingLister{}, nil)
	if r.Outcome != Inconclusive || !strings.Contains(r.Reason, "only available when Kong is configured to run as Control Plane") {
		t.Errorf("%+v", r)
	}
	// Cancelled during the wait between the observations: no measurement.
	c, _ := NewDataPlaneSync(DataPlaneSyncConfig{Name: "x", ControlPlane: fakeCP(t, []map[string]any{dp("n1", "3.9.1", "normal", hashA, time.Now())}), Stable: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Measure(ctx); err == nil {
		t.Error("Measure cancelled during the wait returned no error")
	}
}
