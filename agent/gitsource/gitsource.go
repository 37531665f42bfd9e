// Package gitsource is the agent's view of a Git repository of plans
// (agent.Source), with go-git. A poll lists the remote's refs (the
// ls-remote request only) and fetches nothing while the branch head has not
// moved; when it moved, it fetches the head shallowly (depth 2, so the
// parent's plans are there for a revert) into a bare repository under the
// data directory that persists across polls and restarts, and reads the plan
// files of the head commit under the configured path.
//
// Auth is HTTPS basic (a user and a password or token) or an SSH key with
// known_hosts files: host keys are always checked. Errors name the URL with
// credentials removed.
package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"sync"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/memory"
	"golang.org/x/crypto/ssh"

	"github.com/upshift-dev/upshift/agent"
)

// Config says where the plans are.
type Config struct {
	URL    string // https://..., ssh://..., file://... or a local path
	Branch string // default "main"
	Path   string // folder inside the repository ("" = the root)
	Dir    string // data directory for the local bare repository
	Auth   transport.AuthMethod
}

// HTTPBasic is HTTPS basic auth (GitHub accepts any user with a token as
// the password).
func HTTPBasic(user, password string) transport.AuthMethod {
	return &githttp.BasicAuth{Username: user, Password: password}
}

// DefaultSSHUser is the SSH user when neither the URL nor the caller names
// one (GitHub's, GitLab's and Gitea's).
const DefaultSSHUser = "git"

// SSHUser is the user to log in as over SSH: the one rawURL names
// (ssh://user@host/... or user@host:path), else flagUser, else
// DefaultSSHUser. A flagUser that differs from the URL's is an error:
// silently preferring either would log in as someone the other did not
// mean.
func SSHUser(rawURL, flagUser string) (string, error) {
	inURL := urlUser(rawURL)
	switch {
	case inURL != "" && flagUser != "" && flagUser != inURL:
		return "", fmt.Errorf("the repository URL logs in as %q and --ssh-user says %q: give one (drop --ssh-user, or the user from the URL)", inURL, flagUser)
	case inURL != "":
		return inURL, nil
	case flagUser != "":
		return flagUser, nil
	}
	return DefaultSSHUser, nil
}

// urlUser is the user a URL or an scp-like address (user@host:path) names.
func urlUser(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		if u.User == nil {
			return ""
		}
		return u.User.Username()
	}
	at, colon := strings.Index(raw, "@"), strings.Index(raw, ":")
	if at > 0 && colon > at && !strings.Contains(raw[:at], "/") {
		return raw[:at]
	}
	return ""
}

// SSHKey authenticates with a private key file and checks the server's host
// key against knownHosts files (never ignored; an unknown host is an error).
func SSHKey(user, keyFile, passphrase string, knownHosts ...string) (transport.AuthMethod, error) {
	if len(knownHosts) == 0 {
		return nil, errors.New("gitsource: an SSH key needs known_hosts files (host keys are always checked)")
	}
	pk, err := gitssh.NewPublicKeysFromFile(user, keyFile, passphrase)
	if err != nil {
		return nil, fmt.Errorf("gitsource: read SSH key %s: %w", keyFile, err)
	}
	cb, err := gitssh.NewKnownHostsCallback(knownHosts...)
	if err != nil {
		return nil, fmt.Errorf("gitsource: read known_hosts: %w", err)
	}
	pk.HostKeyCallback = cb
	return pk, nil
}

// Source polls one branch of one repository. Safe for concurrent use.
type Source struct {
	cfg Config

	mu    sync.Mutex
	repo  *git.Repository
	last  agent.Snapshot
	have  bool
	stats Stats
}

// Stats counts what the source did (tests, metrics).
type Stats struct {
	Lists   int // refs listings (one per poll)
	Fetches int // fetches of objects
}

// Open prepares a source; it contacts nothing.
func Open(cfg Config) (*Source, error) {
	if cfg.URL == "" || cfg.Dir == "" {
		return nil, errors.New("gitsource: a URL and a data directory are required")
	}
	if cfg.Branch == "" {
		cfg.Branch = "main"
	}
	cfg.Path = strings.Trim(cfg.Path, "/")
	return &Source{cfg: cfg}, nil
}

