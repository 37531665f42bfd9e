package testenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NginxConfig describes the nginx that [Nginx] starts. Its zero value is
// usable: an upstream named "kong" with no servers is refused by nginx, so
// callers normally list Servers.
type NginxConfig struct {
	Upstream  string        // upstream block name; "kong" when empty
	Servers   []NginxServer // the upstream's servers, written to the upstream file
	Keepalive int           // idle keep-alive connections to upstreams per worker; 32 when 0
	Workers   int           // worker processes; 2 when 0
	TLS       *NginxTLS     // the proxy listener speaks TLS (URL is https)
}

// NginxTLS makes nginx terminate TLS on its proxy listener, as a TLS
// front of a Kong Admin API does.
type NginxTLS struct {
	CertFile, KeyFile string // the server's certificate and key (PEM)
	// ClientCAFile, when set, makes nginx require a client certificate
	// signed by this CA (mutual TLS); it answers 400 without one.
	ClientCAFile string
}

// NginxServer is one server line of an upstream block.
type NginxServer struct {
	Addr   string // host:port, e.g. "127.0.0.1:8000"
	Weight int    // nginx weight, ≥ 1; 1 when 0
	Down   bool   // written with the down flag: gets no requests
}

// NginxUpstream renders an upstream block as the upstream file holds it:
//
//	upstream kong {
//	    server 127.0.0.1:8000 weight=90;
//	    server 127.0.0.1:8001 weight=10;
//	    keepalive 32;
//	}
//
// keepalive ≤ 0 leaves the keepalive directive out.
func NginxUpstream(name string, keepalive int, servers ...NginxServer) string {
	var b strings.Builder
	fmt.Fprintf(&b, "upstream %s {\n", name)
	for _, s := range servers {
		w := max(s.Weight, 1)
		fmt.Fprintf(&b, "    server %s weight=%d", s.Addr, w)
		if s.Down {
			b.WriteString(" down")
		}
		b.WriteString(";\n")
	}
	if keepalive > 0 {
		fmt.Fprintf(&b, "    keepalive %d;\n", keepalive)
	}
	b.WriteString("}\n")
	return b.String()
}

// NginxProc is a running nginx. Its proxy listens on URL() and passes every
// request to the upstream block in UpstreamFile(), which callers (the
// traffic driver) rewrite and then reload. A second listener, private to the
// harness, answers with the configuration generation so that Reload can
// tell when new workers serve.
type NginxProc struct {
	Prefix string // nginx prefix directory: configuration, logs, temp paths

	bin       string
	conf      string
	errorLog  string
	port      int
	genPort   int
	keepalive int
	upstream  string
	tls       *NginxTLS
	proc      *proc

	mu  sync.Mutex // serialises Reload
	gen int        // generation of the configuration loaded last
}

