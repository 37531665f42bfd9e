package traffic_test

import (
	"context"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/testenv"
	"github.com/upshift-dev/upshift/internal/traffic"
)

func realHAProxy(t *testing.T, x, y *backend) (*testenv.HAProxyProc, *traffic.HAProxy) {
	t.Helper()
	h := testenv.HAProxy(t, testenv.HAProxyConfig{Servers: []testenv.HAProxyServer{
		{Name: "x", Addr: x.addr, Weight: 1}, {Name: "y", Addr: y.addr, Weight: 0},
	}})
	drv, err := traffic.NewHAProxy(traffic.HAProxyConfig{Socket: h.Socket(), Backend: h.Backend(), From: []string{"x"}, To: []string{"y"}})
	if err != nil {
		t.Fatal(err)
	}
	return h, drv
}

// HAProxy applies a runtime weight at once: nothing to wait for.
func noSettle() {}

func TestHAProxyShiftUnderLoad(t *testing.T) {
	x, y := startBackend(t, "x"), startBackend(t, "y")
	h, drv := realHAProxy(t, x, y)
	shiftUnderLoad(t, drv, h.URL(), noSettle)
}

func TestHAProxyWeightZeroDrainsInFlightRequests(t *testing.T) {
	x, y := startBackend(t, "x"), startBackend(t, "y")
	h, drv := realHAProxy(t, x, y)
	drainSlowRequest(t, drv, h.URL(), x, y, noSettle)
}

