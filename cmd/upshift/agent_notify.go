package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/notify"
)

// agentNotifyFlags are the agent's own receivers: URLs and tokens come
// from environment variables, never from the command line (docs/notifications.md).
type agentNotifyFlags struct {
	webhookEnv, webhookSecretEnv, slackEnv *string
	status, statusTokenEnv, statusAPI      *string
	statusRepo, statusURL                  *string
}

func addAgentNotifyFlags(fs *flag.FlagSet) *agentNotifyFlags {
	return &agentNotifyFlags{
		webhookEnv:       fs.String("notify-webhook-env", "", "environment variable holding a webhook URL that gets every plan's events as JSON"),
		webhookSecretEnv: fs.String("notify-webhook-secret-env", "", "environment variable holding that webhook's HMAC-SHA256 secret (X-Upshift-Signature-256)"),
		slackEnv:         fs.String("notify-slack-env", "", "environment variable holding a Slack incoming-webhook URL that gets every plan's events"),
		status:           fs.String("commit-status", "", "post a commit status on each plan's commit: github or gitlab"),
		statusTokenEnv:   fs.String("commit-status-token-env", "", "environment variable holding the commit-status API token"),
		statusAPI:        fs.String("commit-status-api", "", "commit-status API URL (default https://api.github.com, https://gitlab.com/api/v4)"),
		statusRepo:       fs.String("commit-status-repo", "", "repository for commit statuses: GitHub owner/repo, GitLab project ID or path (default: from --repo)"),
		statusURL:        fs.String("status-url", "", "the status page's URL as the commit status links it (default http://LISTEN/)"),
	}
}

// check reports a usage error in the flags' combination.
func (f *agentNotifyFlags) check() error {
	switch {
	case *f.webhookSecretEnv != "" && *f.webhookEnv == "":
		return usageErrorf("--notify-webhook-secret-env goes with --notify-webhook-env")
	case *f.status != "" && !slices.Contains(notify.Forges, *f.status):
		return usageErrorf("--commit-status is github or gitlab, not %q", *f.status)
	case *f.status != "" && *f.statusTokenEnv == "":
		return usageErrorf("--commit-status needs --commit-status-token-env NAME")
	case *f.status == "" && (*f.statusTokenEnv != "" || *f.statusAPI != "" || *f.statusRepo != ""):
		return usageErrorf("--commit-status-token-env, --commit-status-api and --commit-status-repo go with --commit-status")
	}
	return nil
}

// dispatcher builds the agent's receivers (nil: none) and, with
// --commit-status, the preflight report's commit comments on the same
// forge (nil: none). An unset variable stops the agent: a receiver asked
// for and silently missing would be a notification that never comes.
func (f *agentNotifyFlags) dispatcher(ctx context.Context, repo, listen string, store engine.Store, actor engine.Actor, log *slog.Logger) (events, comments *notify.Dispatcher, err error) {
	need := func(name, flagName string) (string, error) {
		v, ok := os.LookupEnv(name)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s (%s) is not set", name, flagName)
		}
		return v, nil
	}
	var rs []notify.Receiver
	if *f.webhookEnv != "" {
		u, err := need(*f.webhookEnv, "--notify-webhook-env")
		if err != nil {
			return nil, nil, err
		}
		w := &notify.Webhook{URL: u, Source: "--notify-webhook-env " + *f.webhookEnv}
		if *f.webhookSecretEnv != "" {
			if w.Secret, err = need(*f.webhookSecretEnv, "--notify-webhook-secret-env"); err != nil {
				return nil, nil, err
			}
		}
		rs = append(rs, w)
	}
	if *f.slackEnv != "" {
		u, err := need(*f.slackEnv, "--notify-slack-env")
		if err != nil {
			return nil, nil, err
		}
		rs = append(rs, &notify.Slack{URL: u, Source: "--notify-slack-env " + *f.slackEnv})
	}
	if *f.status != "" {
		tok, err := need(*f.statusTokenEnv, "--commit-status-token-env")
		if err != nil {
			return nil, nil, err
		}
		api := *f.statusAPI
		if api == "" {
			api = map[string]string{"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}[*f.status]
		}
		r := *f.statusRepo
		if r == "" {
			if r = notify.RepoFromURL(repo); r == "" {
				return nil, nil, fmt.Errorf("--commit-status: cannot tell the repository from --repo; give --commit-status-repo")
			}
		}
		base := *f.statusURL
		if base == "" {
			base = "http://" + listen + "/"
		}
		rs = append(rs, &notify.CommitStatus{Forge: *f.status, API: api, Repo: r, Token: tok,
			TargetURL: func(plan string) string { return strings.TrimRight(base, "/") + "/?plan=" + url.QueryEscape(plan) }})
		// Its own queue: a report waiting on a slow forge delays no status.
		comments = notify.NewDispatcher([]notify.Receiver{&notify.CommitComment{Forge: *f.status, API: api, Repo: r, Token: tok}},
			notify.Options{Logger: log, Record: engine.DeliveryRecorder(ctx, store, actor)})
		log.Info("preflight reports", "receivers", strings.Join(comments.Receivers(), ", "))
	}
	if len(rs) == 0 {
		return nil, comments, nil
	}
	events = notify.NewDispatcher(rs, notify.Options{Logger: log, Record: engine.DeliveryRecorder(ctx, store, actor)})
	log.Info("notifications", "receivers", strings.Join(events.Receivers(), ", "))
	return events, comments, nil
}
