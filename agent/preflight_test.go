package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/notify"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// logBuffer is a log sink that tests read while the agent writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPreflightCommentOnce runs an agent whose plan's X does not answer,
// with preflight comments for GitHub and GitLab pointed at local forges;
// GitLab's answers 503 twice first. Each forge gets the Markdown report on
// the plan's commit in its own shape, saying what could not be read (not
// "clean"); GitLab's after three attempts. A second agent on the same
// journal (a restart) reads that the report was sent and posts nothing;
// no token reaches the journal or the log.
func TestPreflightCommentOnce(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]posted{}
	gitlabDown := 2
	forge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		key := strings.SplitN(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/", 2)[0]
		mu.Lock()
		defer mu.Unlock()
		got[key] = append(got[key], posted{path: r.URL.EscapedPath(), head: r.Header.Clone(), body: m})
		if key == "gitlab" && gitlabDown > 0 {
			gitlabDown--
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer forge.Close()

	port := testenv.FreePort(t) // nothing listens: X is down
	src := strings.ReplaceAll(unreachablePlan, "PORT", strconv.Itoa(port))
	src = strings.ReplaceAll(src, "BACKUPS", t.TempDir())
	store, err := engine.OpenDir(t.TempDir(), engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const commit = "0123456789abcdef0123"
	logs := &logBuffer{}
	start := func(holder string) func() {
		comments := notify.NewDispatcher([]notify.Receiver{
			&notify.CommitComment{Forge: "github", API: forge.URL + "/github", Repo: "acme/plans", Token: "gh-token-1"},
			&notify.CommitComment{Forge: "gitlab", API: forge.URL + "/gitlab/api/v4", Repo: "acme/plans", Token: "gl-token-1"},
		}, notify.Options{Backoff: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil)),
			Record: engine.DeliveryRecorder(context.Background(), store, engine.Actor{Agent: holder})})
		_, stop := runAgent(t, Config{Source: fixedSource{Snapshot{Commit: commit, Author: "Alice <alice@example.com>",
			Files: map[string][]byte{"plans/edge.upshift.hcl": []byte(src)}}},
			Store: store, Holder: holder, Comments: comments, Logger: slog.New(slog.NewTextHandler(logs, nil))})
		return func() { stop(); comments.Close(context.Background()) }
	}
	sentReports := func() []engine.Record { return sentPreflightReports(t, store) }
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !ok(); {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; log:\n%s", what, logs.String())
			}
			time.Sleep(20 * time.Millisecond) // polling, bounded by the deadline
		}
	}

	stop := start("agent-1")
	waitFor("both reports journaled as sent", func() bool { return len(sentReports()) == 2 })
	stop()
	attempts := map[string]string{}
	for _, r := range sentReports() {
		attempts[strings.Fields(r.Details["receiver"])[2]] = r.Details["attempts"]
		if r.Commit != commit {
			t.Errorf("journaled on commit %q", r.Commit)
		}
	}
	if attempts["(github"] != "1" || attempts["(gitlab"] != "3" {
		t.Errorf("attempts per forge %v, want github 1, gitlab 3 (503 twice, then up)", attempts)
	}

	// A restart: the journal says the report was sent.
	stop = start("agent-2")
	waitFor("the second agent to skip the report", func() bool {
		return strings.Contains(logs.String(), "preflight comment already posted")
	})
	stop()

	mu.Lock()
	defer mu.Unlock()
	want := map[string]struct {
		path, field, authKey, auth string
		posts                      int
	}{
		"github": {"/github/repos/acme/plans/commits/" + commit + "/comments", "body", "Authorization", "Bearer gh-token-1", 1},
		"gitlab": {"/gitlab/api/v4/projects/acme%2Fplans/repository/commits/" + commit + "/comments", "note", "Private-Token", "gl-token-1", 3},
	}
	for f, w := range want {
		if len(got[f]) != w.posts {
			t.Errorf("%s got %d posts, want %d", f, len(got[f]), w.posts)
		}
		for _, p := range got[f] {
			text, _ := p.body[w.field].(string)
			if p.path != w.path || p.head.Get(w.authKey) != w.auth {
				t.Errorf("%s: %s %v", f, p.path, p.head)
			}
			for _, s := range []string{"### Upshift preflight: NOT clean", "Plan `edge-3-9`", "X does not answer", "commit 0123456789ab"} {
				if !strings.Contains(text, s) {
					t.Errorf("%s's comment lacks %q:\n%s", f, s, text)
				}
			}
		}
	}
	recs, _ := store.Records(context.Background(), "edge-3-9", 0)
	j, _ := json.Marshal(recs)
	if strings.Contains(string(j)+logs.String(), "-token-1") {
		t.Errorf("a token reached the journal or the log")
	}
}

