package gitsource

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/testenv"
)

const planA = "upgrade \"a\" {}\n"

// TestPollHTTP: the first poll fetches and reads the plans under the
// path; an unchanged remote costs one listing and no fetch; a new commit
// is seen; a revert shows the plan gone and its parent still has it; a
// new Source on the same directory (a restart) reads the same head.
func TestPollHTTP(t *testing.T) {
	g := testenv.GitServer(t)
	work, first := g.NewRepo(t, "plans", map[string]string{"plans/a.upshift.hcl": planA, "README.md": "x", "other/b.upshift.hcl": "upgrade \"b\" {}\n"})
	dir := t.TempDir()
	s, err := Open(Config{URL: g.RepoURL("plans"), Path: "plans/", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	snap, changed, err := s.Poll(ctx)
	if err != nil || !changed || snap.Commit != first {
		t.Fatalf("first poll: %v changed=%v commit %s want %s", err, changed, snap.Commit, first)
	}
	if len(snap.Files) != 1 || string(snap.Files["plans/a.upshift.hcl"]) != planA {
		t.Fatalf("files: %v", keys(snap.Files))
	}
	if _, changed, err := s.Poll(ctx); err != nil || changed {
		t.Fatalf("unchanged poll: changed=%v err=%v", changed, err)
	}
	if st := s.Stats(); st.Lists != 2 || st.Fetches != 1 {
		t.Fatalf("stats after an unchanged poll: %+v (want 2 listings, 1 fetch)", st)
	}

	second := g.CommitFiles(t, work, map[string]string{"plans/c.upshift.hcl": "upgrade \"c\" {}\n"}, "add c")
	g.Git(t, work, "push", "--quiet", "origin", "main")
	snap, changed, err = s.Poll(ctx)
	if err != nil || !changed || snap.Commit != second || snap.Parent != first || len(snap.Files) != 2 {
		t.Fatalf("after a commit: %v changed=%v %s parent %s files %v", err, changed, snap.Commit, snap.Parent, keys(snap.Files))
	}
	if !strings.Contains(snap.Author, "@") {
		t.Errorf("author %q", snap.Author)
	}

	g.Git(t, work, "revert", "--no-edit", "HEAD")
	g.Git(t, work, "push", "--quiet", "origin", "main")
	snap, changed, err = s.Poll(ctx)
	if err != nil || !changed || len(snap.Files) != 1 || snap.Parent != second {
		t.Fatalf("after the revert: %v changed=%v files %v", err, changed, keys(snap.Files))
	}
	parent, err := s.FilesAt(ctx, snap.Parent)
	if err != nil || len(parent) != 2 {
		t.Fatalf("the reverted commit's files: %v %v", err, keys(parent))
	}
	// An older commit beyond the shallow depth is fetched on demand.
	old, err := s.FilesAt(ctx, first)
	if err != nil || len(old) != 1 {
		t.Fatalf("first commit's files: %v %v", err, keys(old))
	}

	s2, _ := Open(Config{URL: g.RepoURL("plans"), Path: "plans", Dir: dir})
	snap2, changed, err := s2.Poll(ctx)
	if err != nil || !changed || snap2.Commit != snap.Commit {
		t.Fatalf("after a restart: %v %v %s", err, changed, snap2.Commit)
	}

	// A force push to an unrelated history is followed.
	g.Git(t, work, "checkout", "--quiet", "--orphan", "fresh")
	g.Git(t, work, "rm", "-rq", "--cached", ".")
	forced := g.CommitFiles(t, work, map[string]string{"plans/z.upshift.hcl": "upgrade \"z\" {}\n"}, "fresh start")
	g.Git(t, work, "push", "--quiet", "--force", "origin", "fresh:main")
	snap, changed, err = s.Poll(ctx)
	if err != nil || !changed || snap.Commit != forced || snap.Files["plans/z.upshift.hcl"] == nil {
		t.Fatalf("after a force push: %v changed=%v %s files %v", err, changed, snap.Commit, keys(snap.Files))
	}
}

// TestBasicAuth: the right password works; a wrong one fails with an
// error that does not contain it.
func TestBasicAuth(t *testing.T) {
	g := testenv.GitServerWithAuth(t, "bot", "s3cret-token")
	g.NewRepo(t, "plans", map[string]string{"a.upshift.hcl": planA})
	ok, _ := Open(Config{URL: g.RepoURL("plans"), Dir: t.TempDir(), Auth: HTTPBasic("bot", "s3cret-token")})
	if _, _, err := ok.Poll(context.Background()); err != nil {
		t.Fatalf("right password: %v", err)
	}
	bad, _ := Open(Config{URL: g.RepoURL("plans"), Dir: t.TempDir(), Auth: HTTPBasic("bot", "wrong-pass-123")})
	_, _, err := bad.Poll(context.Background())
	if err == nil || strings.Contains(err.Error(), "wrong-pass-123") {
		t.Fatalf("wrong password: %v", err)
	}
	// A password inside the URL never appears in an error either.
	inURL := strings.Replace(g.RepoURL("nope"), "http://", "http://bot:url-secret-456@", 1)
	s, _ := Open(Config{URL: inURL, Dir: t.TempDir()})
	if _, _, err := s.Poll(context.Background()); err == nil || strings.Contains(err.Error(), "url-secret-456") {
		t.Fatalf("password in URL: %v", err)
	}
}

// TestSSH: an SSH URL with the right key and known_hosts works; a
// known_hosts file without the server's key is refused.
func TestSSH(t *testing.T) {
	g := testenv.GitServer(t)
	g.NewRepo(t, "plans", map[string]string{"a.upshift.hcl": planA})
	sshd := testenv.SSHD(t)
	repo := filepath.Join(g.Root, "plans.git")
	// The SSH user must read the repository.
	auth, err := SSHKey(sshd.User, sshd.ClientKey, "", sshd.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := Open(Config{URL: sshd.RepoURL(repo), Dir: t.TempDir(), Auth: auth})
	snap, _, err := s.Poll(context.Background())
	if err != nil || len(snap.Files) != 1 {
		t.Fatalf("ssh poll: %v %v", err, keys(snap.Files))
	}
	empty := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(empty, []byte("[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	strict, err := SSHKey(sshd.User, sshd.ClientKey, "", empty)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := Open(Config{URL: sshd.RepoURL(repo), Dir: t.TempDir(), Auth: strict})
	if _, _, err := s2.Poll(context.Background()); err == nil {
		t.Fatal("an unknown host key was accepted")
	} else {
		t.Logf("unknown host refused: %v", err)
	}
	if _, err := SSHKey(sshd.User, sshd.ClientKey, ""); err == nil {
		t.Fatal("an SSH key without known_hosts was accepted")
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestSSHUser: the URL's user is the one logged in as; --ssh-user only
// fills in when the URL names none, and contradicting it is an error.
func TestSSHUser(t *testing.T) {
	for _, c := range []struct{ url, flag, want, err string }{
		{"ssh://deploy@git.example.com/plans.git", "", "deploy", ""},
		{"ssh://deploy@git.example.com/plans.git", "deploy", "deploy", ""},
		{"ssh://deploy@git.example.com/plans.git", "git", "", `the repository URL logs in as "deploy" and --ssh-user says "git"`},
		{"deploy@git.example.com:plans.git", "", "deploy", ""},
		{"deploy@git.example.com:plans.git", "ops", "", `logs in as "deploy" and --ssh-user says "ops"`},
		{"ssh://git.example.com/plans.git", "ops", "ops", ""},
		{"ssh://git.example.com/plans.git", "", "git", ""},
		{"/srv/git/plans.git", "", "git", ""},
	} {
		got, err := SSHUser(c.url, c.flag)
		if got != c.want || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("SSHUser(%q, %q) = %q, %v; want %q, %q", c.url, c.flag, got, err, c.want, c.err)
		}
	}
}

// TestAuthFailureNamesUser: a refused login says who the source tried to
// be and how, over SSH (user and key) and HTTPS (user).
func TestAuthFailureNamesUser(t *testing.T) {
	g := testenv.GitServerWithAuth(t, "bot", "s3cret-token")
	g.NewRepo(t, "plans", map[string]string{"a.upshift.hcl": planA})
	bad, _ := Open(Config{URL: g.RepoURL("plans"), Dir: t.TempDir(), Auth: HTTPBasic("robot", "wrong-pass-123")})
	if _, _, err := bad.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), `tried HTTPS basic auth as user "robot"`) {
		t.Errorf("HTTPS: %v", err)
	}
	none, _ := Open(Config{URL: g.RepoURL("plans"), Dir: t.TempDir()})
	if _, _, err := none.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), "tried no credentials") {
		t.Errorf("HTTPS without credentials: %v", err)
	}

	sshd := testenv.SSHD(t)
	repo := filepath.Join(g.Root, "plans.git")
	url := strings.Replace(sshd.RepoURL(repo), "ssh://"+sshd.User+"@", "ssh://nobody-upshift@", 1)
	user, err := SSHUser(url, "")
	if err != nil || user != "nobody-upshift" {
		t.Fatalf("SSHUser: %q %v", user, err)
	}
	auth, err := SSHKey(user, sshd.ClientKey, "", sshd.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := Open(Config{URL: url, Dir: t.TempDir(), Auth: auth})
	_, _, err = s.Poll(context.Background())
	if err == nil || !strings.Contains(err.Error(), `tried SSH user "nobody-upshift" with public key SHA256:`) || !strings.Contains(err.Error(), "attempted methods") {
		t.Fatalf("SSH: %v", err)
	}
	t.Logf("SSH: %v", err)
}
