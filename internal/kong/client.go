package kong

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// Options says how to reach one Kong node. The zero value of every field
// but AdminURL is usable.
type Options struct {
	AdminURL string // http://127.0.0.1:8001
	// Token, when set, is sent as the Kong-Admin-Token header on every
	// Admin API request. It is never logged or put in an error.
	Token string
	// StatusURL is the node's Status API (status_listen); used by Ready
	// for Kong >= 3.3. Empty: Ready uses the Admin API's /status.
	StatusURL string
	// Timeout bounds each request; default 10s.
	Timeout time.Duration
	// TLS verifies https Admin and Status APIs (an added CA, a server
	// name) and presents a client certificate for mutual TLS.
	TLS TLS
}

// Client talks to one Kong node's Admin and Status APIs. It is safe for
// concurrent use. Each method makes its requests once (no retries).
type Client struct {
	opts   Options
	http   *http.Client // carries the token header (Admin API)
	status *http.Client // no token: the Status API needs none
	admin  *gokong.Client
}

// New returns a client for the node; it does not contact the node.
func New(opts Options) (*Client, error) {
	if opts.AdminURL == "" {
		return nil, &Error{Op: "new client", Err: errors.New("admin URL is empty")}
	}
	u, err := url.Parse(opts.AdminURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, &Error{Op: "new client", Target: redactURL(opts.AdminURL), Err: errors.New("admin URL must be http(s)://host[:port]")}
	}
	if u.User != nil {
		return nil, &Error{Op: "new client", Target: redactURL(opts.AdminURL), Err: errors.New("admin URL must not carry credentials; use the token")}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if !opts.TLS.zero() {
		if tr.TLSClientConfig, err = opts.TLS.Config(); err != nil {
			return nil, &Error{Op: "new client", Target: redactURL(opts.AdminURL), Err: err}
		}
	}
	hc := &http.Client{Timeout: opts.Timeout, Transport: clientCertCheck{tr}}
	plain := &http.Client{Timeout: opts.Timeout, Transport: hc.Transport}
	if opts.Token != "" {
		hc = gokong.HTTPClientWithHeaders(hc, http.Header{"Kong-Admin-Token": []string{opts.Token}})
	}
	admin, err := gokong.NewClient(gokong.String(strings.TrimRight(opts.AdminURL, "/")), hc)
	if err != nil {
		return nil, &Error{Op: "new client", Target: opts.AdminURL, Err: err}
	}
	return &Client{opts: opts, http: hc, status: plain, admin: admin}, nil
}

// GoKong returns the underlying go-kong client (for decK's dump engine).
func (c *Client) GoKong() *gokong.Client { return c.admin }

// HTTPClient returns the HTTP client the driver uses (it adds the token
// header), for go-kong clients of other workspaces.
func (c *Client) HTTPClient() *http.Client { return c.http }

// AdminURL returns the Admin API address the client talks to.
func (c *Client) AdminURL() string { return c.opts.AdminURL }

// NodeInfo is what GET / says about a node (kong-facts §1.1).
type NodeInfo struct {
	Version  kongrelease.Version
	Edition  string // "community" | "enterprise" (reported from 3.6; derived from the version before)
	Role     string // traditional | control_plane | data_plane
	Database string // postgres | off
	Hostname string
	NodeID   string
	// MasterPID is pids.master: it changes when the node restarts, while
	// node_id is kept in the prefix (kong-facts §1.1). 0 when not given.
	MasterPID int
	// PGDatabase, PGHost are configuration.pg_database/pg_host (DB mode).
	PGDatabase, PGHost string
	// Workspaces is true when the node serves /workspaces (Enterprise).
	Workspaces bool
}

// Info reads GET /. Safe to repeat; cancellation aborts the request.
func (c *Client) Info(ctx context.Context) (NodeInfo, error) {
	root, err := c.admin.Root(ctx)
	if err != nil {
		return NodeInfo{}, &Error{Op: "GET /", Target: c.opts.AdminURL, Err: err}
	}
	var info NodeInfo
	raw, _ := root["version"].(string)
	info.Version, err = kongrelease.Parse(raw)
	if err != nil {
		return NodeInfo{}, &Error{Op: "GET /", Target: c.opts.AdminURL, Err: err}
	}
	info.Edition, _ = root["edition"].(string)
	if info.Edition == "" {
		info.Edition = info.Version.Edition()
	}
	info.Hostname, _ = root["hostname"].(string)
	info.NodeID, _ = root["node_id"].(string)
	if pids, ok := root["pids"].(map[string]any); ok {
		if m, ok := pids["master"].(float64); ok {
			info.MasterPID = int(m)
		}
	}
	conf, _ := root["configuration"].(map[string]any)
	info.Role, _ = conf["role"].(string)
	if info.Role == "" {
		info.Role = "traditional"
	}
	info.Database, _ = conf["database"].(string)
	info.PGDatabase, _ = conf["pg_database"].(string)
	info.PGHost, _ = conf["pg_host"].(string)
	if info.Version.Enterprise {
		// Only Enterprise has workspaces; open-source Kong answers 404.
		code, _, err := c.get(ctx, c.opts.AdminURL, "/workspaces?size=1")
		if err != nil {
			return NodeInfo{}, err
		}
		info.Workspaces = code == http.StatusOK
	}
	return info, nil
}

// Readiness is a node's answer to "may traffic go here?".
type Readiness struct {
	Ready bool
	// Source is "status_api" (/status/ready) or "admin_status" (/status).
	Source string
	// Reason is Kong's message when not ready ("failed to connect to
	// database", "draining", ...) or what /status showed.
	Reason string
	// ConfigurationHash is /status's configuration_hash (DB-less, data
	// planes); "" from the Status API or in DB mode.
	ConfigurationHash string
}

// EmptyConfigHash is Kong's DECLARATIVE_EMPTY_CONFIG_HASH (kong-facts §1.2):
// the configuration hash of a DB-less node or data plane with no
// configuration.
const EmptyConfigHash = "00000000000000000000000000000000"

// Ready asks whether the node (of version v) is ready: the Status API's
// GET /status/ready when v >= 3.3 and a status URL is configured (200
// ready, 503 not ready with Kong's reason), otherwise the Admin API's
// GET /status (ready when the database is reachable, or, DB-less and data
// planes, when a non-empty configuration is loaded). A transport error is
// an error; "not ready" is not. Safe to repeat.
func (c *Client) Ready(ctx context.Context, v kongrelease.Version) (Readiness, error) {
	if c.opts.StatusURL != "" && v.AtLeast(3, 3, 0) {
		code, body, err := c.get(ctx, c.opts.StatusURL, "/status/ready")
		if err != nil {
			return Readiness{}, err
		}
		var msg struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &msg)
		switch code {
		case http.StatusOK:
			return Readiness{Ready: true, Source: "status_api", Reason: msg.Message}, nil
		case http.StatusServiceUnavailable:
			return Readiness{Source: "status_api", Reason: msg.Message}, nil
		default:
			return Readiness{}, &Error{Op: "GET /status/ready", Target: c.opts.StatusURL, Err: fmt.Errorf("HTTP %d: %s", code, truncate(body))}
		}
	}
	code, body, err := c.get(ctx, c.opts.AdminURL, "/status")
	if err != nil {
		return Readiness{}, err
	}
	if code != http.StatusOK {
		return Readiness{Source: "admin_status", Reason: fmt.Sprintf("GET /status answered HTTP %d", code)}, nil
	}
	var st struct {
		Database *struct {
			Reachable bool `json:"reachable"`
		} `json:"database"`
		ConfigurationHash string `json:"configuration_hash"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return Readiness{}, &Error{Op: "GET /status", Target: c.opts.AdminURL, Err: fmt.Errorf("decode: %w", err)}
	}
	r := Readiness{Source: "admin_status", ConfigurationHash: st.ConfigurationHash}
	switch {
	case st.Database != nil && !st.Database.Reachable:
		r.Reason = "database not reachable"
	case st.Database == nil && (st.ConfigurationHash == "" || st.ConfigurationHash == EmptyConfigHash):
		r.Reason = "no configuration loaded (configuration_hash " + st.ConfigurationHash + ")"
	default:
		r.Ready = true
	}
	return r, nil
}

// DataPlane is one entry of a control plane's /clustering/data-planes
// (kong-facts §1.4).
type DataPlane struct {
	ID         string            `json:"id"`
	IP         string            `json:"ip"`
	Hostname   string            `json:"hostname"`
	Version    string            `json:"version"`
	SyncStatus string            `json:"sync_status"`
	ConfigHash string            `json:"config_hash"`
	LastSeen   int64             `json:"last_seen"`
	Labels     map[string]string `json:"labels,omitempty"`
}

// DataPlanes lists every data plane a control plane knows, following
// pagination. On a node that is not a control plane Kong answers 400 and
// this returns an error carrying Kong's message. Safe to repeat.
func (c *Client) DataPlanes(ctx context.Context) ([]DataPlane, error) {
	var out []DataPlane
	next := "/clustering/data-planes?size=1000"
	for page := 0; next != ""; page++ {
		if page > 10000 {
			return nil, &Error{Op: "GET /clustering/data-planes", Target: c.opts.AdminURL, Err: errors.New("too many pages")}
		}
		code, body, err := c.get(ctx, c.opts.AdminURL, next)
		if err != nil {
			return nil, err
		}
		if code != http.StatusOK {
			return nil, &Error{Op: "GET /clustering/data-planes", Target: c.opts.AdminURL, Err: fmt.Errorf("HTTP %d: %s", code, truncate(body))}
		}
		var p struct {
			Data []DataPlane `json:"data"`
			Next *string     `json:"next"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, &Error{Op: "GET /clustering/data-planes", Target: c.opts.AdminURL, Err: fmt.Errorf("decode: %w", err)}
		}
		out = append(out, p.Data...)
		next = ""
		if p.Next != nil {
			next = *p.Next
		}
	}
	return out, nil
}

