package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// PreflightReport is the event that carries a plan's preflight report
// (Markdown, in Message) to a CommitComment. It is not one of Kinds: the
// engine never emits it; the agent does when it reads a new plan commit.
const PreflightReport = "preflight_report"

// maxComment bounds a comment's body: GitHub refuses more than 65,536
// characters.
const maxComment = 60000

// CommitComment posts the preflight report as a comment on the plan's
// commit, through the commit-status receiver's forge: GitHub (POST
// /repos/{owner}/{repo}/commits/{sha}/comments, "body") or GitLab (POST
// /projects/:id/repository/commits/:sha/comments, "note").
type CommitComment struct {
	Forge  string // github | gitlab
	API    string
	Repo   string
	Token  string
	Client *http.Client
}

func (c *CommitComment) Name() string {
	return "commit comment (" + c.Forge + " " + c.Repo + ") " + hostOf(c.API)
}

func (c *CommitComment) Wants(ev Event) bool { return ev.Event == PreflightReport && ev.Commit != "" }

func (c *CommitComment) Send(ctx context.Context, ev Event) error {
	if ev.Commit == "" {
		return fmt.Errorf("%s: %s: %w", c.Name(), ev.Event, errNoCommit)
	}
	text := ev.Message
	if r := []rune(text); len(r) > maxComment {
		text = string(r[:maxComment]) + "\n\n… (cut: the whole report is `upshift preflight --format markdown`)\n"
	}
	api := strings.TrimRight(c.API, "/")
	h := http.Header{"Content-Type": {"application/json"}}
	var u string
	var body map[string]string
	switch c.Forge {
	case "github":
		u = fmt.Sprintf("%s/repos/%s/commits/%s/comments", api, c.Repo, url.PathEscape(ev.Commit))
		body = map[string]string{"body": text}
		h.Set("Accept", "application/vnd.github+json")
		h.Set("Authorization", "Bearer "+c.Token)
	case "gitlab":
		u = fmt.Sprintf("%s/projects/%s/repository/commits/%s/comments", api, url.PathEscape(c.Repo), url.PathEscape(ev.Commit))
		body = map[string]string{"note": text}
		h.Set("PRIVATE-TOKEN", c.Token)
	default:
		return fmt.Errorf("commit comment: unknown forge %q (want github or gitlab)", c.Forge)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", c.Name(), err)
	}
	return post(ctx, c.Client, c.Name(), u, b, h, c.Token)
}
