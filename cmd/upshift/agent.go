package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/upshift-dev/upshift/agent"
	"github.com/upshift-dev/upshift/agent/gitsource"
	"github.com/upshift-dev/upshift/agent/leader"
	"github.com/upshift-dev/upshift/agent/signature"
	"github.com/upshift-dev/upshift/agent/webhook"
	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/notify"
	"github.com/upshift-dev/upshift/plan"
)

const agentUsage = `Usage: upshift agent --repo URL --data-dir DIR [--branch main] [--path plans/]
                    [--interval 30s] [--listen 127.0.0.1:8080] [--workers 4] [--id NAME]
                    [--journal-dir DIR | --journal-env NAME]
                    [--https-user USER --https-password-env NAME]
                    [--ssh-key FILE --ssh-known-hosts FILE [--ssh-user USER]]
                    [--webhook-github-secret-env NAME] [--webhook-gitlab-token-env NAME]
                    [--admin-token-env NAME]
                    [--verify-signatures --trusted-keys FILE]
                    [--log-format text|json] [--log-level info]
                    [--notify-webhook-env NAME [--notify-webhook-secret-env NAME]]
                    [--notify-slack-env NAME]
                    [--commit-status github|gitlab --commit-status-token-env NAME
                     [--commit-status-api URL] [--commit-status-repo REPO]]
                    [--status-url URL]

Runs the GitOps agent: it polls the repository's branch (one refs listing
when nothing changed), turns the head commit's *.upshift.hcl files under
--path into the desired state and drives every plan with the engine, several
at once. Merging a plan starts its upgrade; reverting the commit while it is in
progress rolls it back; removing a completed plan archives it. Points of no
return wait for approve = [...] in a commit made after the run stopped there
(an item merged before the gate does not count; approve_in_advance skips
the gate).

HTTP on --listen: /healthz, /readyz, /metrics (Prometheus), /api/v1/status
(what upshift status prints), the status page at /, and POST /webhook when a
webhook secret is configured (a verified push triggers a poll at once).
With --admin-token-env, POST /api/v1/plans/NAME/approve|pause|resume|abort
(upshift approve, pause, resume, abort and the status page's controls)
with "Authorization: Bearer TOKEN"; without it they answer 403.

The journal (docs/runs.md) is the one the repository's upshift.hcl declares
(journal { dir = "/ABS" } or journal { postgres = env("NAME") }), read from
the head commit at start: upshift apply, plan and unlock from any checkout
use the same one, so one run per cluster holds across them. --journal-dir or
--journal-env override it, with a warning. When the repository declares
none, DATA-DIR/journal: this agent's own, which apply does not see.

High availability: with a PostgreSQL journal (a DSN in an environment
variable, never on the command line) agents share the journal and elect one
leader through a session advisory lock; followers serve status and take over
when the leader's connection drops. A follower that receives a webhook
journals a poll request and the leader polls (docs/install.md). With a directory journal the agent runs
alone.

Notifications (docs/notifications.md): each plan's notify blocks, and for
every plan the agent's own receivers: --notify-webhook-env NAME (a URL that
gets each event as JSON, signed with HMAC-SHA256 in X-Upshift-Signature-256
when --notify-webhook-secret-env names the secret), --notify-slack-env NAME
(a Slack incoming-webhook URL). --commit-status github|gitlab posts a
commit status (pending, success, failure; context upshift/PLAN) on the
plan's commit with the token in --commit-status-token-env, to
--commit-status-api (default https://api.github.com or
https://gitlab.com/api/v4) for --commit-status-repo (GitHub owner/repo,
GitLab project ID or path; default: read from --repo), linking to
--status-url (default http://LISTEN/). With --commit-status the agent also
posts each new or changed plan's read-only preflight report (Markdown) as a
comment on its commit, once per plan content. Deliveries are retried with
backoff and journaled (sent, failed, dropped); they never hold a step up.

Secrets come from environment variables named by the *-env flags. SSH host
keys are always checked against --ssh-known-hosts. The SSH user is the one
the URL names (ssh://deploy@host/plans.git or deploy@host:plans.git), else
--ssh-user, else git; an --ssh-user that differs from the URL's is a usage
error. UPSHIFT_SSH_PASSPHRASE holds the key's passphrase, if it has one. An
authentication failure names the user and the key or method tried.

Signed commits: with --verify-signatures the agent acts only on a head
commit whose signature verifies against a key in --trusted-keys FILE; a
refused commit is ignored (the last accepted one stays the desired state),
logged once, counted in upshift_refused_commits_total, and shown by upshift
status. The file holds, in any order:
  - armored OpenPGP public key blocks (gpg --armor --export KEYID), from
    "-----BEGIN PGP PUBLIC KEY BLOCK-----" to its END line; the signer shown
    is the key's user ID and fingerprint;
  - SSH allowed-signers lines, the format of git's gpg.ssh.allowedSignersFile
    without options: "PRINCIPAL KEYTYPE BASE64KEY [COMMENT]", e.g.
    "alice@example.com ssh-ed25519 AAAAC3Nz... alice's laptop"; the
    signature must be in git's "git" namespace (git commit -S with
    gpg.format=ssh); the signer shown is PRINCIPAL and the key's SHA256
    fingerprint;
  - blank lines, and comment lines starting with #.

Exit codes: 0 after SIGINT/SIGTERM, 1 when it cannot start, 2 usage error.
`

