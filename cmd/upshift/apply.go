package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/notify"
	"github.com/upshift-dev/upshift/plan"
)

const applyUsage = `Usage: upshift apply PATH [--plan NAME] [--journal-dir DIR | --journal-env NAME]
                    [--holder NAME] [--take-over] [--log-format text|json] [--log-level LEVEL]

Converges a plan: runs its strategy's steps until the plan is done, reaches a
point of no return not yet approved, or stops on a failure (a failed gate
rolls traffic back to X first). Progress is live: one status line redrawn on
a terminal, plain timestamped lines otherwise.

Consent to a point of no return counts only when it comes after the run
stopped there: apply stops at the gate and journals the plan's approve list;
add the item to approve = [...] and run apply again. An item already listed
when the run stopped does not count (remove it, apply, add it back, apply).
approve_in_advance = [...] crosses the gates without stopping (unattended
environments; lint warns with UP039).

Every step is journaled before and after it runs (write-ahead), under the
plan's lease: apply refuses a plan another process (an agent, another apply)
holds; a lease whose holder was a process on this host that no longer exists
is taken over at once. It also refuses a plan whose current run an agent
started and has not finished, even between the agent's passes: change that
plan through its git repository, or, when that agent is stopped for good,
pass --take-over. One run per cluster: a new run is refused while another
plan of the same cluster has an unfinished run in the journal.

While apply runs, it reads the plan file again every second: once the file
requests a rollback (rollback { requested = true }), the current step stops
(a pause or an analysis is not waited out), it is recorded, and the new plan
is applied at once: traffic goes back to X.

Ctrl-C stops the current step cleanly and records it; run apply again to
resume from the journal. A second Ctrl-C exits at once (130).

A run that completed or rolled back stays so while the plan keeps its
content: to upgrade again, set run = 2 (then 3, ...) in the plan; upshift
plan says so (docs/engine.md).

Hooks (from.start, to.start, stop, freeze...) run as argv lists without a
shell, with apply's environment and working directory, each in its own
process group. Apply waits for the hook's own process (10 minutes at most),
then observes the node; what a hook starts in the background keeps running.
Only a hook that times out or is cancelled has its group killed
(docs/hooks.md).

The plan must pass lint first. The journal (docs/runs.md) is the one the
journal block of the repository's upshift.hcl declares (the agent uses it
too), else $XDG_STATE_HOME/upshift/journal (~/.local/state/upshift/journal),
created if missing. --journal-dir DIR or --journal-env NAME (a PostgreSQL DSN
in that environment variable) override it, with a warning when upshift.hcl
declares another.
Logs (log/slog) go to stderr; secrets never appear in them.

The plan's notify blocks (docs/notifications.md) are told of the run's
events while it runs, never holding a step up; each delivery is journaled
(sent, failed, dropped), and apply waits up to 20s at the end for the last
ones. A notify block whose env() variable is unset stops apply before any
step.

Exit codes: 0 the plan is Ready, or stopped at an approval it needs
(AwaitingApproval); 1 it stopped on a failure, was interrupted, or could not
run; 2 usage error.
`

