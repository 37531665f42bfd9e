package hybrid

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// ClientOptions configure a data plane's Client.
type ClientOptions struct {
	// ControlPlane is the control plane's cluster listener URL
	// ("http://127.0.0.1:8005").
	ControlPlane string
	// Report is this data plane's identity; ConfigHash is kept by the client.
	Report Report
	// Apply loads a configuration pulled from the control plane; an error
	// keeps the previous one (Kong logs and retries).
	Apply func(ctx context.Context, body []byte, hash string) error
	// Interval between pulls (1 s when zero).
	Interval   time.Duration
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Client is a data plane's connection to its control plane.
type Client struct {
	opts ClientOptions
	log  *slog.Logger

	mu        sync.Mutex
	hash      string
	connected bool
	status    string
}

// NewClient returns a client that has applied nothing yet (config hash
// 00000000000000000000000000000000).
func NewClient(opts ClientOptions) *Client {
	if opts.Interval == 0 {
		opts.Interval = time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	c := &Client{opts: opts, log: opts.Logger, hash: emptyConfigHash}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Run pulls until ctx is done; errors are logged and retried at the next
// interval. It returns ctx.Err().
func (c *Client) Run(ctx context.Context) error {
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		if err := c.SyncOnce(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("hybrid: sync with control plane failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// SyncOnce reports to the control plane and, when accepted with a newer
// configuration, pulls and applies it, then reports the new hash. It is
// safe to repeat.
func (c *Client) SyncOnce(ctx context.Context) error {
	ans, err := c.report(ctx)
	if err != nil {
		c.setConnected(false)
		return err
	}
	c.setConnected(true)
	switch ans.SyncStatus {
	case StatusKongVersionIncompat, StatusPluginSetIncompatible, StatusPluginVersionIncompat:
		return fmt.Errorf("control plane rejected this data plane (%s): %s", ans.SyncStatus, ans.Message)
	}
	if ans.ConfigHash == c.Hash() {
		return nil
	}
	body, hash, err := c.pull(ctx)
	if err != nil {
		return err
	}
	if c.opts.Apply != nil {
		if err := c.opts.Apply(ctx, body, hash); err != nil {
			return fmt.Errorf("apply configuration %s: %w", hash, err)
		}
	}
	c.mu.Lock()
	c.hash = hash
	c.mu.Unlock()
	_, err = c.report(ctx)
	return err
}

// Hash is the hash of the configuration last applied.
func (c *Client) Hash() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hash
}

// Connected reports whether the last exchange with the control plane
// succeeded (kong_control_plane_connected).
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

// Status is the sync status the control plane last gave this data plane.
func (c *Client) Status() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

func (c *Client) setConnected(ok bool) {
	c.mu.Lock()
	c.connected = ok
	c.mu.Unlock()
}

func (c *Client) report(ctx context.Context) (ReportAnswer, error) {
	rep := c.opts.Report
	rep.ConfigHash = c.Hash()
	b, err := json.Marshal(rep)
	if err != nil {
		return ReportAnswer{}, fmt.Errorf("encode report: %w", err)
	}
	url := strings.TrimSuffix(c.opts.ControlPlane, "/") + "/v1/dp/report"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return ReportAnswer{}, fmt.Errorf("report to %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return ReportAnswer{}, fmt.Errorf("report to %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return ReportAnswer{}, fmt.Errorf("report to %s: HTTP %d: %s", url, resp.StatusCode, bytes.TrimSpace(msg))
	}
	var ans ReportAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		return ReportAnswer{}, fmt.Errorf("report to %s: decode answer: %w", url, err)
	}
	c.mu.Lock()
	c.status = ans.SyncStatus
	c.mu.Unlock()
	return ans, nil
}

func (c *Client) pull(ctx context.Context) ([]byte, string, error) {
	u := strings.TrimSuffix(c.opts.ControlPlane, "/") + "/v1/config?node_id=" + url.QueryEscape(c.opts.Report.NodeID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", fmt.Errorf("pull config: %w", err)
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("pull config from %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("pull config from %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("pull config from %s: HTTP %d: %s", u, resp.StatusCode, bytes.TrimSpace(body))
	}
	return body, resp.Header.Get("X-Kong-Config-Hash"), nil
}
