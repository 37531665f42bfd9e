package webhook

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// GitHub's own webhook payload examples, from the npm package the Octokit
// team publishes (fetched with npm pack, integrity pinned, never committed).
const (
	examplesPackage   = "@octokit/webhooks-examples@7.6.1"
	examplesTarball   = "octokit-webhooks-examples-7.6.1.tgz"
	examplesIntegrity = "sha512-De6U3XB6O3DtCa7bKgCMzTHdeopqqZ6SNivMYJnK65ierKL1AnNIA0tkRYCRS7lwGT792d+Ps1WbfHlso6MynQ=="
	examplesMember    = "package/api.github.com/index.json"
)

// githubExamples returns event name → example payloads (raw JSON).
func githubExamples(t *testing.T) map[string][]json.RawMessage {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	cached := filepath.Join(cache, "upshift-test", "npm", "octokit-webhooks-examples-7.6.1.json")
	b, err := os.ReadFile(cached)
	if err != nil {
		npm := testenv.NeedBinary(t, "npm", "npm") // fetches examplesPackage
		tmp := t.TempDir()
		cmd := exec.Command(npm, "pack", examplesPackage, "--pack-destination", tmp, "--silent")
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm pack %s: %v\n%s", examplesPackage, err, out)
		}
		tgz, err := os.ReadFile(filepath.Join(tmp, examplesTarball))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha512.Sum512(tgz)
		if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != examplesIntegrity {
			t.Fatalf("%s: integrity %s, want %s", examplesTarball, got, examplesIntegrity)
		}
		if b, err = untar(tgz, examplesMember); err != nil {
			t.Fatal(err)
		}
		if os.MkdirAll(filepath.Dir(cached), 0o755) == nil {
			_ = os.WriteFile(cached, b, 0o644)
		}
	}
	var events []struct {
		Name     string            `json:"name"`
		Examples []json.RawMessage `json:"examples"`
	}
	if err := json.Unmarshal(b, &events); err != nil {
		t.Fatal(err)
	}
	out := map[string][]json.RawMessage{}
	for _, e := range events {
		out[e.Name] = e.Examples
	}
	return out
}

func untar(tgz []byte, name string) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("no %s in the package", name)
		}
		if err != nil {
			return nil, err
		}
		if h.Name == name {
			return io.ReadAll(io.LimitReader(tr, 64<<20))
		}
	}
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func TestGitHubPushes(t *testing.T) {
	ex := githubExamples(t)
	var push json.RawMessage
	for _, p := range ex["push"] {
		if strings.Contains(string(p), `"ref":"refs/heads/master"`) || strings.Contains(string(p), `"ref": "refs/heads/master"`) {
			push = p
			break
		}
	}
	if push == nil || len(ex["ping"]) == 0 {
		t.Fatal("no branch push or ping example in the package")
	}
	const secret = "It's a Secret to Everybody"
	var mu sync.Mutex
	var got []Event
	h, err := Handler(Config{GitHubSecret: secret, Branch: "master", Trigger: func(e Event) error { mu.Lock(); got = append(got, e); mu.Unlock(); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(event string, body []byte, sig string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
		if sig != "" {
			req.Header.Set("X-Hub-Signature-256", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }

	if code, _ := post("push", push, sign(secret, push)); code != http.StatusAccepted || count() != 1 {
		t.Fatalf("valid push: %d, %d triggers", code, count())
	}
	if got[0].Provider != "github" || got[0].Ref != "refs/heads/master" || len(got[0].After) != 40 {
		t.Errorf("event %+v", got[0])
	}
	if code, body := post("push", push, sign("wrong secret", push)); code != http.StatusUnauthorized || count() != 1 || strings.Contains(body, secret) {
		t.Fatalf("bad signature: %d %q, %d triggers", code, body, count())
	}
	if code, _ := post("push", push, ""); code != http.StatusUnauthorized || count() != 1 {
		t.Fatalf("no signature: %d, %d triggers", code, count())
	}
	tampered := bytes.Replace(push, []byte("master"), []byte("mastex"), 1)
	if code, _ := post("push", tampered, sign(secret, push)); code != http.StatusUnauthorized || count() != 1 {
		t.Fatalf("tampered body: %d, %d triggers", code, count())
	}
	if code, _ := post("ping", ex["ping"][0], sign(secret, ex["ping"][0])); code != http.StatusOK || count() != 1 {
		t.Fatalf("ping: %d, %d triggers", code, count())
	}
	// A push to a tag (another ref) is verified but triggers nothing.
	for _, p := range ex["push"] {
		if strings.Contains(string(p), "refs/tags/") {
			if code, _ := post("push", p, sign(secret, p)); code != http.StatusAccepted || count() != 1 {
				t.Fatalf("tag push: %d, %d triggers", code, count())
			}
			break
		}
	}
	if code, _ := post("issues", ex["issues"][0], sign(secret, ex["issues"][0])); code != http.StatusAccepted || count() != 1 {
		t.Fatalf("issues event: %d, %d triggers", code, count())
	}
	resp, _ := http.Get(srv.URL)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	resp.Body.Close()
}

func TestGitLabPush(t *testing.T) {
	var n int
	h, _ := Handler(Config{GitLabToken: "gl-token-123", Trigger: func(Event) error { n++; return nil }})
	srv := httptest.NewServer(h)
	defer srv.Close()
	// The shape of GitLab's documented push event (trimmed).
	body := []byte(`{"object_kind":"push","event_name":"push","before":"95790bf891e76fee5e1747ab589903a6a1f80f22","after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","ref":"refs/heads/main","checkout_sha":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","user_name":"John Smith","project":{"name":"plans"},"commits":[],"total_commits_count":0}`)
	post := func(tok string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header.Set("X-Gitlab-Event", "Push Hook")
		if tok != "" {
			req.Header.Set("X-Gitlab-Token", tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := post("gl-token-123"); c != http.StatusAccepted || n != 1 {
		t.Fatalf("right token: %d, %d triggers", c, n)
	}
	if c := post("wrong"); c != http.StatusUnauthorized || n != 1 {
		t.Fatalf("wrong token: %d, %d triggers", c, n)
	}
	if c := post(""); c != http.StatusUnauthorized || n != 1 {
		t.Fatalf("no token: %d, %d triggers", c, n)
	}
	if _, err := Handler(Config{}); err == nil {
		t.Fatal("a handler without any secret was accepted")
	}
}
