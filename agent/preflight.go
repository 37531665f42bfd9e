package agent

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/notify"
	"github.com/upshift-dev/upshift/internal/preflight"
	"github.com/upshift-dev/upshift/plan"
)

// preflightAt queues the read-only preflight of p (content digest) at
// commit for a commit comment (Config.Comments), once per plan content:
// not again in this process, and not after a restart when the journal's
// last comment sent for the plan is for this content (the commit the agent
// credits a plan with after a restart is the head's). A plan changed back
// to an earlier content is reported again, and so is one whose journal
// could not be read (at the next poll). It runs beside the engine,
// never before it: a report never holds a step up. The caller holds a.mu.
// ctx is the poll's: a lead lost or a stop ends the preflight, and the
// next lead tries again.
func (a *Agent) preflightAt(ctx context.Context, p *plan.Plan, digest, commit string) {
	if a.cfg.Comments == nil || commit == "" {
		return
	}
	if a.preflighted[p.Name] == digest {
		return
	}
	a.preflighted[p.Name] = digest
	a.obsWG.Add(1)
	go func() {
		defer a.obsWG.Done()
		select {
		case a.preflightSem <- struct{}{}:
			defer func() { <-a.preflightSem }()
			if a.postPreflight(ctx, p, digest, commit) {
				return
			}
		case <-ctx.Done():
		}
		// Not posted (the journal unreadable, or the lead lost): the next
		// poll, or the next lead, tries again.
		a.mu.Lock()
		if a.preflighted[p.Name] == digest {
			delete(a.preflighted, p.Name)
		}
		a.mu.Unlock()
	}()
}

// postPreflight reports whether the report is handled: queued, or known
// to be posted already.
func (a *Agent) postPreflight(ctx context.Context, p *plan.Plan, digest, commit string) bool {
	last, err := a.lastComment(ctx, p.Name)
	switch {
	case err != nil:
		// Unknown is not "not posted": a second comment is noise; the
		// next poll asks the journal again.
		a.log.Warn("preflight comment: the journal cannot be read; not posted, tried again at the next poll", "plan", p.Name, "commit", commit, "err", err)
		return false
	case last == short(digest):
		a.log.Info("preflight comment already posted for this plan content", "plan", p.Name, "commit", commit)
		return true
	}
	md := a.preflightMarkdown(ctx, p, commit)
	if ctx.Err() != nil {
		return false
	}
	a.cfg.Comments.Notify(notify.Event{ID: p.Name + "/preflight/" + short(digest) + "@" + short(commit), Event: notify.PreflightReport,
		Plan: p.Name, Cluster: p.Cluster.Value, Commit: commit, Message: md, Time: a.cfg.Now()})
	return true
}

// lastComment is the content digest (12 digits) of the last preflight
// comment the journal holds as sent for plan name ("" none).
func (a *Agent) lastComment(ctx context.Context, name string) (string, error) {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	recs, err := a.cfg.Store.Records(rctx, name, 0)
	if err != nil {
		return "", fmt.Errorf("read the journal of %s: %w", name, err)
	}
	last := ""
	for _, r := range recs {
		d := r.Details
		if r.Event != engine.EventNotification || d["event"] != notify.PreflightReport || d["result"] != notify.Sent {
			continue
		}
		_, rest, _ := strings.Cut(d["event_id"], "/preflight/")
		last, _, _ = strings.Cut(rest, "@")
	}
	return last, nil
}

// preflightMarkdown is p's preflight report as upshift preflight --format
// markdown writes it, with the commit it is for. A report that cannot be
// produced says what could not be read: never "clean".
func (a *Agent) preflightMarkdown(ctx context.Context, p *plan.Plan, commit string) string {
	var b bytes.Buffer
	r, err := a.runPreflight(ctx, p)
	if err == nil {
		err = r.WriteMarkdown(&b)
	}
	if err != nil {
		b.Reset()
		fmt.Fprintf(&b, "### Upshift preflight: NOT clean: the report could not be produced\n\nPlan `%s`: %s\n",
			p.Name, engine.RedactSecrets(err.Error()))
	}
	fmt.Fprintf(&b, "\n_Read-only preflight by the Upshift agent (%s) for commit %s._\n", a.cfg.Holder, short(commit))
	return b.String()
}

// runPreflight runs what upshift preflight and the engine's preflight
// step run for p (engine.PreflightOptions).
func (a *Agent) runPreflight(ctx context.Context, p *plan.Plan) (*preflight.Report, error) {
	o, err := engine.PreflightOptions(p, a.cfg.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("the plan's sides cannot be read: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, preflight.Timeout)
	defer cancel()
	r, err := preflight.Run(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("preflight: %w", err)
	}
	return r, nil
}
