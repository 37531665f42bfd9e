package signature

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// sh runs a command in dir with env, failing the test on error.
func sh(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func need(t *testing.T, bins ...string) {
	t.Helper()
	pkgs := map[string]string{"gpg": "gnupg", "ssh-keygen": "openssh-client", "git": "git"}
	for _, b := range bins {
		testenv.NeedBinary(t, b, pkgs[b])
	}
}

// commitParts reads a commit's signature and signed payload as the agent's
// git source does (go-git).
func commitParts(t *testing.T, repo, hash string) (string, []byte) {
	t.Helper()
	r, err := git.PlainOpen(repo)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.CommitObject(plumbing.NewHash(hash))
	if err != nil {
		t.Fatal(err)
	}
	enc := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(enc); err != nil {
		t.Fatal(err)
	}
	rd, _ := enc.Reader()
	payload, _ := io.ReadAll(rd)
	return c.PGPSignature, payload
}

// TestRealSignedCommits: commits signed by a real gpg key and a real SSH
// key (git commit -S), an unsigned commit, a commit signed by another key,
// and a tampered payload.
func TestRealSignedCommits(t *testing.T) {
	need(t, "git", "gpg", "ssh-keygen")
	dir := t.TempDir()
	gnupg := filepath.Join(dir, "gnupg")
	if err := os.Mkdir(gnupg, 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"GNUPGHOME=" + gnupg, "HOME=" + dir, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Signer", "GIT_AUTHOR_EMAIL=signer@example.com", "GIT_COMMITTER_NAME=Signer", "GIT_COMMITTER_EMAIL=signer@example.com"}
	t.Cleanup(func() { _ = exec.Command("gpgconf", "--homedir", gnupg, "--kill", "all").Run() })
	sh(t, dir, env, "gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Signer <signer@example.com>", "ed25519", "sign", "never")
	sh(t, dir, env, "gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Mallory <mallory@example.com>", "ed25519", "sign", "never")
	pgpKey := sh(t, dir, env, "gpg", "--armor", "--export", "signer@example.com")
	sh(t, dir, env, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "signer", "-f", filepath.Join(dir, "id_signer"))
	sh(t, dir, env, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "other", "-f", filepath.Join(dir, "id_other"))
	sshPub, _ := os.ReadFile(filepath.Join(dir, "id_signer.pub"))

	repo := filepath.Join(dir, "repo")
	sh(t, dir, env, "git", "init", "-q", "-b", "main", repo)
	commit := func(msg string, args ...string) string {
		if err := os.WriteFile(filepath.Join(repo, "f"), []byte(msg), 0o644); err != nil {
			t.Fatal(err)
		}
		sh(t, repo, env, "git", "add", "f")
		sh(t, repo, env, "git", append(append([]string{}, args...), "commit", "-q", "-m", msg)...)
		return sh(t, repo, env, "git", "rev-parse", "HEAD")
	}
	pgpCommit := commit("pgp", "-c", "user.signingkey=signer@example.com", "-c", "commit.gpgsign=true")
	sshCommit := commit("ssh", "-c", "gpg.format=ssh", "-c", "user.signingkey="+filepath.Join(dir, "id_signer.pub"), "-c", "commit.gpgsign=true")
	unsigned := commit("unsigned")
	mallory := commit("mallory", "-c", "user.signingkey=mallory@example.com", "-c", "commit.gpgsign=true")
	otherSSH := commit("other ssh", "-c", "gpg.format=ssh", "-c", "user.signingkey="+filepath.Join(dir, "id_other.pub"), "-c", "commit.gpgsign=true")

	trustedFile := filepath.Join(dir, "trusted")
	content := "# who may change production plans\n" + pgpKey + "\nsigner@example.com " + string(sshPub)
	if err := os.WriteFile(trustedFile, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := LoadTrusted(trustedFile)
	if err != nil {
		t.Fatal(err)
	}

	sig, payload := commitParts(t, repo, pgpCommit)
	if s, err := tr.Verify(sig, payload); err != nil || s.Kind != "pgp" || !strings.Contains(s.Identity, "signer@example.com") {
		t.Errorf("gpg-signed commit: %+v %v", s, err)
	}
	if _, err := tr.Verify(sig, bytes.Replace(payload, []byte("pgp"), []byte("pgq"), 1)); err == nil {
		t.Error("a tampered payload passed")
	}
	sig, payload = commitParts(t, repo, sshCommit)
	if s, err := tr.Verify(sig, payload); err != nil || s.Kind != "ssh" || s.Identity != "signer@example.com" {
		t.Errorf("SSH-signed commit: %+v %v", s, err)
	}
	if _, err := tr.Verify(sig, bytes.Replace(payload, []byte("ssh"), []byte("shh"), 1)); err == nil {
		t.Error("a tampered SSH-signed payload passed")
	}
	sig, payload = commitParts(t, repo, unsigned)
	if _, err := tr.Verify(sig, payload); !errors.Is(err, ErrUnsigned) {
		t.Errorf("unsigned commit: %v", err)
	}
	sig, payload = commitParts(t, repo, mallory)
	if _, err := tr.Verify(sig, payload); err == nil {
		t.Error("a commit signed by an untrusted gpg key passed")
	}
	sig, payload = commitParts(t, repo, otherSSH)
	if _, err := tr.Verify(sig, payload); err == nil || !strings.Contains(err.Error(), "not an allowed signer") {
		t.Errorf("a commit signed by an untrusted SSH key: %v", err)
	}
	if _, err := ParseTrusted([]byte("# nothing\n")); err == nil {
		t.Error("an empty trusted keys file was accepted")
	}
}

// TestAllowedSignersOptionsRefused: an allowed-signers line with options
// (namespaces=, valid-after=, cert-authority) would restrict its key;
// ignoring them would trust it more, so the file is refused, naming the
// line. The same key without options is accepted.
func TestAllowedSignersOptionsRefused(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
	if _, err := ParseTrusted([]byte("# team\nalice@example.com " + key + " laptop\n")); err != nil {
		t.Fatalf("plain line: %v", err)
	}
	_, err := ParseTrusted([]byte("# team\nalice@example.com namespaces=\"file\" " + key + "\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2: allowed-signers options (namespaces=\"file\") are not supported") {
		t.Fatalf("options: %v", err)
	}
}
