package proxy

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/prom"
)

// Config is the entities the proxy needs, as go-kong types. Foreign keys
// (Route.Service, Plugin.Service/Route/Consumer, KeyAuth.Consumer,
// ACLGroup.Consumer) are matched by ID.
type Config struct {
	Services  []*kong.Service
	Routes    []*kong.Route
	Plugins   []*kong.Plugin
	Consumers []*kong.Consumer
	KeyAuths  []*kong.KeyAuth
	ACLs      []*kong.ACLGroup
}

// Options configure a Handler. The zero value of every field but Version
// and Load is usable.
type Options struct {
	Version kongrelease.Version
	NodeID  string
	// Load returns the current configuration; it is called on the first
	// request and on the first request after Invalidate. A nil *Config is
	// an empty configuration. When Load fails, the last good configuration
	// stays in use (Kong keeps its router when the database is unreachable);
	// with none, requests get 500 "An unexpected error occurred".
	Load func(ctx context.Context) (*Config, error)
	// Metrics receives the prometheus plugin's observations; nil disables them.
	Metrics *prom.Metrics
	Logger  *slog.Logger
	// Transport forwards to upstreams; nil uses a private http.Transport.
	Transport http.RoundTripper
	// RoutedFault, when set, is asked once per request after a route
	// matched and the access phase passed; a non-zero status makes Kong
	// answer the request itself with that status and "An unexpected error
	// occurred" (as a plugin's runtime error does), without contacting the
	// upstream. Such answers are logged like any other: the prometheus
	// plugin counts them with source="kong". A test device, not Kong
	// behaviour.
	RoutedFault func(*http.Request) int
}

// loadTimeout bounds one Load; retryLoadAfter spaces retries after a
// failure, during which the last good configuration serves.
const (
	loadTimeout    = 10 * time.Second
	retryLoadAfter = time.Second
)

// Handler serves a kongsim node's proxy listener. It is safe for
// concurrent use.
type Handler struct {
	opts Options
	log  *slog.Logger
	rt   http.RoundTripper

	// gen counts Invalidate calls; it is atomic so that Invalidate never
	// waits for a Load in progress (the node may call it while holding
	// locks its Load needs).
	gen atomic.Uint64

	mu        sync.Mutex // serialises loads; guards the fields below
	state     *state     // built from the last good Config
	loadedGen uint64     // gen the state was loaded for
	retryAt   time.Time  // after a failed Load, when to try again

	counters *counterStore // rate-limiting counters of the local policy
}

// New returns the proxy handler of a node.
func New(opts Options) *Handler {
	h := &Handler{opts: opts, log: opts.Logger, rt: opts.Transport, counters: newCounterStore()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.rt == nil {
		h.rt = newTransport()
	}
	if opts.Metrics != nil {
		opts.Metrics.SetEnabledFunc(h.prometheusEnabled)
	}
	return h
}

// Invalidate makes the next request reload the configuration. The node
// calls it after every Admin API write and /config load. It never blocks.
func (h *Handler) Invalidate() { h.gen.Add(1) }

// current returns the routing state, reloading it when stale.
func (h *Handler) current(ctx context.Context) (*state, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.gen.Load()
	if h.state != nil && h.loadedGen == g {
		return h.state, nil
	}
	if h.state != nil && time.Now().Before(h.retryAt) {
		return h.state, nil
	}
	var cfg *Config
	var err error
	if h.opts.Load != nil {
		// The load outlives a client that goes away, and is bounded.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		cfg, err = h.opts.Load(lctx)
		cancel()
	}
	if err != nil {
		h.log.Error("proxy: reload configuration", "err", err)
		h.retryAt = time.Now().Add(retryLoadAfter)
		if h.state != nil {
			return h.state, nil
		}
		return nil, err
	}
	if cfg == nil {
		cfg = &Config{}
	}
	h.state = build(h.opts.Version, cfg, h.log)
	h.loadedGen = g
	return h.state, nil
}

// prometheusEnabled reports whether any enabled prometheus plugin is
// configured (exporter.lua configure()).
func (h *Handler) prometheusEnabled() bool {
	st, err := h.current(context.Background())
	if err != nil || st == nil {
		return false
	}
	return st.promEnabled
}