var agentCommand = &command{
	Name:     "agent",
	Synopsis: "Run the GitOps agent: poll a repository of plans and converge them",
	Usage:    agentUsage,
	Run: func(ctx context.Context, args []string, s *streams) int {
		fs := newFlagSet("agent")
		repo := fs.String("repo", "", "repository URL")
		branch := fs.String("branch", "main", "branch")
		path := fs.String("path", "", "folder of plans in the repository")
		interval := fs.Duration("interval", 30*time.Second, "poll interval")
		dataDir := fs.String("data-dir", "", "data directory (repository cache, default journal)")
		listen := fs.String("listen", "127.0.0.1:8080", "HTTP address")
		workers := fs.Int("workers", 4, "plans applied at once")
		id := fs.String("id", "", "agent name (default host-pid)")
		jdir := fs.String("journal-dir", "", "journal directory")
		jenv := fs.String("journal-env", "", "environment variable holding the journal's PostgreSQL DSN (enables leader election)")
		httpsUser := fs.String("https-user", "", "HTTPS user")
		httpsPassEnv := fs.String("https-password-env", "", "environment variable holding the HTTPS password or token")
		sshKey := fs.String("ssh-key", "", "SSH private key file")
		sshKnown := fs.String("ssh-known-hosts", "", "known_hosts file for the SSH host key")
		sshUser := fs.String("ssh-user", "", "SSH user (default: the URL's user, else git)")
		ghEnv := fs.String("webhook-github-secret-env", "", "environment variable holding the GitHub webhook secret")
		glEnv := fs.String("webhook-gitlab-token-env", "", "environment variable holding the GitLab webhook token")
		adminEnv := fs.String("admin-token-env", "", "environment variable holding the admin token of the runtime controls")
		verify := fs.Bool("verify-signatures", false, "act only on head commits signed by a trusted key")
		trusted := fs.String("trusted-keys", "", "trusted keys file: armored OpenPGP public key blocks and SSH allowed-signers lines (see above)")
		nf := addAgentNotifyFlags(fs)
		lf := addLogFlags(fs, "info")
		pos, err := parseFlags(fs, args)
		var log *slog.Logger
		switch {
		case err != nil:
		case len(pos) != 0:
			err = usageErrorf("takes no arguments")
		case *repo == "" || *dataDir == "":
			err = usageErrorf("--repo URL and --data-dir DIR are required")
		case *jdir != "" && *jenv != "":
			err = usageErrorf("give at most one of --journal-dir and --journal-env")
		case *interval < time.Second:
			err = usageErrorf("--interval must be at least 1s")
		case (*sshKey == "") != (*sshKnown == ""):
			err = usageErrorf("--ssh-key and --ssh-known-hosts go together (host keys are always checked)")
		case *httpsUser != "" && *httpsPassEnv == "":
			err = usageErrorf("--https-user needs --https-password-env NAME")
		case *sshUser != "" && *sshKey == "":
			err = usageErrorf("--ssh-user goes with --ssh-key")
		case *verify && *trusted == "":
			err = usageErrorf("--verify-signatures needs --trusted-keys FILE")
		case !*verify && *trusted != "":
			err = usageErrorf("--trusted-keys goes with --verify-signatures")
		case nf.check() != nil:
			err = nf.check()
		default:
			log, err = lf.logger(s.Err)
		}
		if err == nil && *sshKey != "" {
			if *sshUser, err = gitsource.SSHUser(*repo, *sshUser); err != nil {
				err = usageErrorf("%v", err)
			}
		}
		if err != nil {
			return handleParseError("agent", agentUsage, err, s)
		}
		fail := func(format string, a ...any) int {
			fmt.Fprintf(s.Err, "upshift agent: "+format+"\n", a...)
			return exitFail
		}
		env := func(name, what string) (string, bool) {
			v, ok := os.LookupEnv(name)
			if !ok || v == "" {
				return "", false
			}
			return v, true
		}

		var auth transport.AuthMethod
		switch {
		case *httpsUser != "":
			pw, ok := env(*httpsPassEnv, "HTTPS password")
			if !ok {
				return fail("environment variable %s (--https-password-env) is not set", *httpsPassEnv)
			}
			auth = gitsource.HTTPBasic(*httpsUser, pw)
		case *sshKey != "":
			a, err := gitsource.SSHKey(*sshUser, *sshKey, os.Getenv("UPSHIFT_SSH_PASSPHRASE"), *sshKnown)
			if err != nil {
				return fail("%v", err)
			}
			auth = a
		}
		src, err := gitsource.Open(gitsource.Config{URL: *repo, Branch: *branch, Path: *path, Dir: filepath.Join(*dataDir, "repo"), Auth: auth})
		if err != nil {
			return fail("%v", err)
		}
		// The journal the repository declares (docs/runs.md), read from the
		// head commit: apply, plan and unlock from any checkout use it too.
		var verifyHead func(agent.Snapshot) (string, error)
		if *verify {
			if verifyHead, err = loadTrustedKeys(*trusted); err != nil {
				return fail("%v", err)
			}
		}
		declared, ok, err := agentDeclaredJournal(ctx, src, verifyHead)
		switch {
		case err != nil && *jdir == "" && *jenv == "":
			return fail("%v (the journal the repository declares decides where this agent journals; pass --journal-dir or --journal-env to start anyway)", err)
		case err != nil:
			log.Warn("could not read the journal the repository declares; using the flags'", "err", err)
		}
		switch {
		case (*jdir != "" || *jenv != "") && ok:
			if spec := (journalSpec{Dir: *jdir, Env: *jenv}); !spec.same(declared) {
				fmt.Fprintf(s.Err, "upshift agent: warning: journal %s differs from the one %s declares (%s): runs in one are neither seen nor locked by the other\n",
					spec, declared.From, declared)
			}
		case ok:
			*jdir, *jenv = declared.Dir, declared.Env
		case *jdir == "" && *jenv == "":
			*jdir = filepath.Join(*dataDir, "journal")
			log.Warn("the plans repository declares no journal (upshift.hcl): this agent's journal is its own, upshift apply from a checkout uses another (docs/runs.md)", "journal", *jdir)
		}
		if *jdir != "" {
			if err := os.MkdirAll(*jdir, 0o755); err != nil {
				return fail("create %s: %v", *jdir, err)
			}
		}
		store, err := openJournal(ctx, *jdir, *jenv)
		if err != nil {
			return fail("%v", err)
		}
		defer store.Close()
		holder := *id
		if holder == "" {
			host, _ := os.Hostname()
			holder = fmt.Sprintf("%s-%d", host, os.Getpid())
		}
		cfg := agent.Config{Source: src, Store: store, Interval: *interval, Workers: *workers, Holder: "agent " + holder, Logger: log}
		if *adminEnv != "" {
			if cfg.AdminToken, _ = env(*adminEnv, ""); cfg.AdminToken == "" {
				return fail("environment variable %s (--admin-token-env) is not set", *adminEnv)
			}
		}
		nd, cd, err := nf.dispatcher(ctx, *repo, *listen, store, engine.Actor{Agent: cfg.Holder}, log)
		if err != nil {
			return fail("%v", err)
		}
		for _, d := range []*notify.Dispatcher{nd, cd} {
			if d != nil {
				defer func() {
					wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyWait)
					defer cancel()
					d.Close(wctx)
				}()
			}
		}
		if nd != nil {
			cfg.Notify = nd
		}
		if cd != nil {
			cfg.Comments = cd
		}
		if *verify {
			cfg.Verify = verifyHead
		}
		a, err := agent.New(cfg)
		if err != nil {
			return fail("%v", err)
		}
		mux := a.Handler()
		gh, _ := env(*ghEnv, "")
		gl, _ := env(*glEnv, "")
		if *ghEnv != "" && gh == "" || *glEnv != "" && gl == "" {
			return fail("a webhook secret's environment variable is not set")
		}
		if gh != "" || gl != "" {
			wh, err := webhook.Handler(webhook.Config{GitHubSecret: gh, GitLabToken: gl, Branch: *branch, Logger: log,
				Trigger: func(ev webhook.Event) error { return a.RequestPoll(ctx, ev.Provider, ev.After, ev.Delivery) }})
			if err != nil {
				return fail("%v", err)
			}
			mux.Handle("POST /webhook", wh)
		}
		l, err := net.Listen("tcp", *listen)
		if err != nil {
			return fail("listen on %s: %v", *listen, err)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(l) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		log.Info("agent started", "id", holder, "repo", redactURL(*repo), "branch", *branch, "path", *path, "listen", l.Addr().String())
		fmt.Fprintf(s.Out, "upshift agent %s: serving on http://%s\n", holder, l.Addr())
		if *jenv != "" {
			dsn, _ := os.LookupEnv(*jenv)
			el, err := leader.New(leader.Config{DSN: dsn, ID: holder, Logger: log})
			if err != nil {
				return fail("%v", err)
			}
			if err := a.RunWithLeader(ctx, el); err != nil && !errors.Is(err, context.Canceled) {
				return fail("%v", err)
			}
			return exitOK
		}
		_ = a.Run(ctx)
		return exitOK
	},
}

