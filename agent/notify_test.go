package agent

import (
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

	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/notify"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// posted is one request a local forge or webhook received.
type posted struct {
	path string // escaped, as sent
	head http.Header
	body map[string]any
}

// TestCommitStatusAndPlanNotify runs an agent on a plan whose X does not
// answer (the guard stalls it) with commit statuses for GitHub and GitLab
// pointed at local receivers and the plan's own notify "webhook" block
// (its URL from the environment): each forge gets pending (run started)
// then failure (stalled) on the plan's commit in its own shape, linking to
// the agent's status page, which answers; the plan's webhook gets both
// events; every delivery is journaled as sent.
func TestCommitStatusAndPlanNotify(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]posted{}
	forge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		key := strings.SplitN(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/", 2)[0] // github, gitlab or hook
		mu.Lock()
		got[key] = append(got[key], posted{path: r.URL.EscapedPath(), head: r.Header.Clone(), body: m})
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer forge.Close()
	var page http.Handler
	agentSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { page.ServeHTTP(w, r) }))
	defer agentSrv.Close()
	target := func(p string) string { return agentSrv.URL + "/?plan=" + p }

	port := testenv.FreePort(t) // nothing listens: X is down
	src := strings.ReplaceAll(unreachablePlan, "PORT", strconv.Itoa(port))
	src = strings.ReplaceAll(src, "BACKUPS", t.TempDir())
	src = strings.Replace(src, "  rollout {", "  notify \"webhook\" { url = env(\"EDGE_HOOK\") }\n  rollout {", 1)
	store, err := engine.OpenDir(t.TempDir(), engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	statuses := notify.NewDispatcher([]notify.Receiver{
		&notify.CommitStatus{Forge: "github", API: forge.URL + "/github", Repo: "acme/plans", Token: "gh-token-1", TargetURL: target},
		&notify.CommitStatus{Forge: "gitlab", API: forge.URL + "/gitlab/api/v4", Repo: "acme/plans", Token: "gl-token-1", TargetURL: target},
	}, notify.Options{Record: engine.DeliveryRecorder(context.Background(), store, engine.Actor{Agent: "agent-test"})})
	defer statuses.Close(context.Background())
	const commit = "0123456789abcdef0123"
	a, err := New(Config{Source: fixedSource{Snapshot{Commit: commit, Author: "Alice <alice@example.com>",
		Files: map[string][]byte{"plans/edge.upshift.hcl": []byte(src)}}},
		Store: store, Holder: "agent-test", Notify: statuses,
		LookupEnv: func(n string) (string, bool) {
			if n == "EDGE_HOOK" {
				return forge.URL + "/hook/edge", true
			}
			return "", false
		},
		Engine: func(c *engine.Config) { c.WaitTimeout, c.RetryBase, c.Retries = time.Second, 10*time.Millisecond, 1 }})
	if err != nil {
		t.Fatal(err)
	}
	page = a.Handler()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// Poll the receivers and the journal until every delivery is in.
	deadline := time.Now().Add(60 * time.Second)
	var sent int
	for {
		recs, err := store.Records(context.Background(), "edge-3-9", 0)
		if err != nil {
			t.Fatal(err)
		}
		sent = 0
		for _, r := range recs {
			if r.Event == engine.EventNotification && r.Details["result"] == notify.Sent {
				sent++
			}
		}
		if sent >= 6 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling, bounded by the deadline
	}
	mu.Lock()
	defer mu.Unlock()
	if sent != 6 {
		t.Fatalf("%d deliveries journaled as sent, want 6 (2 events × GitHub, GitLab, the plan's webhook); got %v", sent, got)
	}
	want := map[string]struct{ path, states, nameKey, authKey, auth string }{
		"github": {"/github/repos/acme/plans/statuses/" + commit, "pending,failure", "context", "Authorization", "Bearer gh-token-1"},
		"gitlab": {"/gitlab/api/v4/projects/acme%2Fplans/statuses/" + commit, "pending,failed", "name", "Private-Token", "gl-token-1"},
	}
	for f, w := range want {
		var states []string
		for _, p := range got[f] {
			states = append(states, p.body["state"].(string))
			if p.path != w.path || p.body[w.nameKey] != "upshift/edge-3-9" || p.head.Get(w.authKey) != w.auth || p.body["target_url"] != target("edge-3-9") {
				t.Errorf("%s: %s %v %v", f, p.path, p.body, p.head)
			}
		}
		if strings.Join(states, ",") != w.states {
			t.Errorf("%s: states %v, want %s", f, states, w.states)
		}
	}
	var kinds []string
	for _, p := range got["hook"] {
		kinds = append(kinds, p.body["event"].(string))
		if p.body["commit"] != commit || p.body["plan"] != "edge-3-9" {
			t.Errorf("plan webhook: %v", p.body)
		}
	}
	if strings.Join(kinds, ",") != notify.RunStarted+","+notify.Stalled {
		t.Errorf("plan webhook got %v, want run_started, stalled", kinds)
	}
	// The status API's journal (upshift status --plan) shows each delivery.
	var shown []string
	for _, ps := range a.Status(context.Background()).Plans {
		for _, l := range ps.Journal {
			if l.What == engine.EventNotification {
				shown = append(shown, l.Text)
			}
		}
	}
	if len(shown) != 6 || !strings.Contains(strings.Join(shown, "\n"), "stalled to commit status (github acme/plans) 127.0.0.1:") ||
		!strings.Contains(shown[0], ": sent (attempts: 1)") || strings.Contains(strings.Join(shown, "\n"), "/hook/edge") {
		t.Errorf("journal lines of the deliveries:\n%s", strings.Join(shown, "\n"))
	}
	// target_url is the running agent's status page.
	resp, err := http.Get(target("edge-3-9"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("target_url answers %d", resp.StatusCode)
	}
}
