package kongsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/hybrid"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/migrations"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/plugins"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/prom"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/proxy"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/store"
)

// Config describes one emulated Kong node. Listen addresses are host:port;
// "127.0.0.1:0" picks a free port; "" leaves the listener off. For
// StatusListen, "default" means Kong's default for the version (off up to
// 3.5, 127.0.0.1:8007 from 3.6; kong-facts §1.3).
type Config struct {
	Version  string // "3.9.1", "3.4.3.12", ...
	Role     string // traditional (default) | control_plane | data_plane
	Database string // postgres | off; default postgres when DSN is set, else off
	DSN      string // PostgreSQL DSN (DB mode)

	AdminListen, ProxyListen, StatusListen, ClusterListen string
	// ControlPlane is a data plane's control plane cluster URL
	// ("http://127.0.0.1:8005").
	ControlPlane string
	Logger       *slog.Logger
	// DeclarativeConfig is loaded at start in DB-less mode (declarative_config);
	// without it a DB-less node starts with an empty configuration.
	DeclarativeConfig []byte
	// NodeID is kept across restarts when set (Kong keeps it in the prefix).
	NodeID string
	// Hostname reported in GET / and to a control plane; os.Hostname() when "".
	Hostname string
	// DBUpdateFrequency is db_update_frequency: how often a DB-mode node
	// picks up entity changes other nodes wrote (Kong's default 5 s).
	DBUpdateFrequency time.Duration
	// Plugins is kong.conf's plugins: "bundled" (the default when empty),
	// names of bundled or custom plugins, or "off" alone for none
	// ({"bundled", "custom-x"}). A custom plugin accepts any config.
	Plugins []string
}

type pgInfo struct {
	host, database, user string
	port                 int
	hasPassword          bool
}

// starts counts nodes started in this process (a node's pids.master).
var starts atomic.Int64

// Node is a running emulated Kong node.
type Node struct {
	cfg      Config
	version  kongrelease.Version
	nodeID   string
	hostname string
	log      *slog.Logger
	// masterPID is GET / pids.master: a new one per start, as a restarted
	// Kong's master process has (kong-facts §1.1), though every node of
	// this process shares its pid.
	masterPID int

	reg    *store.Registry
	store  *store.Store
	offer  *plugins.Offer // the plugins setting resolved
	pool   *pgxpool.Pool
	pgInfo *pgInfo
	faults *Faults

	proxy   *proxy.Handler
	metrics *prom.Metrics
	cp      *hybrid.Registry
	dp      *hybrid.Client

	// DB-less state.
	declMu   sync.Mutex // serialises /config loads
	hash     atomic.Value
	draining atomic.Bool
	requests atomic.Int64

	servers []*http.Server
	urls    map[string]string
	addrs   map[string]string
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped atomic.Bool
}

// dbless reports whether entities live in memory (database=off, and every
// data plane).
func (n *Node) dbless() bool { return n.cfg.Database == "off" }

