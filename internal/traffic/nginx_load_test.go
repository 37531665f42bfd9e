package traffic_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
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
		Test: ng.TestCommand(), Reload: ng.ReloadCommand(), PidFile: ng.PidFile(), Keepalive: 32,
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
		Test: ng.TestCommand(), Reload: ng.ReloadCommand(), PidFile: ng.PidFile(),
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

const envNginxCrashChild = "UPSHIFT_TEST_NGINX_CRASH" // the child's driver config, JSON

// TestNginxCrashChild is the child of TestNginxCrashBetweenWriteAndReload:
// it sets 0/100 and dies (exit 42) as soon as the driver has started its
// first command (nginx -t), after writing the upstream file and before
// the reload, as a kill -9 of upshift there would leave it.
func TestNginxCrashChild(t *testing.T) {
	spec := os.Getenv(envNginxCrashChild)
	if spec == "" {
		t.Skip("the child process of TestNginxCrashBetweenWriteAndReload")
	}
	var cfg traffic.NginxConfig
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		t.Fatal(err)
	}
	drv, err := traffic.NewNginx(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := traffic.WithStarted(context.Background(), func([]string) { os.Exit(42) })
	if err := drv.SetWeights(ctx, traffic.Weights{From: 0, To: 100}); err != nil {
		t.Fatal(err)
	}
	t.Fatal("SetWeights ran no command")
}

// A crash between writing the upstream file and the reload: the file says
// 0/100 while nginx routes 100/0. Weights must not report the file's
// split; setting the weights again must reload, and requests then prove
// the new split.
func TestNginxCrashBetweenWriteAndReload(t *testing.T) {
	x, y := startBackend(t, "x"), startBackend(t, "y")
	ng, drv, _ := realNginx(t, x, y)
	ctx := context.Background()
	if w, err := drv.Weights(ctx); err != nil || w != (traffic.Weights{From: 100, To: 0}) {
		t.Fatalf("Weights before = %v, %v; want 100/0", w, err)
	}
	spec, _ := json.Marshal(traffic.NginxConfig{File: ng.UpstreamFile(), Upstream: "kong", From: []string{x.addr}, To: []string{y.addr},
		Test: ng.TestCommand(), Reload: ng.ReloadCommand(), PidFile: ng.PidFile(), Keepalive: 32})
	cmd := exec.Command(os.Args[0], "-test.run=^TestNginxCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envNginxCrashChild+"="+string(spec))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 42 {
		t.Fatalf("child = %v, want exit 42 at the test command:\n%s", err, out)
	}
	if src, _ := os.ReadFile(ng.UpstreamFile()); !strings.Contains(string(src), x.addr+" down") {
		t.Fatalf("the crashed child did not write 0/100:\n%s", src)
	}
	w, err := drv.Weights(ctx)
	if !errors.As(err, new(*traffic.NotLoadedError)) {
		t.Errorf("Weights after the crash = %v, %v; want a *NotLoadedError (nginx still routes 100/0)", w, err)
	}
	if got := countBackends(t, ng.URL(), 100); got["x"] != 100 {
		t.Fatalf("after the crash nginx routes %v, want all 100 requests on x", got)
	}
	if err := drv.SetWeights(ctx, traffic.Weights{From: 0, To: 100}); err != nil {
		t.Fatal(err)
	}
	if w, err := drv.Weights(ctx); err != nil || w != (traffic.Weights{From: 0, To: 100}) {
		t.Errorf("Weights after setting again = %v, %v; want 0/100", w, err)
	}
	if got := countBackends(t, ng.URL(), 100); got["y"] != 100 {
		t.Errorf("after setting again nginx routes %v, want all 100 requests on y", got)
	}
}

// countBackends sends n GETs through lbURL, each on a new connection (so
// that it reaches a current worker), and counts the answering backends.
func countBackends(t *testing.T, lbURL string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		req, _ := http.NewRequest(http.MethodGet, lbURL+"/", nil)
		req.Close = true
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got[resp.Header.Get("X-Backend")]++
	}
	return got
}