// Nginx starts nginx with cfg on free loopback ports and stops it in
// t.Cleanup. The test is skipped when nginx is missing and CI is unset.
func Nginx(t testing.TB, cfg NginxConfig) *NginxProc {
	t.Helper()
	bin, err := lookBinary("nginx", "nginx-light", "/usr/sbin/nginx")
	needBinary(t, err)
	if cfg.Upstream == "" {
		cfg.Upstream = "kong"
	}
	if cfg.Keepalive == 0 {
		cfg.Keepalive = 32
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	n := &NginxProc{Prefix: t.TempDir(), bin: bin, keepalive: cfg.Keepalive, upstream: cfg.Upstream, tls: cfg.TLS, gen: 1}
	n.conf = filepath.Join(n.Prefix, "nginx.conf")
	n.errorLog = filepath.Join(n.Prefix, "error.log")
	logFileOnFailure(t, "nginx error", n.errorLog)
	if err := os.Mkdir(filepath.Join(n.Prefix, "tmp"), 0o700); err != nil {
		t.Fatalf("testenv: nginx prefix: %v", err)
	}
	if err := n.WriteUpstream(cfg.Servers...); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	// The traffic driver takes a worker started in the same clock tick
	// (10 ms) as the upstream file's modification for one that may not
	// have loaded it: the file nginx starts with is dated a second back,
	// so that its first workers are younger (a guard right after start
	// once read "nginx has not loaded the upstream file").
	back := time.Now().Add(-time.Second)
	if err := os.Chtimes(n.UpstreamFile(), back, back); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	without := nginxMissingModules(bin)
	err = retryPorts(2, func(ports []int) error {
		n.port, n.genPort = ports[0], ports[1]
		if err := n.writeConf(cfg.Workers, without); err != nil {
			return err
		}
		cmd := exec.Command(bin, n.args()...)
		cmd.Dir = n.Prefix
		p, err := startProc(cmd, filepath.Join(n.Prefix, "stderr.log"), syscall.SIGTERM)
		if err != nil {
			return err
		}
		if err := p.waitUntil(30*time.Second, n.servesGeneration(n.gen)); err != nil {
			_ = p.stop(syscall.SIGTERM, 10*time.Second)
			return err
		}
		n.proc = p
		return nil
	})
	if err != nil {
		t.Fatalf("testenv: start nginx: %v", err)
	}
	t.Cleanup(func() {
		if err := n.proc.stop(syscall.SIGTERM, 10*time.Second); err != nil {
			t.Errorf("testenv: stop nginx: %v", err)
		}
	})
	return n
}

// args are the command-line options that address this nginx; every nginx
// command (start, -t, -s reload) needs them.
func (n *NginxProc) args(extra ...string) []string {
	return append([]string{"-p", n.Prefix + "/", "-c", n.conf, "-e", n.errorLog}, extra...)
}

// URL returns the proxy's base URL, "http://127.0.0.1:PORT".
func (n *NginxProc) URL() string {
	if n.tls != nil {
		return fmt.Sprintf("https://127.0.0.1:%d", n.port)
	}
	return fmt.Sprintf("http://127.0.0.1:%d", n.port)
}

// UpstreamFile returns the path of the file that holds the upstream block
// (see [NginxUpstream]); nginx.conf includes it inside http {}.
func (n *NginxProc) UpstreamFile() string { return filepath.Join(n.Prefix, "upstream.conf") }

// PidFile returns the path of nginx's pid file (its pid directive), which
// the traffic driver reads to find nginx's master process.
func (n *NginxProc) PidFile() string { return filepath.Join(n.Prefix, "nginx.pid") }

// ConfFile returns the path of the main configuration file.
func (n *NginxProc) ConfFile() string { return n.conf }

// TestCommand returns the argv of `nginx -t` for this nginx, for a traffic
// driver configured with a test command.
func (n *NginxProc) TestCommand() []string { return append([]string{n.bin}, n.args("-t", "-q")...) }

// ReloadCommand returns the argv of `nginx -s reload` for this nginx. Unlike
// [NginxProc.Reload], running it does not wait for the new workers.
func (n *NginxProc) ReloadCommand() []string {
	return append([]string{n.bin}, n.args("-s", "reload")...)
}

// WriteUpstream atomically replaces the upstream file with a block of
// servers under the configured upstream name and keepalive. It does not
// reload.
func (n *NginxProc) WriteUpstream(servers ...NginxServer) error {
	return writeFileAtomic(n.UpstreamFile(), NginxUpstream(n.upstream, n.keepalive, servers...))
}

// Test runs `nginx -t` on the current configuration files.
func (n *NginxProc) Test() error {
	argv := n.TestCommand()
	if err := runCmd(exec.Command(argv[0], argv[1:]...)); err != nil {
		return fmt.Errorf("nginx -t: %w", err)
	}
	return nil
}

// Reload makes nginx load the configuration files again (`nginx -s
// reload`) and returns once new connections are served by workers of the
// new configuration: the harness bumps a generation number in nginx.conf
// and polls the private listener until it answers with it. A configuration
// that nginx refuses makes Reload fail (after `nginx -t`), and the old
// workers keep serving.
func (n *NginxProc) Reload() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	next := n.gen + 1
	if err := n.rewriteGeneration(next); err != nil {
		return err
	}
	if err := n.Test(); err != nil {
		_ = n.rewriteGeneration(n.gen)
		return err
	}
	argv := n.ReloadCommand()
	if err := runCmd(exec.Command(argv[0], argv[1:]...)); err != nil {
		return fmt.Errorf("nginx -s reload: %w", err)
	}
	if err := n.proc.waitUntil(30*time.Second, n.servesGeneration(next)); err != nil {
		return fmt.Errorf("nginx reload: %w; error log:\n%s", err, tail(n.errorLog, 4<<10))
	}
	n.gen = next
	return nil
}

