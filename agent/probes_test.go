package agent_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/agent"
	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// get returns a GET's status code and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

// TestStandbyWebhookAndProbes: two agents on one PostgreSQL journal. Both
// are ready (the leader; the standby because it reaches the journal). A
// push webhook delivered to the standby makes the leader poll, through a
// request journaled for it: the leader's head moves to the pushed commit
// although its poll interval is an hour. A standby whose journal is gone
// is not ready and answers the webhook 503.
func TestStandbyWebhookAndProbes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dsn := testenv.Postgres(t).NewDatabase(t)
	g := testenv.GitServer(t)
	work, first := g.NewRepo(t, "plans", map[string]string{"plans/README.md": "plans\n"})
	const secret = "hook-secret-ha"

	// An hour between polls: only the first poll of a lead and webhooks
	// make it poll during the test.
	o := haOptions{dsn: dsn, repoURL: g.RepoURL("plans"), interval: time.Hour, webhookSecret: secret}
	lead, standby := electLeader(t, startHANode(t, ctx, o, "agent-a"), startHANode(t, ctx, o, "agent-b"))
	waitFor(t, "the leader's first poll", 30*time.Second, func() bool { return lead.a.Status(ctx).Head == first })
	// The elector's verdict reaches each agent's own record of its role a
	// moment later (seen: the leader's /readyz still said standby).
	waitFor(t, "the leader to know its role", 30*time.Second, func() bool { return lead.a.Status(ctx).Role == "leader" })
	waitFor(t, "the standby to know its role", 30*time.Second, func() bool { return standby.a.Status(ctx).Role == "follower" })

	for _, n := range []*haNode{lead, standby} {
		if code, body := get(t, n.url+"/healthz"); code != http.StatusOK {
			t.Errorf("%s /healthz: %d %s", n.id, code, body)
		}
	}
	if code, body := get(t, lead.url+"/readyz"); code != http.StatusOK || !strings.Contains(body, "leader") {
		t.Errorf("leader /readyz: %d %s", code, body)
	}
	if code, body := get(t, standby.url+"/readyz"); code != http.StatusOK || !strings.Contains(body, "standby") {
		t.Errorf("standby /readyz: %d %s", code, body)
	}

	// A push, announced to the standby only.
	second := g.CommitFiles(t, work, map[string]string{"plans/README.md": "plans, again\n"}, "second")
	g.Git(t, work, "push", "--quiet", "origin", "main")
	if code, body := pushHook(t, standby.url, secret, second); code != http.StatusAccepted {
		t.Fatalf("webhook to the standby: %d %s", code, body)
	}
	waitFor(t, "the leader to poll the pushed commit", 30*time.Second, func() bool { return lead.a.Status(ctx).Head == second })
	recs, err := lead.store.Records(ctx, agent.PollRequests, 0)
	if err != nil || len(recs) != 1 || recs[0].Actor.Agent != "agent "+standby.id || recs[0].Details["after"] != second {
		t.Errorf("journaled poll requests %+v (%v): want one by the standby for %s", recs, err, second)
	}
	for _, p := range lead.a.Status(ctx).Plans {
		if p.Name == agent.PollRequests {
			t.Errorf("the status lists the poll requests' journal as a plan")
		}
	}

	// The standby loses its journal: not ready, and the webhook is refused.
	_ = standby.store.Close()
	if code, body := get(t, standby.url+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "journal is not reachable") {
		t.Errorf("standby without its journal /readyz: %d %s", code, body)
	}
	if code, body := pushHook(t, standby.url, secret, second); code != http.StatusServiceUnavailable {
		t.Errorf("webhook to a standby without its journal: %d %s", code, body)
	}
}

// pushHook sends a signed GitHub push of main at commit to url/webhook.
func pushHook(t *testing.T, url, secret, commit string) (int, string) {
	t.Helper()
	body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","after":%q}`, commit))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	req, _ := http.NewRequest(http.MethodPost, url+"/webhook", bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "d-"+commit[:8])
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// hangingSource answers polls from a fixed snapshot; while hang is set a
// poll blocks until release is closed or the poll's context ends.
type hangingSource struct {
	hang    atomic.Bool
	release chan struct{}
}

func (s *hangingSource) Poll(ctx context.Context) (agent.Snapshot, bool, error) {
	if s.hang.Load() {
		select {
		case <-s.release:
		case <-ctx.Done():
			return agent.Snapshot{}, false, ctx.Err()
		}
	}
	return agent.Snapshot{Commit: "c1", Files: map[string][]byte{}}, false, nil
}

func (s *hangingSource) FilesAt(context.Context, string) (map[string][]byte, error) {
	return map[string][]byte{}, nil
}

// TestHealthzWedgedPoll: /healthz answers 200 while the poll loop turns
// and 503 once a poll has run longer than WedgedAfter; it recovers when
// the poll returns. /readyz: an agent alone is ready once it has polled
// and reaches its journal.
func TestHealthzWedgedPoll(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := engine.OpenDir(t.TempDir(), engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	src := &hangingSource{release: make(chan struct{})}
	a, err := agent.New(agent.Config{Source: src, Store: store, Interval: time.Hour, WedgedAfter: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor(t, "ready after the first poll", 30*time.Second, func() bool { code, _ := get(t, srv.URL+"/readyz"); return code == http.StatusOK })
	if code, body := get(t, srv.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz between polls: %d %s", code, body)
	}
	src.hang.Store(true)
	a.Trigger()
	var body string
	waitFor(t, "/healthz to report the wedged poll", 30*time.Second, func() bool {
		var code int
		code, body = get(t, srv.URL+"/healthz")
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(body, "poll loop wedged") {
		t.Errorf("/healthz: %s", body)
	}
	src.hang.Store(false)
	close(src.release)
	waitFor(t, "/healthz to recover", 30*time.Second, func() bool { code, _ := get(t, srv.URL+"/healthz"); return code == http.StatusOK })
}