// Stats returns the counters.
func (s *Source) Stats() Stats { s.mu.Lock(); defer s.mu.Unlock(); return s.stats }

// Last is the last snapshot read (the desired state while the remote is
// unreachable).
func (s *Source) Last() (agent.Snapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.have
}

// redactedURL is the URL without credentials.
func (s *Source) redactedURL() string {
	u, err := url.Parse(s.cfg.URL)
	if err != nil || u.User == nil {
		return s.cfg.URL
	}
	u.User = url.User(u.User.Username())
	return u.String()
}

func (s *Source) errorf(op string, err error) error {
	msg := err.Error()
	if u, perr := url.Parse(s.cfg.URL); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "[REDACTED]")
		}
	}
	if b, ok := s.cfg.Auth.(*githttp.BasicAuth); ok && b.Password != "" {
		msg = strings.ReplaceAll(msg, b.Password, "[REDACTED]")
	}
	return fmt.Errorf("gitsource: %s %s: %s%s", op, s.redactedURL(), msg, s.authNote(err))
}

// authNote says, after an authentication failure, who the source tried to
// be and how: the server's message names neither the user nor, over
// HTTPS, the method.
func (s *Source) authNote(err error) string {
	msg := err.Error()
	sshRefused := strings.Contains(msg, "unable to authenticate") || strings.Contains(msg, "no supported methods remain")
	httpRefused := errors.Is(err, transport.ErrAuthenticationRequired) || errors.Is(err, transport.ErrAuthorizationFailed)
	switch a := s.cfg.Auth.(type) {
	case *gitssh.PublicKeys:
		if sshRefused {
			return fmt.Sprintf(" (tried SSH user %q with public key %s; the user comes from the URL, else --ssh-user, else %q)", a.User, ssh.FingerprintSHA256(a.Signer.PublicKey()), DefaultSSHUser)
		}
	case *githttp.BasicAuth:
		if httpRefused {
			return fmt.Sprintf(" (tried HTTPS basic auth as user %q)", a.Username)
		}
	case nil:
		if httpRefused || sshRefused {
			return " (tried no credentials: give --https-user and --https-password-env, or --ssh-key)"
		}
	}
	return ""
}

// Poll lists the remote; when the branch head moved (or on the first
// poll), it fetches and reads the head commit. changed is false when the
// head is the one last read (nothing was fetched).
func (s *Source) Poll(ctx context.Context) (agent.Snapshot, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Lists++
	rem := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{s.cfg.URL}})
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: s.cfg.Auth})
	if err != nil {
		return s.last, false, s.errorf("list", err)
	}
	want := plumbing.NewBranchReferenceName(s.cfg.Branch)
	var head plumbing.Hash
	for _, r := range refs {
		if r.Name() == want {
			head = r.Hash()
		}
	}
	if head.IsZero() {
		return s.last, false, s.errorf("list", fmt.Errorf("no branch %q", s.cfg.Branch))
	}
	if s.have && s.last.Commit == head.String() {
		return s.last, false, nil
	}
	if err := s.fetch(ctx, 2); err != nil {
		return s.last, false, err
	}
	snap, err := s.snapshot(head)
	if err != nil {
		return s.last, false, err
	}
	s.last, s.have = snap, true
	return snap, true, nil
}

// open opens (or creates) the bare repository under Dir.
func (s *Source) open() error {
	if s.repo != nil {
		return nil
	}
	r, err := git.PlainOpen(s.cfg.Dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		r, err = git.PlainInit(s.cfg.Dir, true)
		if err == nil {
			_, err = r.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{s.cfg.URL}})
		}
	}
	if err != nil {
		return fmt.Errorf("gitsource: open %s: %w", s.cfg.Dir, err)
	}
	s.repo = r
	return nil
}