func TestHAProxyReadBackAndRefusals(t *testing.T) {
	x, y := startBackend(t, "x"), startBackend(t, "y")
	h, drv := realHAProxy(t, x, y)
	ctx := context.Background()
	if w, err := drv.Weights(ctx); err != nil || w != (traffic.Weights{From: 100, To: 0}) {
		t.Errorf("initial Weights = %v, %v; want 100/0 from the configured weights 1 and 0", w, err)
	}
	if err := drv.SetWeights(ctx, traffic.Weights{From: 33, To: 67}); err != nil {
		t.Fatal(err)
	}
	if out, _ := h.Command("get weight kong/x"); !strings.HasPrefix(out, "33 ") {
		t.Errorf("get weight kong/x = %q, want 33", out)
	}
	if w, err := drv.Weights(ctx); err != nil || w != (traffic.Weights{From: 33, To: 67}) {
		t.Errorf("Weights = %v, %v", w, err)
	}
	// A change behind the driver's back is what Weights reports.
	if _, err := h.Command("set weight kong/y 33"); err != nil {
		t.Fatal(err)
	}
	if w, err := drv.Weights(ctx); err != nil || w != (traffic.Weights{From: 50, To: 50}) {
		t.Errorf("Weights after an outside change = %v, %v; want 50/50", w, err)
	}

	for name, cfg := range map[string]traffic.HAProxyConfig{
		"unknown backend": {Socket: h.Socket(), Backend: "nosuch", From: []string{"x"}, To: []string{"y"}},
		"unknown server":  {Socket: h.Socket(), Backend: h.Backend(), From: []string{"x"}, To: []string{"z"}},
		"foreign server":  {Socket: h.Socket(), Backend: h.Backend(), From: []string{"x"}, To: []string{"x2"}},
		"no socket":       {Socket: h.Dir + "/nosuch.sock", Backend: h.Backend(), From: []string{"x"}, To: []string{"y"}},
	} {
		d, err := traffic.NewHAProxy(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if w, err := d.Weights(ctx); err == nil {
			t.Errorf("%s: Weights = %v, want an error", name, w)
		} else {
			t.Logf("%s: %v", name, err)
		}
		if name == "unknown server" {
			err := d.SetWeights(ctx, traffic.Weights{From: 50, To: 50})
			if err == nil || !strings.Contains(err.Error(), "No such server") {
				t.Errorf("SetWeights on an unknown server = %v, want HAProxy's answer", err)
			}
		}
	}
	// Five servers a side at 1/99 needs per-server weights 1 and 99: fine;
	// three against two at 1/99 needs 2 and 297: over HAProxy's 256.
	big, _ := traffic.NewHAProxy(traffic.HAProxyConfig{Socket: h.Socket(), Backend: h.Backend(), From: []string{"a", "b", "c"}, To: []string{"d", "e"}})
	if err := big.SetWeights(ctx, traffic.Weights{From: 1, To: 99}); err == nil || !strings.Contains(err.Error(), "maximum 256") {
		t.Errorf("SetWeights needing weight 297 = %v", err)
	}
}

// HAProxy's side of the contract (docs/traffic.md): a keyed balance
// algorithm or a backup flag on X's or Y's servers is refused by Weights
// and by SetWeights before any weight is set; a backup server that is
// neither X's nor Y's is allowed and takes no request while X or Y serves.
func TestHAProxyRefusesWhatItCannotSplit(t *testing.T) {
	x, y, b := startBackend(t, "x"), startBackend(t, "y"), startBackend(t, "b")
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		balance string
		backupY bool
		want    string
	}{
		{"balance source", "source", false, "backend kong: balance source: requests are balanced by client address"},
		// Consistent hashing takes runtime weights without a word: only
		// the check refuses it.
		{"balance hash consistent", "hash path\n    hash-type consistent", false, "backend kong: balance hash:"},
		{"backup Y", "", true, "backend kong: server y is a backup server"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := testenv.HAProxy(t, testenv.HAProxyConfig{Balance: c.balance, Servers: []testenv.HAProxyServer{
				{Name: "x", Addr: x.addr, Weight: 1}, {Name: "y", Addr: y.addr, Weight: 0, Backup: c.backupY},
			}})
			drv, err := traffic.NewHAProxy(traffic.HAProxyConfig{Socket: h.Socket(), Backend: h.Backend(), From: []string{"x"}, To: []string{"y"}})
			if err != nil {
				t.Fatal(err)
			}
			if w, err := drv.Weights(ctx); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Weights = %v, %v; want an error with %q", w, err, c.want)
			}
			err = drv.SetWeights(ctx, traffic.Weights{From: 50, To: 50})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("SetWeights = %v; want an error with %q", err, c.want)
			}
			t.Logf("refused: %v", err)
			for srv, want := range map[string]string{"x": "1 ", "y": "0 "} {
				if out, _ := h.Command("get weight kong/" + srv); !strings.HasPrefix(out, want) {
					t.Errorf("after the refusal get weight kong/%s = %q, want %q (unchanged)", srv, out, want)
				}
			}
		})
	}
	t.Run("other backup server", func(t *testing.T) {
		h := testenv.HAProxy(t, testenv.HAProxyConfig{Servers: []testenv.HAProxyServer{
			{Name: "x", Addr: x.addr, Weight: 1}, {Name: "y", Addr: y.addr, Weight: 0}, {Name: "sorry", Addr: b.addr, Weight: 1, Backup: true},
		}})
		drv, err := traffic.NewHAProxy(traffic.HAProxyConfig{Socket: h.Socket(), Backend: h.Backend(), From: []string{"x"}, To: []string{"y"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := drv.SetWeights(ctx, traffic.Weights{From: 75, To: 25}); err != nil {
			t.Fatal(err)
		}
		if w, err := drv.Weights(ctx); err != nil || w != (traffic.Weights{From: 75, To: 25}) {
			t.Fatalf("Weights = %v, %v; want 75/25", w, err)
		}
		got := countBackends(t, h.URL(), 200)
		t.Logf("HAProxy routed %v", got)
		if got["b"] != 0 {
			t.Errorf("the backup server took %d requests", got["b"])
		}
		if share := float64(got["y"]) / 2; share < 15 || share > 35 {
			t.Errorf("%.1f%% of requests on Y at 75/25, outside ±10 points", share)
		}
	})
}
