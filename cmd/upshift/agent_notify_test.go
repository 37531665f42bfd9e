package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/notify"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// wiredPlan is valid, and its X does not answer: the guard stalls the run,
// so a run brings run_started then stalled.
const wiredPlan = testenv.UnreachablePlan

// received is one request a local receiver got.
type received struct {
	path string
	head http.Header
	raw  []byte
	body map[string]any
}

// TestAgentNotifyFlagsWiring starts `upshift agent` twice, as an operator
// would, on a repository whose plan stalls at the guard: one with
// --notify-webhook-env (and its secret), --notify-slack-env and
// --commit-status github, the other with --commit-status gitlab. Each
// receiver the flags name gets its deliveries in its own shape, from the
// variables the flags name: the webhook signed with the secret, Slack's
// text, each forge's commit statuses (pending, then failure) linking to
// --status-url with ?plan=, and its preflight comment; no secret reaches
// the agents' logs.
func TestAgentNotifyFlagsWiring(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]received{}
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		key := strings.SplitN(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/", 2)[0]
		mu.Lock()
		got[key] = append(got[key], received{path: r.URL.EscapedPath(), head: r.Header.Clone(), raw: raw, body: m})
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer recv.Close()

	g := testenv.GitServer(t)
	port := testenv.FreePort(t) // nothing listens: X is down
	src := strings.ReplaceAll(wiredPlan, "PORT", strconv.Itoa(port))
	src = strings.ReplaceAll(src, "BACKUPS", t.TempDir())
	_, commit := g.NewRepo(t, "plans", map[string]string{"plans/edge.upshift.hcl": src})

	t.Setenv("TEST_HOOK_URL", recv.URL+"/hook/secret-path-1")
	t.Setenv("TEST_HOOK_SECRET", "hook-secret-456")
	t.Setenv("TEST_SLACK_URL", recv.URL+"/slack/T000/B000/secret-path-2")
	t.Setenv("TEST_GH_TOKEN", "gh-token-123")
	t.Setenv("TEST_GL_TOKEN", "gl-token-123")
	var logs []*bytes.Buffer
	run := func(id string, flags ...string) func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		var out, errOut bytes.Buffer
		logs = append(logs, &errOut)
		args := append([]string{"agent", "--repo", g.RepoURL("plans"), "--path", "plans", "--data-dir", t.TempDir(),
			"--interval", "1h", "--listen", "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)), "--id", id}, flags...)
		go func() { done <- Main(ctx, args, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut}) }()
		return func() {
			cancel()
			if code := <-done; code != exitOK {
				t.Errorf("agent %s exit %d: %s", id, code, errOut.String())
			}
		}
	}
	stopGH := run("gh", "--notify-webhook-env", "TEST_HOOK_URL", "--notify-webhook-secret-env", "TEST_HOOK_SECRET",
		"--notify-slack-env", "TEST_SLACK_URL", "--commit-status", "github", "--commit-status-token-env", "TEST_GH_TOKEN",
		"--commit-status-api", recv.URL+"/github", "--commit-status-repo", "acme/plans", "--status-url", "https://upshift.example/")
	stopGL := run("gl", "--commit-status", "gitlab", "--commit-status-token-env", "TEST_GL_TOKEN",
		"--commit-status-api", recv.URL+"/gitlab/api/v4", "--commit-status-repo", "acme/plans", "--status-url", "https://upshift.example/")

	// Per receiver: two events (run_started, stalled); per forge also one
	// comment.
	want := map[string]int{"hook": 2, "slack": 2, "github": 3, "gitlab": 3}
	for deadline := time.Now().Add(90 * time.Second); ; {
		mu.Lock()
		n := 0
		for k, w := range want {
			n += min(len(got[k]), w)
		}
		mu.Unlock()
		if n == 10 {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			t.Fatalf("deliveries so far: %v; logs:\n%s\n%s", got, logs[0], logs[1])
		}
		time.Sleep(50 * time.Millisecond) // polling the receivers, bounded by the deadline
	}
	stopGH()
	stopGL()
	mu.Lock()
	defer mu.Unlock()

	var kinds []string
	for _, r := range got["hook"] {
		kinds = append(kinds, r.head.Get("X-Upshift-Event"))
		if r.path != "/hook/secret-path-1" || !notify.Verify([]byte("hook-secret-456"), r.raw, r.head.Get(notify.SignatureHeader)) ||
			r.body["commit"] != commit || r.body["plan"] != "edge-3-9" {
			t.Errorf("webhook: %s %v %s", r.path, r.head, r.raw)
		}
	}
	if strings.Join(kinds, ",") != notify.RunStarted+","+notify.Stalled {
		t.Errorf("webhook events %v", kinds)
	}
	for _, r := range got["slack"] {
		if text, _ := r.body["text"].(string); r.path != "/slack/T000/B000/secret-path-2" || !strings.HasPrefix(text, "*edge-3-9* (cluster edge): ") {
			t.Errorf("slack: %s %s", r.path, r.raw)
		}
	}
	type forge struct{ statuses, comments, authKey, auth, nameKey, failure, text string }
	forges := map[string]forge{
		"github": {"/github/repos/acme/plans/statuses/" + commit, "/github/repos/acme/plans/commits/" + commit + "/comments",
			"Authorization", "Bearer gh-token-123", "context", "failure", "body"},
		"gitlab": {"/gitlab/api/v4/projects/acme%2Fplans/statuses/" + commit, "/gitlab/api/v4/projects/acme%2Fplans/repository/commits/" + commit + "/comments",
			"Private-Token", "gl-token-123", "name", "failed", "note"},
	}
	for name, f := range forges {
		var states []string
		comments := 0
		for _, r := range got[name] {
			if r.head.Get(f.authKey) != f.auth {
				t.Errorf("%s: %s without its token: %v", name, r.path, r.head)
			}
			switch r.path {
			case f.statuses:
				states = append(states, r.body["state"].(string))
				if r.body[f.nameKey] != "upshift/edge-3-9" || r.body["target_url"] != "https://upshift.example/?plan=edge-3-9" {
					t.Errorf("%s status: %s", name, r.raw)
				}
			case f.comments:
				comments++
				if text, _ := r.body[f.text].(string); !strings.Contains(text, "### Upshift preflight: NOT clean") || !strings.Contains(text, "X does not answer") {
					t.Errorf("%s comment: %s", name, r.raw)
				}
			default:
				t.Errorf("%s: unexpected %s", name, r.path)
			}
		}
		if strings.Join(states, ",") != "pending,"+f.failure || comments != 1 {
			t.Errorf("%s: states %v, %d comments; want pending,%s and 1", name, states, comments, f.failure)
		}
	}
	for _, l := range logs {
		for _, secret := range []string{"hook-secret-456", "secret-path-1", "secret-path-2", "gh-token-123", "gl-token-123"} {
			if strings.Contains(l.String(), secret) {
				t.Errorf("%q appears in an agent's log", secret)
			}
		}
	}
}
