package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// SignatureHeader carries the webhook body's HMAC-SHA256 under the
// receiver's secret, "sha256=" and 64 hex digits: GitHub's
// X-Hub-Signature-256 scheme under Upshift's name.
const SignatureHeader = "X-Upshift-Signature-256"

// Sign returns SignatureHeader's value for body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a SignatureHeader value in constant time (receivers in Go
// and the tests use it).
func Verify(secret, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(header))
}

// Webhook posts the Event as JSON to URL, signed when Secret is set.
type Webhook struct {
	URL    string
	Secret string
	// Source says where it was configured ("plan", "--notify-webhook-env HOOK").
	Source string
	Client *http.Client // nil: http.DefaultClient
}

func (w *Webhook) Name() string     { return "webhook (" + w.Source + ") " + hostOf(w.URL) }
func (w *Webhook) Wants(Event) bool { return true }

func (w *Webhook) Send(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode the event: %w", err)
	}
	h := http.Header{"Content-Type": {"application/json"}, "X-Upshift-Event": {ev.Event}, "X-Upshift-Delivery": {ev.ID}}
	if w.Secret != "" {
		h.Set(SignatureHeader, Sign([]byte(w.Secret), body))
	}
	return post(ctx, w.Client, w.Name(), w.URL, body, h, w.Secret)
}

// Slack posts a readable line to a Slack incoming webhook (or anything
// that takes Slack's {"text": ...}).
type Slack struct {
	URL    string
	Source string
	Client *http.Client
}

func (s *Slack) Name() string     { return "slack (" + s.Source + ") " + hostOf(s.URL) }
func (s *Slack) Wants(Event) bool { return true }

func (s *Slack) Send(ctx context.Context, ev Event) error {
	body, err := json.Marshal(map[string]string{"text": SlackText(ev)})
	if err != nil {
		return fmt.Errorf("encode the message: %w", err)
	}
	return post(ctx, s.Client, s.Name(), s.URL, body, http.Header{"Content-Type": {"application/json"}}, "")
}

var titles = map[string]string{
	RunStarted:       "run started",
	AwaitingApproval: "waiting for approval",
	NoReturnCrossed:  "point of no return crossed",
	GateFailed:       "gate failed",
	DriftDetected:    "drift detected",
	RolledBack:       "rolled back",
	Stalled:          "stalled",
	Completed:        "completed",
}

// SlackText is the event as one readable message: what happened to which
// plan, why, and where (commit, run, step).
func SlackText(ev Event) string {
	title := titles[ev.Event]
	if title == "" {
		title = ev.Event
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%s*", ev.Plan)
	if ev.Cluster != "" {
		fmt.Fprintf(&b, " (cluster %s)", ev.Cluster)
	}
	fmt.Fprintf(&b, ": %s", title)
	if ev.Step != "" {
		fmt.Fprintf(&b, " at %s", ev.Step)
	}
	if ev.Reason != "" {
		fmt.Fprintf(&b, " [%s]", ev.Reason)
	}
	if ev.Message != "" {
		b.WriteString("\n" + ev.Message)
	}
	var where []string
	if ev.Run > 0 {
		where = append(where, fmt.Sprintf("run %d", ev.Run))
	}
	if ev.Commit != "" {
		where = append(where, "commit "+shortSHA(ev.Commit))
	}
	if len(where) > 0 {
		b.WriteString("\n" + strings.Join(where, " · "))
	}
	return b.String()
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// hostOf is the part of a URL that may be shown: its host. The path and
// query of an incoming webhook are its credential.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	return u.Host
}

// post sends body and wants a 2xx. Its error names the receiver, never
// the URL (a *url.Error prints it) nor the secrets.
func post(ctx context.Context, c *http.Client, name, target string, body []byte, h http.Header, secrets ...string) error {
	if c == nil {
		c = http.DefaultClient
	}
	mask := func(s string) string {
		for _, x := range append([]string{target}, secrets...) {
			if len(x) >= 4 {
				s = strings.ReplaceAll(s, x, "[REDACTED]")
			}
		}
		if u, err := url.Parse(target); err == nil && len(u.Path) > 1 {
			s = strings.ReplaceAll(s, u.Path, "/[REDACTED]")
		}
		return s
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %s", name, mask(err.Error()))
	}
	req.Header = h
	req.Header.Set("User-Agent", "upshift")
	resp, err := c.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s: %s", name, mask(err.Error()))
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(text))
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		if msg != "" {
			msg = ": " + msg
		}
		return fmt.Errorf("%s: HTTP %d%s", name, resp.StatusCode, mask(msg))
	}
	return nil
}
