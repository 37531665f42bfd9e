package traffic

import (
	"context"
	"errors"
	"fmt"
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
	// SetWeights waits (up to Timeout) for nginx to load it. Timeout also
	// bounds the test and reload commands: at 100 ms a busy machine (load
	// 40) killed `sh` before the wait began.
	n.cfg.Timeout = 3 * time.Second
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
	// A file holding more than the block: only X's and Y's weights change.
	if err := n.SetWeights(ctx, Weights{50, 50}); err != nil {
		t.Errorf("SetWeights over a shared file = %v", err)
	}
	if src, _ := os.ReadFile(file); !strings.Contains(string(src), "upstream other { server 10.0.0.1:1; }") {
		t.Errorf("the other block was not kept:\n%s", src)
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

// What the driver does not model is kept byte for byte: it changes only
// the weight= and down parameters of X's and Y's servers.
func TestNginxKeepsWhatItDoesNotModel(t *testing.T) {
	ctx := context.Background()
	n, file, _ := fakeNginx(t, "true")
	const tmpl = `# kong's upstream, by hand
http {
upstream kong {
    zone kong 64k;   # shared among workers
    least_conn;
    server 127.0.0.1:8000 max_fails=2 %s fail_timeout=5s max_conns=100;  # X
    server "127.0.0.1:9000"%s slow_start=30s;
    server 127.0.0.1:7000 backup;   # sorry page, takes no share
    keepalive 8;
    keepalive_timeout 30s;
}
upstream other { random two least_conn; server 10.0.0.1:1 weight=3; }
}
`
	if err := os.WriteFile(file, []byte(fmt.Sprintf(tmpl, "weight=3", "")), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		w      Weights
		fx, fy string
	}{
		{Weights{90, 10}, "weight=9", " weight=1"},
		{Weights{0, 100}, "down", " weight=1"},
		{Weights{100, 0}, "weight=1", " down"},
		{Weights{50, 50}, "weight=1", " weight=1"},
	} {
		if err := n.SetWeights(ctx, step.w); err != nil {
			t.Fatalf("SetWeights(%v): %v", step.w, err)
		}
		got, _ := os.ReadFile(file)
		if want := splitComment(step.w) + "\n" + fmt.Sprintf(tmpl, step.fx, step.fy); string(got) != want {
			t.Errorf("after %v the file is\n%s\nwant\n%s", step.w, got, want)
		}
		if w, err := n.Weights(ctx); err != nil || w != step.w {
			t.Errorf("Weights after %v = %v, %v", step.w, w, err)
		}
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 kept", st.Mode().Perm())
	}
	// Both parameters on one server: the first is replaced, the second
	// removed.
	if err := os.WriteFile(file, []byte("upstream kong {\n  server 127.0.0.1:8000 weight=4\tdown; # x\n  server 127.0.0.1:9000 down weight=2;\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := n.SetWeights(ctx, Weights{75, 25}); err != nil {
		t.Fatal(err)
	}
	want := "# Split: from 75% / to 25% (set by Upshift; what nginx routes once reloaded).\n" +
		"upstream kong {\n  server 127.0.0.1:8000 weight=3; # x\n  server 127.0.0.1:9000 weight=1;\n}\n"
	if got, _ := os.ReadFile(file); string(got) != want {
		t.Errorf("file is\n%s\nwant\n%s", got, want)
	}
}

// What would make the weights something other than a split of requests
// is refused, naming file:line and the directive; the file is not
// touched and nginx is neither tested nor reloaded.
func TestNginxRefusesWhatItCannotSplit(t *testing.T) {
	ctx := context.Background()
	const x, y = "server 127.0.0.1:8000;\n", "server 127.0.0.1:9000;\n"
	for name, c := range map[string]struct{ src, want string }{
		"ip_hash":      {"upstream kong {\n" + x + "  ip_hash;\n" + y + "}\n", ":3: upstream \"kong\": ip_hash: requests are balanced by client address"},
		"hash":         {"upstream kong {\n" + x + y + "  hash $request_uri consistent;\n}\n", ":4: upstream \"kong\": hash:"},
		"sticky":       {"upstream kong {\n" + x + y + "  sticky cookie srv_id;\n}\n", ":4: upstream \"kong\": sticky:"},
		"include":      {"upstream kong {\n" + x + y + "  include more-servers.conf;\n}\n", ":4: upstream \"kong\": include:"},
		"backup X":     {"upstream kong {\n  server 127.0.0.1:8000 backup;\n" + y + "}\n", ":2: server 127.0.0.1:8000 backup:"},
		"other server": {"upstream kong {\n" + x + y + "  server 127.0.0.1:7000 weight=5;\n}\n", ":4: server 127.0.0.1:7000 in upstream \"kong\" is neither"},
		"two weights":  {"upstream kong {\n  server 127.0.0.1:8000 weight=2 weight=3;\n" + y + "}\n", ":2: server 127.0.0.1:8000: weight= given twice"},
		"twice":        {"upstream kong {\n" + x + y + x + "}\n", ":4: server 127.0.0.1:8000 is listed twice"},
		"nested twice": {"upstream kong {\n" + x + y + "}\nhttp { upstream kong {\n" + x + y + "} }\n", ":5: a second upstream \"kong\" block"},
	} {
		t.Run(name, func(t *testing.T) {
			n, file, log := fakeNginx(t, "true")
			if err := os.WriteFile(file, []byte(c.src), 0o644); err != nil {
				t.Fatal(err)
			}
			before, _ := os.Stat(file)
			err := n.SetWeights(ctx, Weights{50, 50})
			if err == nil || !strings.Contains(err.Error(), file+c.want) {
				t.Fatalf("SetWeights = %v\nwant an error with %q", err, file+c.want)
			}
			t.Logf("refused: %v", err)
			if got, _ := os.ReadFile(file); string(got) != c.src {
				t.Errorf("the file changed:\n%s", got)
			}
			if after, _ := os.Stat(file); !after.ModTime().Equal(before.ModTime()) {
				t.Error("the file was rewritten")
			}
			if got := readLog(t, log); got != "" {
				t.Errorf("commands run: %q", got)
			}
			if w, err := n.Weights(ctx); err == nil || !strings.Contains(err.Error(), file+c.want) {
				t.Errorf("Weights = %v, %v; want the same refusal", w, err)
			}
		})
	}
}

// A symbolic link (sites-enabled → sites-available) stays a link: the
// file it points to gets the new weights.
func TestNginxKeepsASymlinkedUpstreamFile(t *testing.T) {
	ctx := context.Background()
	n, file, _ := fakeNginx(t, "true")
	target := filepath.Join(t.TempDir(), "kong-upstream.conf")
	if err := os.WriteFile(target, []byte("upstream kong { server 127.0.0.1:8000; server 127.0.0.1:9000 down; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, file); err != nil {
		t.Fatal(err)
	}
	if err := n.SetWeights(ctx, Weights{0, 100}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(file); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the upstream file is no longer a symbolic link: %v", err)
	}
	want := splitComment(Weights{0, 100}) + "\nupstream kong { server 127.0.0.1:8000 down; server 127.0.0.1:9000 weight=1; }\n"
	if got, _ := os.ReadFile(target); string(got) != want {
		t.Errorf("target holds\n%s\nwant\n%s", got, want)
	}
	if w, err := n.Weights(ctx); err != nil || w != (Weights{0, 100}) {
		t.Errorf("Weights = %v, %v", w, err)
	}
	// A link that leads nowhere is refused, not replaced by a file.
	if err := os.Remove(target); err != nil {
		t.Fatal(err)
	}
	if err := n.SetWeights(ctx, Weights{50, 50}); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("SetWeights through a dangling link = %v", err)
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dangling link's target was created: %v", err)
	}
}

// The driver's one comment line is updated in place, not added again, and
// a CRLF file keeps CRLF.
func TestNginxSplitCommentIsUpdatedInPlace(t *testing.T) {
	ctx := context.Background()
	n, file, _ := fakeNginx(t, "true")
	src := "# mine\r\nupstream kong {\r\n  server 127.0.0.1:8000;\r\n  server 127.0.0.1:9000 down;\r\n}\r\n"
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, w := range []Weights{{90, 10}, {50, 50}} {
		if err := n.SetWeights(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	want := splitComment(Weights{50, 50}) + "\r\n# mine\r\nupstream kong {\r\n  server 127.0.0.1:8000 weight=1;\r\n  server 127.0.0.1:9000 weight=1;\r\n}\r\n"
	if got, _ := os.ReadFile(file); string(got) != want {
		t.Errorf("file is %q\nwant %q", got, want)
	}
}

// docs/traffic.md's before-and-after example is what the driver does.
func TestNginxTrafficDocExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "traffic.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, part := range strings.Split(string(doc), "```nginx\n")[1:] {
		blocks = append(blocks, part[:strings.Index(part, "```")])
	}
	if len(blocks) != 2 {
		t.Fatalf("docs/traffic.md has %d nginx blocks, want the before and the after", len(blocks))
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "kong-upstream.conf")
	if err := os.WriteFile(file, []byte(blocks[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := NewNginx(NginxConfig{File: file, Upstream: "kong", From: []string{"http://10.0.0.5:8000"}, To: []string{"10.0.0.6:8000"}, Reload: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	n.loaded = func(time.Time) error { return nil }
	if err := n.SetWeights(context.Background(), Weights{90, 10}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(file); string(got) != blocks[1] {
		t.Errorf("after 90/10 the file is\n%s\ndocs/traffic.md says\n%s", got, blocks[1])
	}
}
