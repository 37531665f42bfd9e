package hybrid

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

type cpFixture struct {
	reg  *Registry
	url  string
	mu   sync.Mutex
	snap Snapshot
	now  time.Time
}

func newCP(t *testing.T, version string) *cpFixture {
	t.Helper()
	f := &cpFixture{now: time.Unix(1700000000, 0), snap: Snapshot{Body: []byte(`{"_format_version":"3.0","services":[]}`), Plugins: []string{"key-auth"}}}
	f.reg = NewRegistry(RegistryOptions{Version: kongrelease.MustParse(version),
		Config: func(context.Context) (Snapshot, error) { f.mu.Lock(); defer f.mu.Unlock(); return f.snap, nil },
		Now:    func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }})
	srv := httptest.NewServer(f.reg.Handler())
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

type applied struct {
	mu    sync.Mutex
	body  string
	calls int
}

func (a *applied) apply(_ context.Context, body []byte, _ string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.body = string(body)
	a.calls++
	return nil
}

func dp(cp *cpFixture, id, version string, plugins []string, a *applied) *Client {
	return NewClient(ClientOptions{ControlPlane: cp.url, Apply: a.apply,
		Report: Report{NodeID: id, Hostname: "host-" + id, Version: version, Plugins: plugins, Labels: map[string]string{"region": "eu"}, CertExpiry: 1897136778}})
}

func entries(t *testing.T, r *Registry) map[string]map[string]any {
	t.Helper()
	b, err := json.Marshal(r.DataPlanes())
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, e := range list {
		out[e["id"].(string)] = e
	}
	return out
}

func TestAcceptAndPull(t *testing.T) {
	cp := newCP(t, "3.9.1")
	ctx := context.Background()
	var ok, newer, major, missing applied
	okDP := dp(cp, "dp-ok", "3.7.0", []string{"key-auth", "prometheus"}, &ok)
	if err := okDP.SyncOnce(ctx); err != nil {
		t.Fatalf("accepted DP: %v", err)
	}
	if ok.body != string(cp.snap.Body) || okDP.Hash() == emptyConfigHash || !okDP.Connected() {
		t.Fatalf("DP did not apply the config: %q hash %s", ok.body, okDP.Hash())
	}
	// A second sync with nothing new applies nothing.
	if err := okDP.SyncOnce(ctx); err != nil || ok.calls != 1 {
		t.Fatalf("resync: %v, %d applies", err, ok.calls)
	}
	for _, c := range []struct {
		client *Client
		a      *applied
		want   string
	}{
		{dp(cp, "dp-newer", "3.10.0.2", []string{"key-auth"}, &newer), &newer, "data plane version 3.10.0.2 is incompatible with older control plane version 3.9.1"},
		{dp(cp, "dp-major", "2.8.5", []string{"key-auth"}, &major), &major, "data plane version 2.8.5 is incompatible with control plane version 3.9.1 (3.x.y are accepted)"},
		{dp(cp, "dp-missing", "3.9.1", []string{"prometheus"}, &missing), &missing, "key-auth"},
	} {
		err := c.client.SyncOnce(ctx)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("rejected DP error %v, want %q", err, c.want)
		}
		if c.a.calls != 0 {
			t.Errorf("rejected DP got a config")
		}
	}
	es := entries(t, cp.reg)
	for id, status := range map[string]string{"dp-ok": "normal", "dp-newer": "kong_version_incompatible", "dp-major": "kong_version_incompatible", "dp-missing": "plugin_set_incompatible"} {
		if es[id]["sync_status"] != status {
			t.Errorf("%s sync_status %v, want %s", id, es[id]["sync_status"], status)
		}
	}
	e := es["dp-ok"]
	if e["config_hash"] != okDP.Hash() || e["version"] != "3.7.0" || e["hostname"] != "host-dp-ok" || e["ttl"] != 1209600.0 ||
		e["last_seen"] != 1700000000.0 || e["labels"].(map[string]any)["region"] != "eu" ||
		e["cert_details"].(map[string]any)["expiry_timestamp"] != 1897136778.0 || e["ip"] != "127.0.0.1" {
		t.Errorf("entry %v", e)
	}
	if es["dp-major"]["config_hash"] != emptyConfigHash {
		t.Errorf("rejected DP hash %v", es["dp-major"]["config_hash"])
	}
	// A config change on the CP: the DP reports unknown until it pulls.
	cp.mu.Lock()
	cp.snap = Snapshot{Body: []byte(`{"_format_version":"3.0","services":[{"name":"s"}]}`), Plugins: []string{"key-auth"}}
	cp.now = cp.now.Add(10 * time.Second)
	cp.mu.Unlock()
	if err := okDP.SyncOnce(ctx); err != nil || !strings.Contains(ok.body, `"name":"s"`) {
		t.Fatalf("DP did not pick up the change: %v %q", err, ok.body)
	}
	if got := entries(t, cp.reg)["dp-ok"]; got["sync_status"] != "normal" || got["ttl"] != 1209600.0 {
		t.Errorf("after change: %v", got)
	}
	if pd := cp.reg.PromDataPlanes(); len(pd) != 4 {
		t.Errorf("prom data planes %d", len(pd))
	}
}

func TestEntryShapePerVersion(t *testing.T) {
	for _, c := range []struct {
		version            string
		labels, certDetail bool
	}{{"3.4.2", false, false}, {"3.5.0", true, false}, {"3.6.1", true, true}} {
		cp := newCP(t, c.version)
		var a applied
		if err := dp(cp, "d", c.version, []string{"key-auth"}, &a).SyncOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		e := entries(t, cp.reg)["d"]
		if _, ok := e["labels"]; ok != c.labels {
			t.Errorf("%s labels present=%v", c.version, ok)
		}
		if _, ok := e["cert_details"]; ok != c.certDetail {
			t.Errorf("%s cert_details present=%v", c.version, ok)
		}
		for _, k := range []string{"id", "ip", "hostname", "version", "sync_status", "config_hash", "last_seen", "updated_at", "ttl"} {
			if _, ok := e[k]; !ok {
				t.Errorf("%s entry lacks %s", c.version, k)
			}
		}
	}
}

func TestPurge(t *testing.T) {
	cp := newCP(t, "3.9.1")
	var a applied
	if err := dp(cp, "d", "3.9.1", []string{"key-auth"}, &a).SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	cp.mu.Lock()
	cp.now = cp.now.Add(1209600 * time.Second)
	cp.mu.Unlock()
	if n := len(cp.reg.DataPlanes()); n != 0 {
		t.Fatalf("%d data planes after the purge delay", n)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	cp := newCP(t, "3.9.1")
	var a applied
	c := NewClient(ClientOptions{ControlPlane: cp.url, Apply: a.apply, Interval: 10 * time.Millisecond,
		Report: Report{NodeID: "d", Version: "3.9.1", Plugins: []string{"key-auth"}}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for c.Hash() == emptyConfigHash && time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if c.Hash() == emptyConfigHash {
		t.Fatal("Run never applied the config")
	}
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}
