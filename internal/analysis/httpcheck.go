package analysis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// HTTPCheckConfig is a staging check: one request through a side's proxy
// (Y's unless the plan says target = "from") and what its response must
// show. Expectations left at their zero value are not checked.
type HTTPCheckConfig struct {
	Name    string
	BaseURL string // the side's proxy URL, "http://kong-y:8000"
	Method  string // default GET
	Path    string // "/orders?x=1"
	Headers map[string]string
	Body    string

	Status int // expected status; 0: any
	// ExpectHeaders: each named header must be present with exactly this
	// value (surrounding spaces ignored; any one of repeated values).
	ExpectHeaders map[string]string
	BodyContains  string
	// JSONPath maps dotted paths into the JSON body to their expected text
	// (syntax: see jsonPathText in jsonpath.go: "data.0.name").
	JSONPath map[string]string

	Timeout time.Duration // whole request; default 10s
	Client  *http.Client  // default: a client with Timeout, no redirects followed
}

// HTTPCheck is a Gate over one HTTP request.
type HTTPCheck struct {
	cfg HTTPCheckConfig
	url string
}

// maxBody bounds how much of a response body a check reads.
const maxBody = 1 << 20

// NewHTTPCheck checks cfg; it sends nothing.
func NewHTTPCheck(cfg HTTPCheckConfig) (*HTTPCheck, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &Error{Op: "configure check " + cfg.Name, Target: cfg.BaseURL, Err: errors.New("proxy URL must be http(s)://host[:port]")}
	}
	if !strings.HasPrefix(cfg.Path, "/") {
		return nil, &Error{Op: "configure check " + cfg.Name, Target: cfg.BaseURL, Err: fmt.Errorf("path %q must start with /", cfg.Path)}
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodGet
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Timeout:       cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &HTTPCheck{cfg: cfg, url: strings.TrimRight(cfg.BaseURL, "/") + cfg.Path}, nil
}

// Name is the check's name.
func (c *HTTPCheck) Name() string { return c.cfg.Name }

// Measure sends the request once and compares the response with every
// expectation, reporting all that fail in one reason. A request that
// cannot be made or whose body cannot be read is Inconclusive. Safe to
// repeat as far as the check goes (the request itself is the plan's
// choice). The error is non-nil only when ctx ended: no measurement.
func (c *HTTPCheck) Measure(ctx context.Context) (Result, error) {
	op := c.cfg.Method + " " + c.cfg.Path
	var body io.Reader
	if c.cfg.Body != "" {
		body = strings.NewReader(c.cfg.Body)
	}
	req, err := http.NewRequestWithContext(ctx, c.cfg.Method, c.url, body)
	if err != nil {
		e := &Error{Op: op, Target: c.cfg.BaseURL, Err: err}
		return inconclusive(c.cfg.Name, "cannot build the request: "+err.Error(), e), nil
	}
	for k, v := range c.cfg.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		e := &Error{Op: op, Target: c.cfg.BaseURL, Err: err}
		return inconclusive(c.cfg.Name, "request failed: "+err.Error(), e), nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		e := &Error{Op: op, Target: c.cfg.BaseURL, Err: fmt.Errorf("read body: %w", err)}
		return inconclusive(c.cfg.Name, "reading the response failed: "+err.Error(), e), nil
	}

	value := "status " + strconv.Itoa(resp.StatusCode)
	var problems []string
	if c.cfg.Status != 0 && resp.StatusCode != c.cfg.Status {
		problems = append(problems, fmt.Sprintf("status %d, want %d", resp.StatusCode, c.cfg.Status))
	}
	for _, name := range sortedKeys(c.cfg.ExpectHeaders) {
		want := strings.TrimSpace(c.cfg.ExpectHeaders[name])
		got := resp.Header.Values(name)
		switch {
		case len(got) == 0:
			problems = append(problems, fmt.Sprintf("header %s is missing, want %q", name, want))
		case !containsTrimmed(got, want):
			problems = append(problems, fmt.Sprintf("header %s is %q, want %q", name, strings.Join(got, ", "), want))
		}
	}
	if c.cfg.BodyContains != "" && !strings.Contains(string(b), c.cfg.BodyContains) {
		problems = append(problems, fmt.Sprintf("body does not contain %q (body starts %q)", c.cfg.BodyContains, excerpt(b)))
	}
	for _, path := range sortedKeys(c.cfg.JSONPath) {
		want := c.cfg.JSONPath[path]
		got, err := jsonPathText(b, path)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("json_path %q: %v", path, err))
		case got != want:
			problems = append(problems, fmt.Sprintf("json_path %q is %q, want %q", path, got, want))
		}
	}
	if len(problems) > 0 {
		return failed(c.cfg.Name, value, op+" on "+c.cfg.BaseURL+": "+strings.Join(problems, "; ")), nil
	}
	return passed(c.cfg.Name, value, op+" on "+c.cfg.BaseURL+" answered as expected"), nil
}

func containsTrimmed(vals []string, want string) bool {
	for _, v := range vals {
		if strings.TrimSpace(v) == want {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// excerpt is the start of a body for a reason: at most 120 bytes.
func excerpt(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "..."
	}
	return string(b)
}