// TestPreflightCommentAfterJournalRecovers: while the plan's journal
// cannot be read the agent does not post the report (it cannot tell
// whether it was sent); once the journal reads again, a later poll of the
// same process posts it, once.
func TestPreflightCommentAfterJournalRecovers(t *testing.T) {
	var mu sync.Mutex
	posts := 0
	forge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		posts++
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer forge.Close()
	src := strings.ReplaceAll(unreachablePlan, "PORT", strconv.Itoa(testenv.FreePort(t)))
	src = strings.ReplaceAll(src, "BACKUPS", t.TempDir())
	dir, err := engine.OpenDir(t.TempDir(), engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	store := &brokenRecords{Store: dir, plan: "edge-3-9"}
	store.broken.Store(true)
	logs := &logBuffer{}
	comments := notify.NewDispatcher([]notify.Receiver{
		&notify.CommitComment{Forge: "github", API: forge.URL + "/github", Repo: "acme/plans", Token: "gh-token-1"},
	}, notify.Options{Backoff: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Record: engine.DeliveryRecorder(context.Background(), dir, engine.Actor{Agent: "agent-1"})})
	defer comments.Close(context.Background())
	a, stop := runAgent(t, Config{Source: fixedSource{Snapshot{Commit: "0123456789abcdef0123", Files: map[string][]byte{"plans/edge.upshift.hcl": []byte(src)}}},
		Store: store, Holder: "agent-1", Comments: comments, Interval: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	defer stop()
	waitLog := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; log:\n%s", what, logs.String())
			}
		}
	}
	waitLog("two polls that could not read the journal", func() bool {
		return strings.Count(logs.String(), "preflight comment: the journal cannot be read") >= 2
	})
	mu.Lock()
	if posts != 0 {
		t.Fatalf("%d posts while the journal could not be read", posts)
	}
	mu.Unlock()
	store.broken.Store(false)
	waitLog("the report posted", func() bool { mu.Lock(); defer mu.Unlock(); return posts > 0 })
	waitLog("the report journaled as sent", func() bool { return len(sentPreflightReports(t, dir)) > 0 })
	// Two more polls, and still one post.
	polls2 := 0
	sent := a.Status(context.Background()).LastPoll
	waitLog("two more polls", func() bool {
		last := a.Status(context.Background()).LastPoll
		if last.After(sent) {
			sent, polls2 = last, polls2+1
		}
		return polls2 >= 2
	})
	stop()
	mu.Lock()
	defer mu.Unlock()
	if posts != 1 {
		t.Fatalf("%d posts, want 1", posts)
	}
}

// brokenRecords fails Records for one plan while broken is set.
type brokenRecords struct {
	engine.Store
	plan   string
	broken atomic.Bool
}

func (s *brokenRecords) Records(ctx context.Context, plan string, since int64) ([]engine.Record, error) {
	if plan == s.plan && s.broken.Load() {
		return nil, errors.New("journal read failed (injected)")
	}
	return s.Store.Records(ctx, plan, since)
}

// runAgent runs an agent on cfg, its engine's waits and retries cut short,
// until the returned stop (safe to call again).
func runAgent(t *testing.T, cfg Config) (*Agent, func()) {
	t.Helper()
	cfg.Engine = func(c *engine.Config) { c.WaitTimeout, c.RetryBase, c.Retries = time.Second, 10*time.Millisecond, 1 }
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	return a, sync.OnceFunc(func() { cancel(); <-done })
}

// sentPreflightReports are the preflight reports the journal of edge-3-9
// (the unreachable plan) holds as sent.
func sentPreflightReports(t *testing.T, store engine.Store) []engine.Record {
	t.Helper()
	recs, err := store.Records(context.Background(), "edge-3-9", 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []engine.Record
	for _, r := range recs {
		if r.Event == engine.EventNotification && r.Details["event"] == notify.PreflightReport && r.Details["result"] == notify.Sent {
			out = append(out, r)
		}
	}
	return out
}