var applyCommand = &command{
	Name:     "apply",
	Synopsis: "Converge a plan: run its steps, journaled, until done or the next approval",
	Usage:    applyUsage,
	Run: func(ctx context.Context, args []string, s *streams) int {
		fs := newFlagSet("apply")
		name := fs.String("plan", "", "plan name")
		dir := fs.String("journal-dir", "", "journal directory")
		envName := fs.String("journal-env", "", "environment variable holding the journal's PostgreSQL DSN")
		holder := fs.String("holder", "", "lease holder name (default: user@host/pid)")
		takeOver := fs.Bool("take-over", false, "apply a plan whose current run an agent started (stop that agent first)")
		lf := addLogFlags(fs, "warn")
		pos, err := parseFlags(fs, args)
		var log *slog.Logger
		switch {
		case err != nil:
		case len(pos) != 1:
			err = usageErrorf("takes one PATH")
		case *dir != "" && *envName != "":
			err = usageErrorf("give at most one of --journal-dir and --journal-env")
		default:
			log, err = lf.logger(s.Err)
		}
		if err != nil {
			return handleParseError("apply", applyUsage, err, s)
		}
		p, err := loadOnePlan(pos[0], *name)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift apply: %v\n", err)
			return exitFail
		}
		store, err := journalForPlan(ctx, pos[0], p.Name, *dir, *envName, true, s.Err, "apply")
		if err != nil {
			fmt.Fprintf(s.Err, "upshift apply: %v\n", err)
			return exitFail
		}
		defer store.Close()
		if *holder == "" {
			*holder = defaultWho()
			if *holder == "" {
				*holder = "apply"
			}
			*holder = fmt.Sprintf("%s/%d", *holder, os.Getpid())
		}
		// The plan's notify blocks: delivered while apply runs, and for up
		// to notifyWait after it (docs/notifications.md).
		receivers, err := notify.FromPlan(p, os.LookupEnv)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift apply: %v\n", err)
			return exitFail
		}
		var sink notify.Sink
		if len(receivers) > 0 {
			d := notify.NewDispatcher(receivers, notify.Options{Logger: log, Record: engine.DeliveryRecorder(ctx, store, engine.Actor{})})
			defer func() {
				wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyWait)
				defer cancel()
				d.Close(wctx)
			}()
			sink = d
		}
		// A second signal after the first (which cancelled ctx) exits at once.
		stopSecond := exitOnSecondSignal(ctx, s)
		defer stopSecond()
		start := time.Now()
		var out engine.Outcome
		for {
			pp := newProgressPrinter(s.Out)
			var e *engine.Engine
			e, err = engine.New(engine.Config{Plan: p, Store: store, Holder: *holder, Logger: log, Progress: pp.Progress, TakeOver: *takeOver,
				Notify: sink})
			if err != nil {
				fmt.Fprintf(s.Err, "upshift apply: %v\n", err)
				return exitFail
			}
			var inAdvance []string
			for _, a := range p.ApproveInAdvance {
				inAdvance = append(inAdvance, a.Value)
			}
			fmt.Fprintln(s.Out, applyHeader(ctx, store, p)+inAdvanceNote(inAdvance))
			// rollback { requested = true } written into the plan file
			// while this apply runs stops the current step (a pause is not
			// waited out), and the new plan is applied at once.
			actx, cancel := context.WithCancel(ctx)
			next := watchRollback(actx, cancel, pos[0], *name, p, time.Second)
			out, err = e.Apply(actx)
			cancel()
			pp.finish()
			if np := <-next; np != nil && err == nil && out.Condition.Reason == engine.ReasonInterrupted && ctx.Err() == nil {
				fmt.Fprintf(s.Out, "\n%s now requests a rollback (rollback { requested = true }): the current step was stopped; applying the new plan\n", pos[0])
				p = np
				continue
			}
			break
		}
		if err != nil {
			if errors.Is(err, engine.ErrAgentRun) {
				fmt.Fprintf(s.Err, "upshift apply: %v\n(change the plan through its git repository; if that agent is stopped for good, apply with --take-over)\n", err)
			} else if errors.Is(err, engine.ErrClusterBusy) {
				fmt.Fprintf(s.Err, "upshift apply: %v\n(one run per cluster: finish or roll back that run first; plans chained with depends_on run in turn)\n", err)
			} else if errors.Is(err, engine.ErrLeaseHeld) {
				fmt.Fprintf(s.Err, "upshift apply: %v\n(an agent or another apply is working on this plan; if its holder died, see upshift unlock)\n", err)
			} else {
				fmt.Fprintf(s.Err, "upshift apply: %v\n", err)
			}
			return exitFail
		}
		fmt.Fprintln(s.Out, "\n"+wrap(fmt.Sprintf("%s/%s: ", out.Condition.Type, out.Condition.Reason), out.Condition.Message, 4, outputWidth(s.Out)))
		ran := "no step"
		if len(out.Ran) > 0 {
			ran = fmt.Sprintf("%s (%s)", plural(len(out.Ran), "step", "steps"), strings.Join(out.Ran, ", "))
		}
		fmt.Fprintf(s.Out, "Ran %s in %s.\n", ran, round(time.Since(start)))
		switch {
		case out.Condition.Type == engine.ConditionReady:
			return exitOK
		case out.Condition.Reason == engine.ReasonAwaitingApproval:
			return exitOK
		case out.Condition.Reason == engine.ReasonInterrupted:
			fmt.Fprintln(s.Out, "Run upshift apply again: it resumes from the journal.")
		}
		return exitFail
	},
}

// notifyWait bounds how long apply, done, waits for its notifications to
// be delivered (retries included) before it exits.
const notifyWait = 20 * time.Second

// applyHeader says what apply is about to do: apply the plan, or roll it
// back (the plan requests it, sets to.version back, or the run's
// rollback began: a failed gate).
func applyHeader(ctx context.Context, store engine.Store, p *plan.Plan) string {
	why := ""
	switch {
	case rollbackRequested(p):
		why = "rollback { requested = true }"
	case p.To.Version.Value == p.From.Version.Value:
		why = "to.version is set back to from.version"
	default:
		// A journal that cannot be read here is Apply's to report.
		if info, err := engine.ReadRun(ctx, store, p.Name); err == nil && info.InProgress() {
			why = info.Rollback
		}
	}
	if why == "" {
		return fmt.Sprintf("Applying %q: %s %s → %s", p.Name, p.Strategy.Value, p.From.Version.Value, p.To.Version.Value)
	}
	return fmt.Sprintf("Rolling back %q: %s, traffic and state back to X (Kong %s): %s", p.Name, p.Strategy.Value, p.From.Version.Value, why)
}

// watchRollback reloads the plan file at path every interval while ctx
// lives. When it loads (lint-clean) and requests a rollback that p does
// not, it calls cancel and sends the new plan; otherwise it sends nil once
// ctx ends. A file that does not load (being edited) is read again later.
func watchRollback(ctx context.Context, cancel context.CancelFunc, path, name string, p *plan.Plan, interval time.Duration) <-chan *plan.Plan {
	out := make(chan *plan.Plan, 1)
	if rollbackRequested(p) {
		out <- nil
		return out
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				out <- nil
				return
			case <-t.C:
			}
			np, err := loadOnePlan(path, name)
			if err == nil && np.Name == p.Name && rollbackRequested(np) {
				cancel()
				out <- np
				return
			}
		}
	}()
	return out
}

func rollbackRequested(p *plan.Plan) bool { return p.Rollback != nil && p.Rollback.Requested.Value }

// exitOnSecondSignal: once ctx is cancelled by a first SIGINT/SIGTERM,
// another one exits the process with 130 without waiting for the step.
func exitOnSecondSignal(ctx context.Context, s *streams) func() {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(ch)
		fmt.Fprintln(s.Err, "upshift apply: stopping after recording the current step (Ctrl-C again to exit at once)")
		select {
		case <-done:
		case <-ch:
			fmt.Fprintln(s.Err, "upshift apply: exiting at once; the journal shows the step as started: apply observes before redoing it")
			os.Exit(130)
		}
	}()
	return func() { close(done) }
}
