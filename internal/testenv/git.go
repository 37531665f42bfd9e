package testenv

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// GitSrv serves the bare repositories under Root over git's smart HTTP
// protocol (`git http-backend` behind Go's net/http/cgi) on a loopback
// port, pushes included. With a user set, every request needs HTTP basic
// auth.
type GitSrv struct {
	Root string // directory of the bare repositories, NAME.git

	user, password string
	srv            *httptest.Server
	home           string // HOME of every git process: empty, so no global config is read
}

// GitServer starts a git server without authentication, stopped in
// t.Cleanup. The test is skipped when git is missing and CI is unset.
func GitServer(t testing.TB) *GitSrv { t.Helper(); return startGitServer(t, "", "") }

// GitServerWithAuth starts a git server that demands HTTP basic auth with
// user and password on every request.
func GitServerWithAuth(t testing.TB, user, password string) *GitSrv {
	t.Helper()
	if user == "" {
		t.Fatal("testenv: GitServerWithAuth needs a user")
	}
	return startGitServer(t, user, password)
}

func startGitServer(t testing.TB, user, password string) *GitSrv {
	t.Helper()
	gitBin, err := lookBinary("git", "git", "/usr/bin/git")
	needBinary(t, err)
	out, err := exec.Command(gitBin, "--exec-path").Output()
	if err != nil {
		t.Fatalf("testenv: git --exec-path: %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		needBinary(t, &errMissing{binary: "git-http-backend", pkg: "git", details: err.Error()})
	}
	dir := t.TempDir()
	g := &GitSrv{Root: filepath.Join(dir, "repos"), user: user, password: password, home: filepath.Join(dir, "home")}
	for _, d := range []string{g.Root, g.home} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatalf("testenv: git server: %v", err)
		}
	}
	logPath := filepath.Join(dir, "git-server.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("testenv: git server log: %v", err)
	}
	var logMu sync.Mutex // the access log and CGI stderr share the file
	lockedLog := writerFunc(func(p []byte) (int, error) { logMu.Lock(); defer logMu.Unlock(); return logf.Write(p) })
	cgiEnv := append(g.Env(),
		"GIT_PROJECT_ROOT="+g.Root,
		"GIT_HTTP_EXPORT_ALL=1",
		// Pushes without authentication too (http-backend allows them by
		// default only with REMOTE_USER set).
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.receivepack", "GIT_CONFIG_VALUE_0=true",
	)
	h := &cgi.Handler{Path: backend, Root: "/", Env: cgiEnv, Stderr: lockedLog}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			fmt.Fprintf(lockedLog, "%s %s %s -> %d in %v\n", start.Format(time.RFC3339Nano), r.Method, r.URL.RequestURI(), rec.status, time.Since(start).Round(time.Microsecond))
		}()
		if g.user != "" {
			u, p, ok := r.BasicAuth()
			if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(g.user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(g.password)) != 1 {
				rec.Header().Set("WWW-Authenticate", `Basic realm="testenv git"`)
				http.Error(rec, "authentication required", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(rec, r)
	}))
	t.Cleanup(func() { g.srv.Close(); logf.Close() })
	logFileOnFailure(t, "git server", logPath)
	return g
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// statusRecorder remembers the status code for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) { r.status = code; r.ResponseWriter.WriteHeader(code) }

// URL returns the server's base URL, "http://127.0.0.1:PORT".
func (g *GitSrv) URL() string { return g.srv.URL }

// RepoURL returns the URL of the repository name ("NAME.git" under Root),
// without credentials.
func (g *GitSrv) RepoURL(name string) string { return g.srv.URL + "/" + name + ".git" }

// AuthRepoURL returns RepoURL with the server's user and password in it
// (RepoURL when the server has no auth). Never log it.
func (g *GitSrv) AuthRepoURL(name string) string {
	if g.user == "" {
		return g.RepoURL(name)
	}
	u, _ := url.Parse(g.RepoURL(name))
	u.User = url.UserPassword(g.user, g.password)
	return u.String()
}

// Env returns the environment for git processes of tests: no system or
// global configuration, no prompts, a fixed author and committer, and
// default branch main.
func (g *GitSrv) Env() []string { return gitEnv(g.home) }

func gitEnv(home string) []string {
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			env = append(env, kv)
		}
	}
	return append(env,
		"HOME="+home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Upshift Test", "GIT_AUTHOR_EMAIL=test@upshift.invalid",
		"GIT_COMMITTER_NAME=Upshift Test", "GIT_COMMITTER_EMAIL=test@upshift.invalid",
	)
}

// Git runs the git CLI in dir with [GitSrv.Env] and returns its trimmed
// stdout; a failure fails the test.
func (g *GitSrv) Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := g.TryGit(dir, args...)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return out
}

// TryGit is Git returning the error (with git's stderr) instead of failing.
func (g *GitSrv) TryGit(dir string, args ...string) (string, error) {
	return runGit(g.Env(), dir, args...)
}

func runGit(env []string, dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s (in %s): %w: %s", redactArgs(args), dir, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// redactArgs hides passwords in URL arguments.
func redactArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if u, err := url.Parse(a); err == nil && u.User != nil {
			a = u.Redacted()
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// InitRepo creates the empty bare repository name (default branch main)
// and returns its path.
func (g *GitSrv) InitRepo(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(g.Root, name+".git")
	g.Git(t, g.Root, "init", "--quiet", "--bare", "--initial-branch=main", path)
	return path
}

// Clone clones the repository name over HTTP (with credentials when the
// server has them) into a new temporary directory and returns it.
func (g *GitSrv) Clone(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	g.Git(t, filepath.Dir(dir), "clone", "--quiet", g.AuthRepoURL(name), dir)
	return dir
}

// CommitFiles writes files (path relative to the work tree → content) in
// the work tree dir, commits them all with msg on the current branch and
// returns the commit's hash. It does not push.
func (g *GitSrv) CommitFiles(t testing.TB, dir string, files map[string]string, msg string) string {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatalf("testenv: %v", err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	g.Git(t, dir, "add", "--all")
	g.Git(t, dir, "commit", "--quiet", "--allow-empty", "-m", msg)
	return g.Git(t, dir, "rev-parse", "HEAD")
}

// NewRepo creates the bare repository name on the server and pushes a first
// commit with files to its main branch; it returns a work tree cloned from
// the server and the commit's hash.
func (g *GitSrv) NewRepo(t testing.TB, name string, files map[string]string) (dir, commit string) {
	t.Helper()
	g.InitRepo(t, name)
	dir = g.Clone(t, name)
	g.Git(t, dir, "checkout", "--quiet", "-B", "main")
	commit = g.CommitFiles(t, dir, files, "initial commit")
	g.Git(t, dir, "push", "--quiet", "origin", "main")
	return dir, commit
}
