package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/agent"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestAgentCommand runs `upshift agent` against a real git server: the
// status API shows the head commit and the repository's (invalid) plan; a
// new commit is picked up at once through a signed GitHub webhook although
// the poll interval is an hour; a bad signature gets 401.
func TestAgentCommand(t *testing.T) {
	g := testenv.GitServer(t)
	work, first := g.NewRepo(t, "plans", map[string]string{"plans/a.upshift.hcl": "upgrade \"a\" {\n  cluster = \"c\"\n}\n"})
	port := testenv.FreePort(t)
	t.Setenv("TEST_WEBHOOK_SECRET", "hook-secret-789")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out, errOut bytes.Buffer
	go func() {
		done <- Main(ctx, []string{"agent", "--repo", g.RepoURL("plans"), "--path", "plans", "--data-dir", t.TempDir(),
			"--interval", "1h", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--webhook-github-secret-env", "TEST_WEBHOOK_SECRET",
			"--id", "test-agent"}, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	}()
	defer func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("agent exit %d: %s", code, errOut.String())
		}
		if strings.Contains(errOut.String(), "hook-secret-789") {
			t.Error("the webhook secret appears in the logs")
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	status := func() agent.Status {
		var s agent.Status
		resp, err := http.Get(base + "/api/v1/status")
		if err != nil {
			return s
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&s)
		return s
	}
	// waitHead waits for the head commit and its plans: the status shows
	// a new head as soon as it is fetched, its plans once they are read.
	waitHead := func(want string) agent.Status {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			s := status()
			if s.Head == want && len(s.Plans) > 0 {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("head %q, want %q; logs:\n%s", s.Head, want, errOut.String())
			}
			time.Sleep(20 * time.Millisecond) // polling an HTTP endpoint with a deadline
		}
	}
	s := waitHead(first)
	if len(s.Plans) != 1 || s.Plans[0].Condition.Reason != "Invalid" {
		t.Fatalf("plans: %+v", s.Plans)
	}
	second := g.CommitFiles(t, work, map[string]string{"plans/b.upshift.hcl": "# nothing yet\n"}, "second")
	g.Git(t, work, "push", "--quiet", "origin", "main")
	body := []byte(`{"ref":"refs/heads/main","after":"` + second + `"}`)
	post := func(sig string) int {
		req, _ := http.NewRequest(http.MethodPost, base+"/webhook", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("sha256=" + strings.Repeat("0", 64)); code != http.StatusUnauthorized {
		t.Fatalf("bad signature: %d", code)
	}
	if status().Head != first {
		t.Fatal("a refused webhook moved the head")
	}
	m := hmac.New(sha256.New, []byte("hook-secret-789"))
	m.Write(body)
	start := time.Now()
	if code := post("sha256=" + hex.EncodeToString(m.Sum(nil))); code != http.StatusAccepted {
		t.Fatalf("signed webhook: %d", code)
	}
	waitHead(second)
	t.Logf("commit to head through the webhook: %s", time.Since(start).Round(time.Millisecond))
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/"} {
		resp, err := http.Get(base + p)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("GET %s: %v", p, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
}
