package testenv

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestGitServerCloneAndPush(t *testing.T) {
	t.Parallel()
	for _, auth := range []bool{false, true} {
		name := map[bool]string{false: "anonymous", true: "basic_auth"}[auth]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var g *GitSrv
			if auth {
				g = GitServerWithAuth(t, "upshift", "s3cret")
			} else {
				g = GitServer(t)
			}
			work, first := g.NewRepo(t, "plans", map[string]string{"plan.hcl": "# one\n"})
			second := g.CommitFiles(t, work, map[string]string{"dir/plan.hcl": "# two\n"}, "second")
			g.Git(t, work, "push", "--quiet", "origin", "main")

			// The bare repository on the server has the pushed commit.
			bare := filepath.Join(g.Root, "plans.git")
			if got := g.Git(t, bare, "rev-parse", "refs/heads/main"); got != second {
				t.Errorf("server main = %s, want pushed %s", got, second)
			}
			// A fresh clone sees both commits.
			clone := g.Clone(t, "plans")
			if log := g.Git(t, clone, "log", "--format=%H"); log != second+"\n"+first {
				t.Errorf("clone log = %q, want %s then %s", log, second, first)
			}
			if auth {
				// Without credentials git asks for them (prompts are off);
				// with a wrong password the server refuses.
				_, err := g.TryGit(t.TempDir(), "clone", "--quiet", g.RepoURL("plans"), "noauth")
				if err == nil || !strings.Contains(err.Error(), "could not read Username") {
					t.Errorf("clone without credentials: %v; want git to need a username", err)
				}
				wrong := strings.Replace(g.AuthRepoURL("plans"), ":s3cret@", ":wrong@", 1)
				_, err = g.TryGit(t.TempDir(), "clone", "--quiet", wrong, "badauth")
				if err == nil || !strings.Contains(err.Error(), "Authentication failed") {
					t.Errorf("clone with a wrong password: %v; want Authentication failed", err)
				}
				if err != nil && strings.Contains(err.Error(), "wrong") {
					t.Errorf("error shows the password: %v", err)
				}
			}
		})
	}
}
