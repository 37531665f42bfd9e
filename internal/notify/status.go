package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// State is a commit status's state in Upshift's words; each forge spells
// it its own way.
type State string

const (
	StatePending State = "pending"
	StateSuccess State = "success"
	StateFailure State = "failure"
)

// StateOf maps an event to the commit status it sets ("" for none): a run
// in progress or waiting is pending, a converged one a success, and one
// that failed a gate, stalled or was rolled back a failure (the commit did
// not get the cluster where it says).
func StateOf(ev Event) State {
	switch ev.Event {
	case RunStarted, AwaitingApproval, NoReturnCrossed:
		return StatePending
	case Completed:
		return StateSuccess
	case GateFailed, DriftDetected, RolledBack, Stalled:
		return StateFailure
	}
	return ""
}

// CommitStatus posts a commit status on the event's commit to GitHub
// (POST /repos/{owner}/{repo}/statuses/{sha}) or GitLab (POST
// /projects/:id/statuses/:sha), one context per plan ("upshift/PLAN"),
// linking to TargetURL(plan).
type CommitStatus struct {
	Forge string // github | gitlab
	API   string // https://api.github.com, https://gitlab.com/api/v4, or a test's
	Repo  string // GitHub: owner/repo; GitLab: the project's ID or path (group/project)
	Token string
	// TargetURL is the agent's status page for a plan.
	TargetURL func(plan string) string
	Client    *http.Client
}

// Forges Upshift posts commit statuses to.
var Forges = []string{"github", "gitlab"}

func (c *CommitStatus) Name() string {
	return "commit status (" + c.Forge + " " + c.Repo + ") " + hostOf(c.API)
}

func (c *CommitStatus) Wants(ev Event) bool { return ev.Commit != "" && StateOf(ev) != "" }

func (c *CommitStatus) Send(ctx context.Context, ev Event) error {
	st := StateOf(ev)
	if ev.Commit == "" || st == "" {
		return fmt.Errorf("%s: %s: %w", c.Name(), ev.Event, errNoCommit)
	}
	desc := titles[ev.Event]
	if ev.Message != "" {
		desc += ": " + ev.Message
	}
	if r := []rune(desc); len(r) > 140 { // GitHub refuses longer descriptions
		desc = string(r[:139]) + "…"
	}
	target := ""
	if c.TargetURL != nil {
		target = c.TargetURL(ev.Plan)
	}
	api := strings.TrimRight(c.API, "/")
	h := http.Header{"Content-Type": {"application/json"}}
	var u string
	var body map[string]string
	switch c.Forge {
	case "github":
		u = fmt.Sprintf("%s/repos/%s/statuses/%s", api, c.Repo, url.PathEscape(ev.Commit))
		body = map[string]string{"state": string(st), "target_url": target, "description": desc, "context": "upshift/" + ev.Plan}
		h.Set("Accept", "application/vnd.github+json")
		h.Set("Authorization", "Bearer "+c.Token)
	case "gitlab":
		state := string(st)
		if st == StateFailure {
			state = "failed"
		}
		u = fmt.Sprintf("%s/projects/%s/statuses/%s", api, url.PathEscape(c.Repo), url.PathEscape(ev.Commit))
		body = map[string]string{"state": state, "target_url": target, "description": desc, "name": "upshift/" + ev.Plan}
		h.Set("PRIVATE-TOKEN", c.Token)
	default:
		return fmt.Errorf("commit status: unknown forge %q (want github or gitlab)", c.Forge)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", c.Name(), err)
	}
	return post(ctx, c.Client, c.Name(), u, b, h, c.Token)
}

// RepoFromURL derives a commit status's Repo from the plans repository's
// URL: "owner/repo" (GitHub) or "group/sub/project" (GitLab) from
// https://host/owner/repo.git, ssh://git@host/owner/repo.git or
// git@host:owner/repo.git. "" when the URL has no such path.
func RepoFromURL(raw string) string {
	p := ""
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && u.Host != "" {
		p = u.Path
	} else if _, rest, ok := strings.Cut(raw, ":"); ok && !strings.Contains(raw, "://") {
		p = rest // scp-like git@host:owner/repo.git
	}
	p = strings.TrimSuffix(strings.Trim(p, "/"), ".git")
	if !strings.Contains(p, "/") {
		return ""
	}
	return p
}
