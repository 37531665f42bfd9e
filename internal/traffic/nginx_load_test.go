package traffic_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	// Someone breaks nginx's main configuration (the driver edits only
	// weights, which nginx accepts): nginx -t fails on the whole.
	conf, err := os.ReadFile(ng.ConfFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ng.ConfFile(), append(append([]byte{}, conf...), "not_a_directive on;\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(ng.ConfFile(), conf, 0o644)
	err = drv.SetWeights(ctx, traffic.Weights{From: 10, To: 90})
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

// The upstream file's contract with a real nginx (docs/traffic.md): what
// the driver does not model (zone, least_conn, server parameters, a backup
// server, keepalive, comments) is kept byte for byte through shifts,
// nginx -t accepts the result, and requests follow the weights; a block
// whose weights would not split requests (ip_hash) is refused with
// file:line, and neither the file nor what nginx routes changes.
func TestNginxKeepsWhatItDoesNotModelThroughRealNginx(t *testing.T) {
	x, y, b := startBackend(t, "x"), startBackend(t, "y"), startBackend(t, "b")
	ng, drv, settle := realNginx(t, x, y)
	ctx := context.Background()
	tmpl := `# kong's upstream, written by hand
upstream kong {
    zone kong 64k;   # one round robin for all workers
    least_conn;
    server ` + x.addr + ` %s max_fails=3 fail_timeout=10s max_conns=50;  # X
    server ` + y.addr + ` %s max_fails=3 fail_timeout=10s;  # Y
    server ` + b.addr + ` backup;   # sorry page: no share while X or Y serves
    keepalive 16;
    keepalive_timeout 30s;
}
`
	if err := os.WriteFile(ng.UpstreamFile(), []byte(fmt.Sprintf(tmpl, "weight=1", "down")), 0o644); err != nil {
		t.Fatal(err)
	}
	settle() // nginx runs the hand-written file
	for _, step := range []struct {
		w      traffic.Weights
		px, py string
	}{
		{traffic.Weights{From: 75, To: 25}, "weight=3", "weight=1"},
		{traffic.Weights{From: 0, To: 100}, "down", "weight=1"},
	} {
		if err := drv.SetWeights(ctx, step.w); err != nil {
			t.Fatalf("SetWeights(%v): %v", step.w, err)
		}
		split := "# Split: " + step.w.String() + " (set by Upshift; what nginx routes once reloaded).\n"
		if got, want := mustRead(t, ng.UpstreamFile()), split+fmt.Sprintf(tmpl, step.px, step.py); got != want {
			t.Fatalf("after %v the file is\n%s\nwant\n%s", step.w, got, want)
		}
		if err := ng.Test(); err != nil {
			t.Fatalf("nginx -t after %v: %v", step.w, err)
		}
		settle()
		if w, err := drv.Weights(ctx); err != nil || w != step.w {
			t.Fatalf("Weights after %v = %v, %v", step.w, w, err)
		}
		got := countBackends(t, ng.URL(), 200)
		t.Logf("%v: nginx routed %v", step.w, got)
		if got["b"] != 0 {
			t.Errorf("%v: the backup server took %d requests", step.w, got["b"])
		}
		if share := float64(got["y"]) / 2; share < float64(step.w.To)-10 || share > float64(step.w.To)+10 {
			t.Errorf("%v: %.1f%% of requests on Y, outside ±10 points", step.w, share)
		}
	}

	// ip_hash: nginx accepts it, the driver does not shift through it.
	refused := strings.Replace(fmt.Sprintf(tmpl, "down", "weight=1"), "    least_conn;\n", "    ip_hash;\n", 1)               // no split comment yet
	refused = strings.Replace(refused, "    server "+b.addr+" backup;   # sorry page: no share while X or Y serves\n", "", 1) // nginx: ip_hash has no backup
	if err := os.WriteFile(ng.UpstreamFile(), []byte(refused), 0o644); err != nil {
		t.Fatal(err)
	}
	settle()
	before := countBackends(t, ng.URL(), 20)
	st, _ := os.Stat(ng.UpstreamFile())
	err := drv.SetWeights(ctx, traffic.Weights{From: 50, To: 50})
	if want := ng.UpstreamFile() + ":4: upstream \"kong\": ip_hash:"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("SetWeights through ip_hash = %v, want an error with %q", err, want)
	}
	t.Logf("refused: %v", err)
	if got := mustRead(t, ng.UpstreamFile()); got != refused {
		t.Errorf("the refused file changed:\n%s", got)
	}
	if st2, _ := os.Stat(ng.UpstreamFile()); !st2.ModTime().Equal(st.ModTime()) {
		t.Error("the refused file was rewritten")
	}
	if after := countBackends(t, ng.URL(), 20); after["y"] != before["y"] || after["x"] != before["x"] {
		t.Errorf("nginx routed %v before the refusal and %v after it", before, after)
	}
	if w, err := drv.Weights(ctx); err == nil || !strings.Contains(err.Error(), "ip_hash") {
		t.Errorf("Weights through ip_hash = %v, %v; want the refusal", w, err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
