package traffic

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeNginx is an nginx driver whose test and reload commands are shell
// one-liners that append to a log file, so that tests can see what ran.
func fakeNginx(t *testing.T, test string) (*Nginx, string, string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "upstream.conf")
	log := filepath.Join(dir, "commands.log")
	n, err := NewNginx(NginxConfig{
		File: file, Upstream: "kong",
		From: []string{"127.0.0.1:8000"}, To: []string{"http://127.0.0.1:9000"},
		Test:      []string{"sh", "-c", "echo test >>" + log + "; " + test},
		Reload:    []string{"sh", "-c", "echo reload >>" + log},
		Keepalive: 16,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.loaded = func(time.Time) error { return nil } // no nginx processes to read
	return n, file, log
}

func readLog(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

func TestNginxWritesTestsReloadsAndReadsBack(t *testing.T) {
	ctx := context.Background()
	n, file, log := fakeNginx(t, "true")
	for _, w := range []Weights{{100, 0}, {90, 10}, {50, 50}, {0, 100}} {
		if err := n.SetWeights(ctx, w); err != nil {
			t.Fatalf("SetWeights(%v): %v", w, err)
		}
		got, err := n.Weights(ctx)
		if err != nil || got != w {
			t.Fatalf("Weights after %v = %v, %v", w, got, err)
		}
	}
	if got := readLog(t, log); got != "test reload test reload test reload test reload" {
		t.Errorf("commands run: %q", got)
	}
	src, _ := os.ReadFile(file)
	for _, want := range []string{"server 127.0.0.1:8000 down;", "server 127.0.0.1:9000 weight=1;", "keepalive 16;"} {
		if !strings.Contains(string(src), want) {
			t.Errorf("file lacks %q:\n%s", want, src)
		}
	}
	// The same weights again: the file is not rewritten, but nginx is
	// tested and reloaded (after a crash between a write and its reload,
	// the file matches and nginx does not run it).
	st, _ := os.Stat(file)
	if err := n.SetWeights(ctx, Weights{0, 100}); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, log); strings.Count(got, "reload") != 5 {
		t.Errorf("a repeated SetWeights did not reload: %q", got)
	}
	if st2, _ := os.Stat(file); !st2.ModTime().Equal(st.ModTime()) {
		t.Error("a repeated SetWeights rewrote the file")
	}
}

// Weights reports the file's split only when nginx has loaded it.
func TestNginxWeightsNeedsTheFileLoaded(t *testing.T) {
	ctx := context.Background()
	n, _, _ := fakeNginx(t, "true")
	if err := n.SetWeights(ctx, Weights{50, 50}); err != nil {
		t.Fatal(err)
	}
	notLoaded := &NotLoadedError{Written: time.Now(), Worker: 7, Started: time.Now().Add(-time.Minute)}
	n.loaded = func(time.Time) error { return notLoaded }
	if w, err := n.Weights(ctx); !errors.As(err, new(*NotLoadedError)) {
		t.Errorf("Weights with nginx not having loaded the file = %v, %v; want a *NotLoadedError", w, err)
	}
	// SetWeights waits (up to Timeout) for nginx to load it.
	n.cfg.Timeout = 100 * time.Millisecond
	if err := n.SetWeights(ctx, Weights{50, 50}); !errors.As(err, new(*NotLoadedError)) {
		t.Errorf("SetWeights with nginx never loading the file = %v", err)
	}
}

func TestNginxFailedTestRestoresPreviousFile(t *testing.T) {
	ctx := context.Background()
	n, file, log := fakeNginx(t, `grep -q "weight=9" UPSTREAM && { echo 'nginx: [emerg] invalid parameter "weight=9"' >&2; exit 1; } || true`)
	// Point the fake test at the file: it fails for the 90/10 split only.
	n.cfg.Test[2] = strings.ReplaceAll(n.cfg.Test[2], "UPSTREAM", file)
	if err := n.SetWeights(ctx, Weights{100, 0}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(file)
	err := n.SetWeights(ctx, Weights{90, 10})
	var te *Error
	if !errors.As(err, &te) || !strings.Contains(err.Error(), `invalid parameter "weight=9"`) || !strings.Contains(err.Error(), "restored") {
		t.Fatalf("SetWeights(90/10) = %v, want an *Error with nginx's output", err)
	}
	after, _ := os.ReadFile(file)
	if string(after) != string(before) {
		t.Errorf("file not restored:\n%s", after)
	}
	if got := readLog(t, log); got != "test reload test" {
		t.Errorf("commands run: %q (no reload after a failed test)", got)
	}
	if w, err := n.Weights(ctx); err != nil || w != (Weights{100, 0}) {
		t.Errorf("Weights = %v, %v; want the previous 100/0", w, err)
	}
}

func TestNginxFailedTestOnNewFileRemovesIt(t *testing.T) {
	n, file, _ := fakeNginx(t, "echo bad >&2; exit 1")
	if err := n.SetWeights(context.Background(), Weights{100, 0}); err == nil || !strings.Contains(err.Error(), "bad") {
		t.Fatalf("SetWeights = %v", err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("upstream file left behind: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(file)); len(ents) != 1 { // the command log only
		t.Errorf("directory holds %d entries, want only the command log (no temporary files)", len(ents))
	}
}

func TestNginxCancelledDuringTestRestores(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, file, log := fakeNginx(t, "true")
	if err := n.SetWeights(ctx, Weights{100, 0}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(file)
	// The test command announces itself on a FIFO and then hangs; the
	// caller cancels while it runs. The driver must kill it, not reload,
	// and put the old file back.
	fifo := filepath.Join(t.TempDir(), "started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	n.cfg.Test = []string{"sh", "-c", "echo test >>" + log + "; echo started >" + fifo + "; exec sleep 60"}
	go func() {
		if f, err := os.Open(fifo); err == nil { // blocks until the command writes
			_, _ = f.Read(make([]byte, 16))
			f.Close()
		}
		cancel()
	}()
	err := n.SetWeights(ctx, Weights{50, 50})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("SetWeights cancelled during the test = %v", err)
	}
	after, _ := os.ReadFile(file)
	if string(after) != string(before) {
		t.Errorf("file changed after cancellation:\n%s", after)
	}
	if got := readLog(t, log); got != "test reload test" {
		t.Errorf("commands run: %q", got)
	}
	// Cancelled before anything: nothing is written.
	if err := n.SetWeights(ctx, Weights{10, 90}); !errors.Is(err, context.Canceled) {
		t.Errorf("SetWeights with a cancelled context = %v", err)
	}
}

func TestNginxReadsHandWrittenFiles(t *testing.T) {
	ctx := context.Background()
	n, file, _ := fakeNginx(t, "true")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`# written by a person
upstream other { server 10.0.0.1:1; }
upstream kong {
    zone kong 64k;   # shared memory
    least_conn;
    server 127.0.0.1:8000 weight=3 max_fails=2 fail_timeout=5s;
    server "127.0.0.1:9000";  # weight 1 by default
    keepalive 8;
}
`)
	if w, err := n.Weights(ctx); err != nil || w != (Weights{75, 25}) {
		t.Errorf("Weights = %v, %v; want 75/25", w, err)
	}
	// Not the driver's file to replace: it holds another block.
	if err := n.SetWeights(ctx, Weights{50, 50}); err == nil || !strings.Contains(err.Error(), "more than the upstream") {
		t.Errorf("SetWeights over a shared file = %v", err)
	}
	for name, src := range map[string]string{
		"missing block":   "upstream other { server 127.0.0.1:8000; }\n",
		"unknown server":  "upstream kong { server 127.0.0.1:8000; server 127.0.0.1:7000; server 127.0.0.1:9000; }\n",
		"missing server":  "upstream kong { server 127.0.0.1:8000; }\n",
		"unbalanced":      "upstream kong { server 127.0.0.1:8000;\n",
		"bad weight":      "upstream kong { server 127.0.0.1:8000 weight=0; server 127.0.0.1:9000; }\n",
		"all down":        "upstream kong { server 127.0.0.1:8000 down; server 127.0.0.1:9000 down; }\n",
		"no semicolon":    "upstream kong { server 127.0.0.1:8000 }\n",
		"unterminated":    "upstream kong { server \"127.0.0.1:8000; }\n",
		"duplicate block": "upstream kong { server 127.0.0.1:8000; server 127.0.0.1:9000; }\nupstream kong { }\n",
	} {
		write(src)
		if w, err := n.Weights(ctx); err == nil {
			t.Errorf("%s: Weights = %v, want an error", name, w)
		}
	}
}

func TestNginxSplitsAcrossSeveralServers(t *testing.T) {
	dir := t.TempDir()
	n, err := NewNginx(NginxConfig{
		File: filepath.Join(dir, "u.conf"), Upstream: "kong",
		From:   []string{"10.0.0.1:8000", "10.0.0.2:8000", "10.0.0.3:8000"},
		To:     []string{"10.0.1.1:8000", "10.0.1.2:8000"},
		Reload: []string{"true"},
	})
	if err != nil {
		t.Fatal(err)
	}
	n.loaded = func(time.Time) error { return nil }
	ctx := context.Background()
	for _, w := range []Weights{{90, 10}, {33, 67}, {1, 99}} {
		if err := n.SetWeights(ctx, w); err != nil {
			t.Fatal(err)
		}
		if got, err := n.Weights(ctx); err != nil || got != w {
			t.Errorf("Weights after %v = %v, %v", w, got, err)
		}
	}
}

func TestNewNginxRefusesBadConfig(t *testing.T) {
	ok := NginxConfig{File: "/x", Upstream: "kong", From: []string{"a:1"}, To: []string{"b:1"}, Reload: []string{"true"}}
	for name, mod := range map[string]func(*NginxConfig){
		"no file":     func(c *NginxConfig) { c.File = "" },
		"no upstream": func(c *NginxConfig) { c.Upstream = "" },
		"no reload":   func(c *NginxConfig) { c.Reload = nil },
		"no to":       func(c *NginxConfig) { c.To = nil },
		"bad address": func(c *NginxConfig) { c.To = []string{"kong-y"} },
		"twice":       func(c *NginxConfig) { c.To = []string{"a:1"} },
	} {
		c := ok
		mod(&c)
		if _, err := NewNginx(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewNginx(ok); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}
