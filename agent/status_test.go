package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// fixedSource serves one snapshot: the status tests need a desired state,
// not a repository (the git source has its own tests).
type fixedSource struct{ snap Snapshot }

func (f fixedSource) Poll(context.Context) (Snapshot, bool, error) { return f.snap, true, nil }
func (f fixedSource) FilesAt(context.Context, string) (map[string][]byte, error) {
	return f.snap.Files, nil
}

// A valid plan whose X does not answer (the guard stops it), and a file
// with a lint error (the plan in it is invalid, the other one still runs).
const unreachablePlan = `upgrade "edge-3-9" {
  cluster  = "edge"
  strategy = "blue_green"
  mode     = "traditional"
  from {
    version   = "3.9.0"
    admin_url = "http://127.0.0.1:PORT"
    proxy_url = "http://127.0.0.1:PORT"
    database { dsn = "postgres://kong@127.0.0.1:PORT/kong" }
    start = ["true"]
    stop  = ["true"]
  }
  to {
    version   = "3.9.1"
    admin_url = "http://127.0.0.1:PORT"
    proxy_url = "http://127.0.0.1:PORT"
    kong      = ["kong"]
    start     = ["true"]
    stop      = ["true"]
  }
  backup {
    dir    = "BACKUPS"
    verify = false
  }
  traffic "command" {
    set = ["true"]
    get = ["echo", "100 0"]
  }
  rollout {
    step {
      weight = 100
      pause  = "1s"
    }
  }
}
`

const invalidPlan = `upgrade "broken" {
  cluster  = "core"
  strategy = "sideways"
}
`

func statusAgent(t *testing.T) (*Agent, *httptest.Server) {
	t.Helper()
	port := testenv.FreePort(t) // nothing listens: X is down
	src := strings.ReplaceAll(unreachablePlan, "PORT", strconv.Itoa(port))
	src = strings.ReplaceAll(src, "BACKUPS", t.TempDir())
	store, err := engine.OpenDir(t.TempDir(), engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	a, err := New(Config{Source: fixedSource{Snapshot{Commit: "0123456789abcdef0123", Author: "Alice <alice@example.com>",
		Files: map[string][]byte{"plans/edge.upshift.hcl": []byte(src), "plans/broken.upshift.hcl": []byte(invalidPlan)}}},
		Store: store, Holder: "agent-test",
		Engine: func(c *engine.Config) { c.WaitTimeout, c.RetryBase, c.Retries = time.Second, 10*time.Millisecond, 1 }})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.PollOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.Wait()
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return a, srv
}

// TestStatusAPI: the invalid file does not stop the valid plan, which the
// guard stops because X does not answer; the status says both.
func TestStatusAPI(t *testing.T) {
	_, srv := statusAgent(t)
	resp, err := http.Get(srv.URL + "/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	if s.Head != "0123456789abcdef0123" || len(s.Plans) != 2 {
		t.Fatalf("status: head %q, %d plans: %+v", s.Head, len(s.Plans), s.Plans)
	}
	broken, edge := s.Plans[0], s.Plans[1]
	if broken.Name != "broken" || broken.Condition.Reason != "Invalid" || !strings.Contains(broken.Condition.Message, "broken.upshift.hcl:3:") {
		t.Errorf("broken: %+v", broken.Condition)
	}
	if edge.Name != "edge-3-9" || edge.Condition.Reason != engine.ReasonPreconditionFail || !strings.Contains(edge.Condition.Message, "not reachable") {
		t.Errorf("edge: %+v", edge.Condition)
	}
	if len(edge.Journal) == 0 || edge.Commit != "0123456789abcdef0123" || edge.Author != "Alice <alice@example.com>" {
		t.Errorf("edge: journal %d lines, commit %q author %q", len(edge.Journal), edge.Commit, edge.Author)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		r, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Errorf("%s: %d %s", path, r.StatusCode, b)
		}
		if path == "/metrics" {
			for _, want := range []string{"upshift_polls_total 1", `upshift_head_commit_info{commit="0123456789abcdef0123"} 1`, `upshift_plans{condition="Stalled"} 2`, "upshift_step_duration_seconds_count{step=\"guard\"} 1"} {
				if !strings.Contains(string(b), want) {
					t.Errorf("/metrics lacks %q:\n%s", want, b)
				}
			}
		}
	}
}

// TestStatusPageInChromium renders the status page in headless Chromium
// (Debian's chromium) and checks the DOM its script built from the API.
func TestStatusPageInChromium(t *testing.T) {
	bin := testenv.NeedBinary(t, "chromium", "chromium")
	_, srv := statusAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000", "--dump-dom", srv.URL+"/")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	dom := string(out)
	for _, want := range []string{`data-plan="edge-3-9"`, `data-plan="broken"`, "PreconditionFailed", "Invalid",
		"blue_green, 3.9.0 → 3.9.1", "by Alice", "guard", "Recent journal", "head 0123456789ab"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}
}