// redactURL drops a password from a URL for logs.
func redactURL(u string) string {
	return engine.RedactSecrets(u)
}

// loadTrustedKeys builds the agent's signed-commit policy: only a head
// commit signed by a key in the file is acted on.
func loadTrustedKeys(path string) (func(agent.Snapshot) (string, error), error) {
	tr, err := signature.LoadTrusted(path)
	if err != nil {
		return nil, err
	}
	return func(s agent.Snapshot) (string, error) {
		sg, err := tr.Verify(s.Signature, s.SignedPayload)
		if err != nil {
			return "", err
		}
		return signerText(sg), nil
	}, nil
}

// signerText is a verified signer as status shows it.
func signerText(s signature.Signer) string {
	kind := map[string]string{"pgp": "OpenPGP", "ssh": "SSH"}[s.Kind]
	if s.Identity == "" {
		return kind + " key " + s.Fingerprint
	}
	return s.Identity + " (" + kind + " key " + s.Fingerprint + ")"
}

// agentDeclaredJournal polls the repository once and reads the journal its
// upshift.hcl declares at the head commit. A settings file that does not
// decode, or declares an invalid journal, stops the agent: running on
// another journal than the one apply uses is what it is there to prevent.
// The agent reads it once, at start: a change takes a restart. With
// --verify-signatures the head commit must pass verify first.
func agentDeclaredJournal(ctx context.Context, src *gitsource.Source, verify func(agent.Snapshot) (string, error)) (journalSpec, bool, error) {
	snap, _, err := src.Poll(ctx)
	if err != nil {
		return journalSpec{}, false, fmt.Errorf("read the plans repository: %w", err)
	}
	if verify != nil {
		if _, err := verify(snap); err != nil {
			return journalSpec{}, false, fmt.Errorf("head commit %s: its upshift.hcl is not trusted: %w", snap.Commit, err)
		}
	}
	name, text, ok, err := src.Settings()
	if err != nil || !ok {
		return journalSpec{}, false, err
	}
	st, diags := plan.ParseSettings(name, text)
	if diags.HasErrors() {
		return journalSpec{}, false, fmt.Errorf("%s: %s", name, diags.Error())
	}
	return settingsJournal(st, name+" (repository)")
}