// Start starts a node. It refuses to start as `kong start` does: a
// database that needs bootstrapping or has new migrations for this version
// is an error with Kong's message (kong-facts §3.3); pending migrations
// only log Kong's warning.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	v, err := kongrelease.Parse(cfg.Version)
	if err != nil {
		return nil, err
	}
	if cfg.Role == "" {
		cfg.Role = "traditional"
	}
	if cfg.Database == "" {
		cfg.Database = "off"
		if cfg.DSN != "" {
			cfg.Database = "postgres"
		}
	}
	switch {
	case cfg.Role != "traditional" && cfg.Role != "control_plane" && cfg.Role != "data_plane":
		return nil, fmt.Errorf("role must be 'control_plane', 'data_plane', or 'traditional'")
	case cfg.Database != "postgres" && cfg.Database != "off":
		return nil, fmt.Errorf("database has an invalid value: '%s' (postgres, off)", cfg.Database)
	case cfg.Role == "data_plane" && cfg.Database != "off":
		return nil, errors.New("only in-memory storage can be used when role = \"data_plane\"\nHint: set database = off in your kong.conf")
	case cfg.Role == "control_plane" && cfg.Database == "off":
		return nil, errors.New("in-memory storage can not be used when role = \"control_plane\"")
	case cfg.Database == "postgres" && cfg.DSN == "":
		return nil, errors.New("kongsim: database=postgres needs a DSN")
	}
	if cfg.StatusListen == "default" {
		cfg.StatusListen = ""
		if v.AtLeast(3, 6, 0) {
			cfg.StatusListen = "127.0.0.1:8007"
		}
	}
	n := &Node{cfg: cfg, version: v, nodeID: cfg.NodeID, hostname: cfg.Hostname, log: cfg.Logger,
		reg: store.NewRegistry(v), faults: newFaults(), urls: map[string]string{}, addrs: map[string]string{}}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.nodeID == "" {
		n.nodeID = uuid.NewString()
	}
	n.masterPID = os.Getpid() + int(starts.Add(1)) - 1
	if n.hostname == "" {
		n.hostname, _ = os.Hostname()
	}
	n.hash.Store("")
	n.offer = plugins.NewOffer(v, cfg.Plugins)
	n.store = &store.Store{Reg: n.reg, Plugin: n.offer.Validate, PluginTop: n.offer, Check: n.faults.dbCheck}
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	if err := n.openStorage(ctx); err != nil {
		cancel()
		return nil, err
	}
	n.metrics = prom.New(v, n.nodeID)
	n.proxy = proxy.New(proxy.Options{Version: v, NodeID: n.nodeID, Load: n.proxyConfig, Metrics: n.metrics, Logger: n.log, RoutedFault: n.faults.routed})
	if cfg.Role == "control_plane" {
		n.cp = hybrid.NewRegistry(hybrid.RegistryOptions{Version: v, Config: n.snapshot, Logger: n.log})
	}
	if err := n.listen(); err != nil {
		n.Stop()
		return nil, err
	}
	if !n.dbless() {
		every := cfg.DBUpdateFrequency
		if every <= 0 {
			every = 5 * time.Second
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.pollChanges(runCtx, every)
		}()
	}
	if cfg.Role == "data_plane" {
		n.dp = hybrid.NewClient(hybrid.ClientOptions{
			ControlPlane: cfg.ControlPlane,
			Report:       hybrid.Report{NodeID: n.nodeID, Hostname: n.hostname, Version: v.String(), Plugins: n.offer.Names()},
			Apply:        n.applyFromCP,
			Logger:       n.log,
		})
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			_ = n.dp.Run(runCtx)
		}()
	}
	n.log.Info("kongsim node started", "version", v.String(), "role", cfg.Role, "database", cfg.Database,
		"admin", n.urls["admin"], "proxy", n.urls["proxy"], "status", n.urls["status"])
	return n, nil
}

// openStorage connects to PostgreSQL and checks the migration state, or
// loads the declarative configuration of a DB-less node.
func (n *Node) openStorage(ctx context.Context) error {
	if n.dbless() {
		n.store.SetBackend(store.NewMem(), true)
		if n.cfg.Role == "data_plane" {
			return nil // hash stays uninitialised until the first pull
		}
		n.hash.Store(store.EmptyConfigHash)
		if len(n.cfg.DeclarativeConfig) > 0 {
			parsed, err := store.ParseDeclarative(n.cfg.DeclarativeConfig)
			if err != nil {
				return fmt.Errorf("error parsing declarative config file: %w", err)
			}
			d, err := n.store.LoadDeclarative(ctx, parsed, false)
			if err != nil {
				return fmt.Errorf("error parsing declarative config file: %w", err)
			}
			n.install(d)
		}
		return nil
	}
	pcfg, err := pgxpool.ParseConfig(n.cfg.DSN)
	if err != nil {
		return fmt.Errorf("parse DSN: %w", err)
	}
	cc := pcfg.ConnConfig
	n.pgInfo = &pgInfo{host: cc.Host, port: int(cc.Port), database: cc.Database, user: cc.User, hasPassword: cc.Password != ""}
	pcfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("connect to %s:%d/%s: %w", cc.Host, cc.Port, cc.Database, err)
	}
	n.pool = pool
	n.store.Backend = &store.PG{Pool: pool}
	st, err := migrations.Inspect(ctx, pool, n.version)
	if err != nil {
		pool.Close()
		return fmt.Errorf("[PostgreSQL error] failed to retrieve PostgreSQL server_version_num: %w", err)
	}
	if err := st.StartError(); err != nil {
		pool.Close()
		return err
	}
	if err := n.checkPluginsInUse(ctx); err != nil {
		pool.Close()
		return err
	}
	if info := st.StartInfo(); info != "" {
		n.log.Info(info)
	}
	if warn := st.NginxWarning(); warn != "" {
		n.log.Warn(warn)
	}
	return nil
}

