package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// seqSource serves its snapshots in turn, then the last one for ever
// (changed only when the commit moved, as the git source does).
type seqSource struct {
	mu    sync.Mutex
	snaps []Snapshot
	last  string
}

func (s *seqSource) Poll(context.Context) (Snapshot, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := s.snaps[0]
	if len(s.snaps) > 1 {
		s.snaps = s.snaps[1:]
	}
	changed := snap.Commit != s.last
	s.last = snap.Commit
	return snap, changed, nil
}

func (s *seqSource) FilesAt(context.Context, string) (map[string][]byte, error) { return nil, nil }

// TestRefusedCommitOnce: with a signature policy, a refused head commit is
// logged once and counted once however many polls see it (first as the
// first commit the agent ever sees, then after an accepted one), and
// status shows who signed the accepted head and the plans it brought.
func TestRefusedCommitOnce(t *testing.T) {
	port := testenv.FreePort(t)
	plan := strings.ReplaceAll(strings.ReplaceAll(unreachablePlan, "PORT", strconv.Itoa(port)), "BACKUPS", t.TempDir())
	files := map[string][]byte{"plans/edge.upshift.hcl": []byte(plan)}
	unsigned := Snapshot{Commit: "bad0000000000000000000000000000000000000", Author: "Mallory <m@example.com>", Files: files}
	signed := Snapshot{Commit: "600d000000000000000000000000000000000000", Author: "Alice <alice@example.com>", Files: files, Signature: "sig"}
	later := Snapshot{Commit: "bad1000000000000000000000000000000000000", Author: "Mallory <m@example.com>", Files: files}
	src := &seqSource{snaps: []Snapshot{unsigned, unsigned, unsigned, signed, later, later, later}}
	store, err := engine.OpenDir(t.TempDir(), engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	var logs bytes.Buffer
	var logMu sync.Mutex
	a, err := New(Config{Source: src, Store: store, Holder: "agent-test",
		Logger: slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			logMu.Lock()
			defer logMu.Unlock()
			return logs.Write(p)
		}), nil)),
		Verify: func(s Snapshot) (string, error) {
			if s.Signature == "" {
				return "", errors.New("the commit is not signed")
			}
			return "alice@example.com (SSH key SHA256:abc)", nil
		},
		Engine: func(c *engine.Config) { c.WaitTimeout, c.RetryBase, c.Retries = time.Second, 10*time.Millisecond, 1 }})
	if err != nil {
		t.Fatal(err)
	}
	for range 7 {
		if err := a.PollOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		a.Wait()
	}
	logMu.Lock()
	text := logs.String()
	logMu.Unlock()
	for _, c := range []string{unsigned.Commit, later.Commit} {
		if n := strings.Count(text, `msg="head commit refused: ignored" commit=`+c); n != 1 {
			t.Errorf("commit %s refused %d times in the log, want once:\n%s", c[:7], n, text)
		}
	}
	s := a.Status(context.Background())
	if s.Head != signed.Commit || s.Signer != "alice@example.com (SSH key SHA256:abc)" || !strings.HasPrefix(s.Rejected, later.Commit+": the commit is not signed") {
		t.Fatalf("status: head %s signer %q rejected %q", s.Head, s.Signer, s.Rejected)
	}
	if len(s.Plans) != 1 || s.Plans[0].Signer != s.Signer || s.Plans[0].Commit != signed.Commit {
		t.Fatalf("plans: %+v", s.Plans)
	}
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "\nupshift_refused_commits_total 2\n") {
		t.Fatalf("/metrics: want upshift_refused_commits_total 2:\n%s", b)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
