package testenv

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestSSHDGitClone clones and pushes over ssh with the generated key and
// known_hosts, and checks that an unknown key is refused.
func TestSSHDGitClone(t *testing.T) {
	t.Parallel()
	s := SSHD(t)
	if !strings.HasPrefix(s.KnownHostsLine, "[127.0.0.1]:") {
		t.Errorf("known_hosts line %q", s.KnownHostsLine)
	}
	// A bare repository on disk with one commit, made with the git CLI.
	home := t.TempDir()
	env := gitEnv(home)
	bare := filepath.Join(t.TempDir(), "plans.git")
	mustGit(t, env, home, "init", "--quiet", "--bare", "--initial-branch=main", bare)
	seed := filepath.Join(t.TempDir(), "seed")
	mustGit(t, env, home, "clone", "--quiet", bare, seed)
	mustGit(t, env, seed, "commit", "--quiet", "--allow-empty", "-m", "first")
	mustGit(t, env, seed, "push", "--quiet", "origin", "HEAD:main")
	want := mustGit(t, env, seed, "rev-parse", "HEAD")

	sshEnv := append(env, "GIT_SSH_COMMAND="+s.SSHCommand())
	clone := filepath.Join(t.TempDir(), "clone")
	mustGit(t, sshEnv, home, "clone", "--quiet", s.RepoURL(bare), clone)
	if got := mustGit(t, env, clone, "rev-parse", "HEAD"); got != want {
		t.Errorf("ssh clone HEAD = %s, want %s", got, want)
	}
	mustGit(t, env, clone, "commit", "--quiet", "--allow-empty", "-m", "second")
	mustGit(t, sshEnv, clone, "push", "--quiet", "origin", "main")
	if got, pushed := mustGit(t, env, bare, "rev-parse", "main"), mustGit(t, env, clone, "rev-parse", "HEAD"); got != pushed {
		t.Errorf("after ssh push, server main = %s, want %s", got, pushed)
	}

	// Another key is not authorised.
	other := SSHD(t) // its client key is unknown to s
	bad := *s
	bad.ClientKey = other.ClientKey
	_, err := runGit(append(env, "GIT_SSH_COMMAND="+bad.SSHCommand()), home, "ls-remote", s.RepoURL(bare))
	if err == nil || !strings.Contains(err.Error(), "Permission denied") {
		t.Errorf("ls-remote with an unknown key: %v; want Permission denied", err)
	}
}

func mustGit(t *testing.T, env []string, dir string, args ...string) string {
	t.Helper()
	out, err := runGit(env, dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