// checkPluginsInUse refuses to start, as Kong's init does when it builds
// the plugins iterator, when a plugin configured in the database (any
// workspace) is not loaded by this node's plugins setting
// (K: kong/runloop/plugins_iterator.lua, kong/init.lua).
func (n *Node) checkPluginsInUse(ctx context.Context) error {
	names, err := n.pluginNamesInUse(ctx)
	if err != nil {
		return fmt.Errorf("error building initial plugins: read plugins in use: %w", err)
	}
	for _, name := range names {
		if !n.offer.Loaded(name) {
			return fmt.Errorf("error building initial plugins: %s plugin is in use but not enabled", name)
		}
	}
	return nil
}

// pluginNamesInUse is the sorted, distinct names of the plugins in the
// database, read by PostgreSQL (one row per name, not per plugin: a node
// holding 100,000 plugins answers GET / in milliseconds).
func (n *Node) pluginNamesInUse(ctx context.Context) ([]string, error) {
	rows, err := n.pool.Query(ctx, `SELECT DISTINCT name FROM plugins ORDER BY name`)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if names == nil {
		names = []string{} // GET / answers [], not null
	}
	return names, err
}

// listen opens the listeners the config asks for.
func (n *Node) listen() error {
	type l struct {
		name, addr string
		h          http.Handler
	}
	ls := []l{
		{"admin", n.cfg.AdminListen, n.adminHeaders(n.countRequests(http.HandlerFunc(n.admin)))},
		{"proxy", n.cfg.ProxyListen, n.countRequests(n.faults.wrap("proxy", n.proxy))},
		{"status", n.cfg.StatusListen, n.adminHeaders(http.HandlerFunc(n.statusAPI))},
	}
	if n.cp != nil {
		ls = append(ls, l{"cluster", n.cfg.ClusterListen, n.cp.Handler()})
	}
	for _, x := range ls {
		if x.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", x.addr)
		if err != nil {
			return fmt.Errorf("listen %s on %s: %w", x.name, x.addr, err)
		}
		srv := &http.Server{Handler: x.h, ReadHeaderTimeout: 10 * time.Second}
		n.servers = append(n.servers, srv)
		n.addrs[x.name] = ln.Addr().String()
		n.urls[x.name] = "http://" + ln.Addr().String()
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			_ = srv.Serve(ln)
		}()
	}
	return nil
}

func (n *Node) countRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.requests.Add(1)
		h.ServeHTTP(w, r)
	})
}

// AdminURL is the Admin API's base URL ("" when off).
func (n *Node) AdminURL() string { return n.urls["admin"] }

// ProxyURL is the proxy listener's base URL ("" when off).
func (n *Node) ProxyURL() string { return n.urls["proxy"] }

// StatusURL is the Status API's base URL ("" when off).
func (n *Node) StatusURL() string { return n.urls["status"] }

// ClusterURL is a control plane's cluster listener URL ("" otherwise).
func (n *Node) ClusterURL() string { return n.urls["cluster"] }

// NodeID is the node's id (GET / node_id).
func (n *Node) NodeID() string { return n.nodeID }

// Faults gives the node's fault switches.
func (n *Node) Faults() *Faults { return n.faults }