func (s *Source) fetch(ctx context.Context, depth int) error {
	if err := s.open(); err != nil {
		return err
	}
	s.stats.Fetches++
	spec := config.RefSpec(fmt.Sprintf("+refs/heads/%s:refs/remotes/origin/%s", s.cfg.Branch, s.cfg.Branch))
	err := s.repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", RemoteURL: s.cfg.URL, RefSpecs: []config.RefSpec{spec},
		Depth: depth, Auth: s.cfg.Auth, Force: true, Tags: git.NoTags})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return s.errorf("fetch", err)
	}
	return nil
}

// snapshot reads commit h.
func (s *Source) snapshot(h plumbing.Hash) (agent.Snapshot, error) {
	c, err := s.repo.CommitObject(h)
	if err != nil {
		return agent.Snapshot{}, fmt.Errorf("gitsource: read commit %s: %w", h, err)
	}
	files, err := s.files(c)
	if err != nil {
		return agent.Snapshot{}, err
	}
	snap := agent.Snapshot{Commit: h.String(), Author: fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email),
		Time: c.Committer.When, Message: strings.TrimSpace(c.Message), Files: files, Signature: c.PGPSignature}
	if len(c.ParentHashes) > 0 {
		snap.Parent = c.ParentHashes[0].String()
	}
	if c.PGPSignature != "" {
		enc := &plumbing.MemoryObject{}
		if err := c.EncodeWithoutSignature(enc); err == nil {
			if rd, err := enc.Reader(); err == nil {
				snap.SignedPayload, _ = io.ReadAll(rd)
			}
		}
	}
	return snap, nil
}

// files reads the plan files (*.upshift.hcl) under Path in c's tree.
func (s *Source) files(c *object.Commit) (map[string][]byte, error) {
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("gitsource: read tree of %s: %w", c.Hash, err)
	}
	out := map[string][]byte{}
	err = tree.Files().ForEach(func(f *object.File) error {
		if !strings.HasSuffix(f.Name, ".upshift.hcl") {
			return nil
		}
		if s.cfg.Path != "" && !strings.HasPrefix(f.Name, s.cfg.Path+"/") {
			return nil
		}
		text, err := f.Contents()
		if err != nil {
			return err
		}
		out[path.Clean(f.Name)] = []byte(text)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gitsource: read plans of %s: %w", c.Hash, err)
	}
	return out, nil
}

// FilesAt reads the plan files of an older commit (a removed plan's last
// content), deepening the shallow history when it is not there.
func (s *Source) FilesAt(ctx context.Context, commit string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	h := plumbing.NewHash(commit)
	c, err := s.repo.CommitObject(h)
	if err != nil {
		if ferr := s.fetch(ctx, 50); ferr != nil {
			return nil, ferr
		}
		if c, err = s.repo.CommitObject(h); err != nil {
			return nil, fmt.Errorf("gitsource: commit %s is not in the fetched history: %w", commit, err)
		}
	}
	return s.files(c)
}

var _ agent.Source = (*Source)(nil)

// Settings reads the plans repository's settings file (upshift.hcl, see
// plan.SettingsFile) at the last polled commit: the one nearest the plans,
// from Path up to the repository's root. name is its path in the
// repository; ok is false when there is none or nothing was polled yet.
func (s *Source) Settings() (name string, src []byte, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.have || s.repo == nil {
		return "", nil, false, nil
	}
	c, err := s.repo.CommitObject(plumbing.NewHash(s.last.Commit))
	if err != nil {
		return "", nil, false, fmt.Errorf("gitsource: read commit %s: %w", s.last.Commit, err)
	}
	dir := s.cfg.Path
	for {
		name = path.Join(dir, "upshift.hcl")
		f, err := c.File(name)
		if err == nil {
			text, err := f.Contents()
			if err != nil {
				return "", nil, false, fmt.Errorf("gitsource: read %s: %w", name, err)
			}
			return name, []byte(text), true, nil
		}
		if !errors.Is(err, object.ErrFileNotFound) && !errors.Is(err, object.ErrDirectoryNotFound) && !errors.Is(err, object.ErrEntryNotFound) {
			return "", nil, false, fmt.Errorf("gitsource: read %s: %w", name, err)
		}
		if dir == "" || dir == "." {
			return "", nil, false, nil
		}
		dir = path.Dir(dir)
		if dir == "." {
			dir = ""
		}
	}
}
