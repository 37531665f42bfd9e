package traffic_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/testenv"
	"github.com/upshift-dev/upshift/internal/traffic"
)

// realNginx starts nginx in front of x and y and returns a driver for it,
// configured with the harness's nginx -t and nginx -s reload argv.
func realNginx(t *testing.T, x, y *backend) (*testenv.NginxProc, *traffic.Nginx, func()) {
	t.Helper()
	ng := testenv.Nginx(t, testenv.NginxConfig{Servers: []testenv.NginxServer{{Addr: x.addr, Weight: 1}, {Addr: y.addr, Down: true}}})
	drv, err := traffic.NewNginx(traffic.NginxConfig{
		File: ng.UpstreamFile(), Upstream: "kong",
		From: []string{x.addr}, To: []string{"http://" + y.addr},
		Test: ng.TestCommand(), Reload: ng.ReloadCommand(), Keepalive: 32,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The driver's reload (nginx -s reload) returns once nginx has the
	// signal, before new workers serve. To count each step's split from
	// its first request, the test waits for them: the harness's Reload
	// loads the same files again and returns once a new connection is
	// served by the newest workers.
	settle := func() {
		if err := ng.Reload(); err != nil {
			t.Fatalf("waiting for nginx's new workers: %v", err)
		}
	}
	return ng, drv, settle
}

func TestNginxShiftUnderLoad(t *testing.T) {
	x, y := startBackend(t, "x"), startBackend(t, "y")
	ng, drv, settle := realNginx(t, x, y)
	shiftUnderLoad(t, drv, ng.URL(), settle)
}

func TestNginxDownDrainsInFlightRequests(t *testing.T) {
	x, y := startBackend(t, "x"), startBackend(t, "y")
	ng, drv, settle := realNginx(t, x, y)
	drainSlowRequest(t, drv, ng.URL(), x, y, settle)
}

// A configuration nginx refuses: the real nginx -t fails, the driver puts
// the previous file back, and nginx keeps serving the previous weights.
func TestNginxRefusedConfigurationIsRolledBack(t *testing.T) {
	x, y := startBackend(t, "x"), startBackend(t, "y")
	ng, drv, _ := realNginx(t, x, y)
	ctx := context.Background()
	if err := drv.SetWeights(ctx, traffic.Weights{From: 50, To: 50}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(ng.UpstreamFile())
	bad, err := traffic.NewNginx(traffic.NginxConfig{
		File: ng.UpstreamFile(), Upstream: "kong",
		From: []string{x.addr}, To: []string{"127.0.0.1:0"}, // nginx: invalid port
		Test: ng.TestCommand(), Reload: ng.ReloadCommand(),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.SetWeights(ctx, traffic.Weights{From: 10, To: 90})
	if err == nil || !strings.Contains(err.Error(), "[emerg]") || !strings.Contains(err.Error(), "restored") {
		t.Fatalf("SetWeights with an address nginx refuses = %v, want nginx's [emerg] output", err)
	}
	t.Logf("refused: %v", err)
	after, _ := os.ReadFile(ng.UpstreamFile())
	if string(after) != string(before) {
		t.Errorf("upstream file not restored:\n%s", after)
	}
	if w, err := drv.Weights(ctx); err != nil || w != (traffic.Weights{From: 50, To: 50}) {
		t.Errorf("Weights = %v, %v; want 50/50", w, err)
	}
}