// Config returns a config that restarts this node as it is now: the same
// bound addresses and node id, and in DB-less mode the configuration it
// has loaded (Kong keeps it in LMDB across restarts).
func (n *Node) Config() Config {
	c := n.cfg
	for name, p := range map[string]*string{"admin": &c.AdminListen, "proxy": &c.ProxyListen, "status": &c.StatusListen, "cluster": &c.ClusterListen} {
		if a, ok := n.addrs[name]; ok {
			*p = a
		}
	}
	c.NodeID = n.nodeID
	if n.dbless() && n.cfg.Role != "data_plane" && n.configHash() != store.EmptyConfigHash {
		if b, err := n.store.Export(context.Background()); err == nil {
			c.DeclarativeConfig = b
		}
	}
	return c
}

// Stop closes the listeners (in-flight requests, hung ones included, are
// cut), stops the data-plane client and closes the database pool. It is
// safe to call more than once.
func (n *Node) Stop() error {
	if n.stopped.Swap(true) {
		return nil
	}
	n.cancel()
	var errs []error
	for _, s := range n.servers {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	n.wg.Wait()
	if n.pool != nil {
		n.pool.Close()
	}
	return errors.Join(errs...)
}

// pollChanges makes the proxy reload every period, so a node sees what
// other nodes on the same database wrote (Kong polls cluster_events every
// db_update_frequency; kongsim reloads instead of reading events).
func (n *Node) pollChanges(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n.proxy.Invalidate()
		}
	}
}

// changed tells the proxy to reload after an Admin API write.
func (n *Node) changed() { n.proxy.Invalidate() }

// configHash is the DB-less/DP configuration hash ("" = not initialised).
func (n *Node) configHash() string { return n.hash.Load().(string) }

// ConfigHash is the hash of the configuration the node serves (a data
// plane's: the one it last applied).
func (n *Node) ConfigHash() string { return n.configHash() }

// install makes a loaded declarative config the node's configuration.
func (n *Node) install(d *store.Declarative) {
	n.store.SetBackend(d.Backend, true)
	n.hash.Store(d.Hash)
	if n.proxy != nil {
		n.proxy.Invalidate()
	}
}

// proxyConfig gives the proxy the entities it routes with, as go-kong types.
func (n *Node) proxyConfig(ctx context.Context) (*proxy.Config, error) {
	c := &proxy.Config{}
	for name, dst := range map[string]any{"services": &c.Services, "routes": &c.Routes, "plugins": &c.Plugins,
		"consumers": &c.Consumers, "keyauth_credentials": &c.KeyAuths, "acls": &c.ACLs} {
		ent := n.reg.ByName(name)
		if ent == nil {
			continue
		}
		rows, err := n.store.All(ctx, ent)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(rows)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, dst); err != nil {
			return nil, fmt.Errorf("decode %s for the proxy: %w", name, err)
		}
	}
	return c, nil
}

// snapshot is what a control plane pushes to its data planes.
func (n *Node) snapshot(ctx context.Context) (hybrid.Snapshot, error) {
	b, err := n.exportJSON(ctx)
	if err != nil {
		return hybrid.Snapshot{}, err
	}
	names, err := n.enabledPlugins(&http.Request{})
	if err != nil {
		return hybrid.Snapshot{}, err
	}
	return hybrid.Snapshot{Body: b, Plugins: names}, nil
}

// applyFromCP loads a configuration pulled by a data plane.
func (n *Node) applyFromCP(ctx context.Context, body []byte, hash string) error {
	if n.faults.dataPlaneStuck() {
		return fmt.Errorf("load configuration %s from control plane: refused (fault: StickDataPlaneConfig)", hash)
	}
	parsed, err := store.ParseDeclarative(body)
	if err != nil {
		return fmt.Errorf("parse configuration from control plane: %w", err)
	}
	n.declMu.Lock()
	defer n.declMu.Unlock()
	d, err := n.store.LoadDeclarative(ctx, parsed, false)
	if err != nil {
		return fmt.Errorf("load configuration from control plane: %w", err)
	}
	if hash != "" && len(d.Entities) > 0 {
		d.Hash = hash
	}
	n.install(d)
	return nil
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Host
}