// Config returns a DB-less node's declarative configuration (GET /config,
// Kong's own export, which POST /config accepts unchanged). A DB-mode node
// answers 400, returned as an error. Safe to repeat.
func (c *Client) Config(ctx context.Context) ([]byte, error) {
	b, err := c.admin.Config(ctx)
	if err != nil {
		return nil, &Error{Op: "GET /config", Target: c.opts.AdminURL, Err: err}
	}
	return b, nil
}

// PostConfig loads a declarative configuration into a DB-less node
// (POST /config?check_hash=1&flatten_errors=1: the same configuration is
// a no-op, so repeating is safe). Cancellation aborts the request; Kong may
// still load a configuration it has fully received.
func (c *Client) PostConfig(ctx context.Context, config []byte) error {
	if err := c.admin.ReloadDeclarativeRawConfig(ctx, bytes.NewReader(config), true, true); err != nil {
		return &Error{Op: "POST /config", Target: c.opts.AdminURL, Err: err}
	}
	return nil
}

// get makes one GET and returns the status and body (bounded to 32 MiB).
func (c *Client) get(ctx context.Context, base, path string) (int, []byte, error) {
	op := "GET " + strings.SplitN(path, "?", 2)[0]
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+path, nil)
	if err != nil {
		return 0, nil, &Error{Op: op, Target: redactURL(base), Err: err}
	}
	hc := c.http
	if base != c.opts.AdminURL {
		hc = c.status
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, &Error{Op: op, Target: redactURL(base), Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return 0, nil, &Error{Op: op, Target: redactURL(base), Err: err}
	}
	return resp.StatusCode, body, nil
}

func truncate(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// redactURL drops any userinfo from a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	return u.String()
}
