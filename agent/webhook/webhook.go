// Package webhook verifies Git providers' push events for POST /webhook: a
// GitHub push signed with X-Hub-Signature-256 (HMAC-SHA256 of the raw
// body with the shared secret), or a GitLab push carrying X-Gitlab-Token.
// A valid push to the watched branch triggers an immediate poll; a missing
// or bad signature gets 401 and triggers nothing. Secrets are compared in
// constant time and never written to a response or a log.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// MaxBody bounds an event's body (GitHub caps payloads at 25 MB; pushes of
// plan repositories are far smaller).
const MaxBody = 5 << 20

// Config is the handler's configuration. At least one secret must be set.
type Config struct {
	GitHubSecret string // the webhook's secret (from an environment variable)
	GitLabToken  string // the GitLab webhook's secret token
	Branch       string // only pushes to refs/heads/<Branch> trigger; default "main"
	// Trigger is called for a verified push to the branch. It must return
	// quickly (the agent's leader sends on a channel; a standby journals
	// the request for the leader); an error answers 503, so that the
	// sender shows the delivery failed.
	Trigger func(Event) error
	Logger  *slog.Logger
}

// Event is a verified push.
type Event struct {
	Provider string // github | gitlab
	Ref      string
	After    string // the new head commit
	Delivery string // X-GitHub-Delivery, or GitLab's X-Gitlab-Event-UUID
}

// Handler returns the http.Handler for POST /webhook.
func Handler(cfg Config) (http.Handler, error) {
	if cfg.GitHubSecret == "" && cfg.GitLabToken == "" {
		return nil, errors.New("webhook: no secret configured: a webhook without one would let anyone trigger polls")
	}
	if cfg.Branch == "" {
		cfg.Branch = "main"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &handler{cfg: cfg}, nil
}

type handler struct{ cfg Config }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	if len(body) > MaxBody {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	var ev Event
	var kind string
	switch {
	case r.Header.Get("X-Hub-Signature-256") != "" || r.Header.Get("X-GitHub-Event") != "":
		if h.cfg.GitHubSecret == "" || !validGitHub(h.cfg.GitHubSecret, body, r.Header.Get("X-Hub-Signature-256")) {
			h.refuse(w, r, "github")
			return
		}
		ev = Event{Provider: "github", Delivery: r.Header.Get("X-GitHub-Delivery")}
		kind = r.Header.Get("X-GitHub-Event")
		if kind == "ping" {
			_, _ = io.WriteString(w, "pong\n")
			return
		}
		if kind != "push" {
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, "ignored: not a push\n")
			return
		}
	case r.Header.Get("X-Gitlab-Token") != "" || r.Header.Get("X-Gitlab-Event") != "":
		tok := r.Header.Get("X-Gitlab-Token")
		if h.cfg.GitLabToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(h.cfg.GitLabToken)) != 1 {
			h.refuse(w, r, "gitlab")
			return
		}
		ev = Event{Provider: "gitlab", Delivery: r.Header.Get("X-Gitlab-Event-UUID")}
		if r.Header.Get("X-Gitlab-Event") != "Push Hook" {
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, "ignored: not a push\n")
			return
		}
	default:
		h.refuse(w, r, "unknown")
		return
	}
	var push struct {
		Ref   string `json:"ref"`
		After string `json:"after"`
	}
	if err := json.Unmarshal(body, &push); err != nil {
		http.Error(w, "not a push event: "+err.Error(), http.StatusBadRequest)
		return
	}
	ev.Ref, ev.After = push.Ref, push.After
	if ev.Ref != "refs/heads/"+h.cfg.Branch {
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "ignored: another branch\n")
		return
	}
	h.cfg.Logger.Info("webhook: push", "provider", ev.Provider, "ref", ev.Ref, "after", ev.After, "delivery", ev.Delivery)
	if h.cfg.Trigger != nil {
		if err := h.cfg.Trigger(ev); err != nil {
			h.cfg.Logger.Warn("webhook: poll not requested", "err", err)
			http.Error(w, "poll not requested: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, "poll triggered\n")
}

func (h *handler) refuse(w http.ResponseWriter, r *http.Request, provider string) {
	h.cfg.Logger.Warn("webhook: refused (missing or bad signature)", "provider", provider, "remote", r.RemoteAddr)
	http.Error(w, "signature missing or invalid", http.StatusUnauthorized)
}

// validGitHub checks "sha256=<hex HMAC-SHA256(secret, body)>".
func validGitHub(secret string, body []byte, header string) bool {
	sig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}