// servesGeneration checks that a new connection to the private listener is
// answered by workers of configuration generation gen.
func (n *NginxProc) servesGeneration(gen int) func(context.Context) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/", n.genPort)
	want := strconv.Itoa(gen)
	return func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Close = true // a fresh connection each time: it reaches a current worker
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(body)); got != want {
			return fmt.Errorf("configuration generation %q, want %s", got, want)
		}
		return nil
	}
}

// nginxMissingModules returns the modules whose temp-path directives this
// nginx build lacks (nginx-light leaves some out), from `nginx -V`.
func nginxMissingModules(bin string) map[string]bool {
	out, _ := exec.Command(bin, "-V").CombinedOutput()
	m := map[string]bool{}
	for _, mod := range []string{"fastcgi", "uwsgi", "scgi"} {
		m[mod] = strings.Contains(string(out), "--without-http_"+mod+"_module")
	}
	return m
}

func (n *NginxProc) writeConf(workers int, without map[string]bool) error {
	var b strings.Builder
	if os.Geteuid() == 0 {
		// Workers would otherwise run as nobody and could not read the
		// prefix, a private temporary directory.
		b.WriteString("user root;\n")
	}
	tmp := filepath.Join(n.Prefix, "tmp")
	fmt.Fprintf(&b, `daemon off;
master_process on;
worker_processes %d;
pid %s;
error_log %s notice;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %s/client_body;
    proxy_temp_path %s/proxy;
`, workers, n.PidFile(), n.errorLog, tmp, tmp)
	for _, mod := range []string{"fastcgi", "uwsgi", "scgi"} {
		if !without[mod] {
			fmt.Fprintf(&b, "    %s_temp_path %s/%s;\n", mod, tmp, mod)
		}
	}
	listen := fmt.Sprintf("listen 127.0.0.1:%d;", n.port)
	if t := n.tls; t != nil {
		listen = fmt.Sprintf("listen 127.0.0.1:%d ssl;\n        ssl_certificate %s;\n        ssl_certificate_key %s;", n.port, t.CertFile, t.KeyFile)
		if t.ClientCAFile != "" {
			listen += fmt.Sprintf("\n        ssl_client_certificate %s;\n        ssl_verify_client on;", t.ClientCAFile)
		}
	}
	fmt.Fprintf(&b, `    include %s;
    server {
        %s
        location / {
            proxy_pass http://%s;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
        }
    }
    include %s;
}
`, n.UpstreamFile(), listen, n.upstream, filepath.Join(n.Prefix, "generation.conf"))
	if err := writeFileAtomic(n.conf, b.String()); err != nil {
		return err
	}
	return n.rewriteGeneration(n.gen)
}

// rewriteGeneration writes the private listener, which answers gen.
func (n *NginxProc) rewriteGeneration(gen int) error {
	return writeFileAtomic(filepath.Join(n.Prefix, "generation.conf"), fmt.Sprintf(`server {
    listen 127.0.0.1:%d;
    location / { return 200 "%d\n"; }
}
`, n.genPort, gen))
}

// writeFileAtomic replaces path with text: a temporary file in the same
// directory, renamed over path, so that a reader sees the old or the new
// content, never a mix.
func writeFileAtomic(path, text string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
