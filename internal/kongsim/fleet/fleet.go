// Package fleet runs named kongsim nodes in one process and lets plans'
// start/stop hooks control them over HTTP, as a deploy script controls
// real Kong nodes: the engine runs the hook argv (curl) without a shell,
// the fleet's control server starts or stops the node. The sandbox and the
// end-to-end tests use it; nothing in production does.
//
// Each node's addresses are fixed when it is added (free loopback ports),
// so a plan can name its URLs before it runs. Start and Stop are
// idempotent. A start that Kong would refuse (a database with new
// migrations, say) answers 500 with Kong's message, so curl -f fails and
// the engine sees the hook fail.
package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/upshift-dev/upshift/internal/freeport"
	"github.com/upshift-dev/upshift/internal/kongsim"
)

// Fleet is a set of named nodes and its control server.
type Fleet struct {
	log *slog.Logger

	mu    sync.Mutex
	cfgs  map[string]kongsim.Config
	nodes map[string]*kongsim.Node
	srv   *http.Server
	base  string
	calls []string
}

// New returns an empty fleet; logger nil discards.
func New(logger *slog.Logger) *Fleet {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Fleet{log: logger, cfgs: map[string]kongsim.Config{}, nodes: map[string]*kongsim.Node{}}
}

// freeAddr picks a free loopback port (internal/freeport).
func freeAddr() (string, error) { return freeport.Addr() }

// Add declares a node without starting it; empty listen addresses get
// free loopback ports (Admin, proxy, status; cluster for control planes).
func (f *Fleet) Add(name string, cfg kongsim.Config) error {
	if name == "" || strings.ContainsAny(name, "/ ") {
		return fmt.Errorf("fleet: bad node name %q", name)
	}
	for _, a := range []*string{&cfg.AdminListen, &cfg.ProxyListen, &cfg.StatusListen} {
		if *a == "" {
			v, err := freeAddr()
			if err != nil {
				return fmt.Errorf("fleet: add %s: %w", name, err)
			}
			*a = v
		}
	}
	if cfg.Role == "control_plane" && cfg.ClusterListen == "" {
		v, err := freeAddr()
		if err != nil {
			return fmt.Errorf("fleet: add %s: %w", name, err)
		}
		cfg.ClusterListen = v
	}
	if cfg.Logger == nil {
		cfg.Logger = f.log.With("node", name)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.cfgs[name]; dup {
		return fmt.Errorf("fleet: node %s already added", name)
	}
	f.cfgs[name] = cfg
	return nil
}

// Config is the node's configuration (its fixed addresses).
func (f *Fleet) Config(name string) (kongsim.Config, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cfgs[name]
	return c, ok
}

// URLs are the node's Admin, proxy and status URLs.
func (f *Fleet) URLs(name string) (admin, proxy, status string) {
	c, _ := f.Config(name)
	return "http://" + c.AdminListen, "http://" + c.ProxyListen, "http://" + c.StatusListen
}

// Start starts the node; already running is nil.
func (f *Fleet) Start(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg, ok := f.cfgs[name]
	if !ok {
		return fmt.Errorf("fleet: no node %s", name)
	}
	if f.nodes[name] != nil {
		return nil
	}
	n, err := kongsim.Start(context.WithoutCancel(ctx), cfg)
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	f.nodes[name] = n
	f.log.Info("node started", "node", name, "version", cfg.Version)
	return nil
}

// Stop stops the node; already stopped is nil. The node's listeners are
// closed before the lock is released: a start of the same node waiting
// for it would otherwise bind the ports the old node still holds.
func (f *Fleet) Stop(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodes[name]
	if _, known := f.cfgs[name]; !known {
		return fmt.Errorf("fleet: no node %s", name)
	}
	if n == nil {
		return nil
	}
	delete(f.nodes, name)
	f.log.Info("node stopped", "node", name)
	if err := n.Stop(); err != nil {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	return nil
}

// Running reports whether the node runs.
func (f *Fleet) Running(name string) bool { return f.Node(name) != nil }

// Node is the running node, nil when stopped.
func (f *Fleet) Node(name string) *kongsim.Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nodes[name]
}

// Calls lists the control requests served ("start y", "stop x"), in order.
func (f *Fleet) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Serve starts the control server on a loopback port and returns its URL.
func (f *Fleet) Serve() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("fleet: control server: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /nodes/{name}/{action}", f.control)
	mux.HandleFunc("GET /nodes", f.list)
	f.mu.Lock()
	f.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	f.base = "http://" + l.Addr().String()
	srv := f.srv
	f.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
	return f.base, nil
}

func (f *Fleet) control(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	f.mu.Lock()
	f.calls = append(f.calls, action+" "+name)
	f.mu.Unlock()
	var err error
	switch action {
	case "start":
		err = f.Start(r.Context(), name)
	case "stop":
		err = f.Stop(r.Context(), name)
	default:
		http.Error(w, "unknown action "+action, http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "%s %s: ok\n", action, name)
}

// NodeState is one line of GET /nodes.
type NodeState struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Running bool   `json:"running"`
	Admin   string `json:"admin_url"`
	Proxy   string `json:"proxy_url"`
}

func (f *Fleet) list(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	var out []NodeState
	for n, c := range f.cfgs {
		out = append(out, NodeState{Name: n, Version: c.Version, Running: f.nodes[n] != nil, Admin: "http://" + c.AdminListen, Proxy: "http://" + c.ProxyListen})
	}
	f.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// Hook is the argv a plan's start/stop hook uses for the node: curl to the
// control server (Serve must have been called). --fail-with-body: a
// refused start prints the fleet's reason (Kong's message, a port in
// use), which -f hid behind "returned error: 500".
func (f *Fleet) Hook(name, action string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []string{"curl", "-sS", "--fail-with-body", "--max-time", "60", "-X", "POST", f.base + "/nodes/" + name + "/" + action}
}

// Close stops every node and the control server.
func (f *Fleet) Close() error {
	f.mu.Lock()
	nodes := f.nodes
	f.nodes = map[string]*kongsim.Node{}
	srv := f.srv
	f.mu.Unlock()
	var errs []error
	for _, n := range nodes {
		errs = append(errs, n.Stop())
	}
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		errs = append(errs, srv.Shutdown(ctx))
	}
	return errors.Join(errs...)
}
