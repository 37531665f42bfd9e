package testenv

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// HAProxyConfig describes the HAProxy that [HAProxy] starts: one frontend
// on a free loopback port and one roundrobin backend of named servers.
type HAProxyConfig struct {
	Backend string          // backend name; "kong" when empty
	Balance string          // the backend's balance line; "roundrobin" when empty
	Servers []HAProxyServer // the backend's servers
}

// HAProxyServer is one server line of the backend.
type HAProxyServer struct {
	Name   string // server name, as the runtime API addresses it (backend/name)
	Addr   string // host:port
	Weight int    // written as is: 0 means the server gets no new requests
	Backup bool   // written with the backup flag
}

// HAProxyProc is a running HAProxy with an admin-level runtime API socket.
type HAProxyProc struct {
	Dir     string // configuration, socket and log
	backend string
	port    int
	proc    *proc
}

// HAProxy starts HAProxy with cfg and stops it in t.Cleanup. The test is
// skipped when haproxy is missing and CI is unset.
func HAProxy(t testing.TB, cfg HAProxyConfig) *HAProxyProc {
	t.Helper()
	bin, err := lookBinary("haproxy", "haproxy", "/usr/sbin/haproxy")
	needBinary(t, err)
	if cfg.Backend == "" {
		cfg.Backend = "kong"
	}
	h := &HAProxyProc{Dir: t.TempDir(), backend: cfg.Backend}
	logPath := filepath.Join(h.Dir, "haproxy.log")
	logFileOnFailure(t, "haproxy", logPath)
	conf := filepath.Join(h.Dir, "haproxy.cfg")
	err = retryPorts(1, func(ports []int) error {
		h.port = ports[0]
		if err := writeFileAtomic(conf, h.config(cfg)); err != nil {
			return err
		}
		p, err := startProc(exec.Command(bin, "-db", "-f", conf), logPath, syscall.SIGTERM)
		if err != nil {
			return err
		}
		ready := func(ctx context.Context) error {
			if _, err := h.command(ctx, "show info"); err != nil {
				return err
			}
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", h.port))
			if err != nil {
				return err
			}
			return c.Close()
		}
		if err := p.waitUntil(30*time.Second, ready); err != nil {
			_ = p.stop(syscall.SIGTERM, 10*time.Second)
			return err
		}
		h.proc = p
		return nil
	})
	if err != nil {
		t.Fatalf("testenv: start haproxy: %v", err)
	}
	t.Cleanup(func() {
		if err := h.proc.stop(syscall.SIGTERM, 10*time.Second); err != nil {
			t.Errorf("testenv: stop haproxy: %v", err)
		}
	})
	return h
}

func (h *HAProxyProc) config(cfg HAProxyConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    stats socket %s mode 600 level admin
    log stderr format raw local0 info

defaults
    mode http
    log global
    option httplog
    option http-keep-alive
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend fe
    bind 127.0.0.1:%d
    default_backend %s

backend %s
    balance %s
`, h.Socket(), h.port, cfg.Backend, cfg.Backend, cmp.Or(cfg.Balance, "roundrobin"))
	for _, s := range cfg.Servers {
		fmt.Fprintf(&b, "    server %s %s weight %d", s.Name, s.Addr, s.Weight)
		if s.Backup {
			b.WriteString(" backup")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// URL returns the frontend's base URL, "http://127.0.0.1:PORT".
func (h *HAProxyProc) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", h.port) }

// Socket returns the path of the runtime API socket (level admin).
func (h *HAProxyProc) Socket() string { return filepath.Join(h.Dir, "admin.sock") }

// Backend returns the backend's name.
func (h *HAProxyProc) Backend() string { return h.backend }

// Command sends one runtime API command (e.g. "set weight kong/a 10") and
// returns HAProxy's answer. An answer is not checked for errors: HAProxy
// reports them as text.
func (h *HAProxyProc) Command(cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.command(ctx, cmd)
}

func (h *HAProxyProc) command(ctx context.Context, cmd string) (string, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, "unix", h.Socket())
	if err != nil {
		return "", fmt.Errorf("haproxy runtime API: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", fmt.Errorf("haproxy runtime API %q: %w", cmd, err)
	}
	var out bytes.Buffer
	if _, err := io.Copy(&out, c); err != nil { // HAProxy closes after answering
		return "", fmt.Errorf("haproxy runtime API %q: %w", cmd, err)
	}
	return out.String(), nil
}
