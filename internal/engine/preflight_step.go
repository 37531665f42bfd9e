package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/upshift-dev/upshift/internal/preflight"
	"github.com/upshift-dev/upshift/internal/preflight/rules"
)

// The engine runs preflight (docs/preflight.md) twice: its read-only
// report right after the guard, before anything changes, and Y's side
// (Y's version, plugins.available_on_server against the plugins in use,
// the rules on the plan's checks) right before the checks, once Y
// answers. An error finding halts the plan; acknowledged findings are
// info, warnings do not stop. Each pass runs once per run: its ok outcome
// records the report's digest.

// withPreflight puts preflight right after guard and preflight_y right
// before checks.
func (e *Engine) withPreflight(t []step) []step {
	out := make([]step, 0, len(t)+2)
	for _, st := range t {
		if st.name == "checks" {
			out = append(out, e.stepPreflightY())
		}
		out = append(out, st)
		if st.name == "guard" {
			out = append(out, e.stepPreflight())
		}
	}
	return out
}

func (e *Engine) stepPreflight() step {
	return step{
		name: "preflight", title: "read X (and Y if it answers) against the breaking-change rules of every hop; changes nothing",
		done: func(s *state) (bool, string) {
			switch {
			case s.h.done("preflight"):
				return true, "passed in this run (report " + s.h.detail("preflight", "report") + ")"
			case s.h.pastPreflight():
				// A run that acted before the engine ran preflight:
				// the report was for a world that no longer is.
				return true, "steps after it ran in this run"
			}
			return false, ""
		},
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			o, err := PreflightOptions(e.plan, e.cfg.LookupEnv)
			if err != nil {
				return "", nil, &haltError{reason: ReasonPreconditionFail, msg: "preflight: " + err.Error()}
			}
			ctx, cancel := context.WithTimeout(ctx, preflight.Timeout)
			defer cancel()
			rep, err := preflight.Run(ctx, o)
			if err != nil {
				return "", nil, fmt.Errorf("preflight: %w", err)
			}
			var names []string
			for n := range rep.Plugins.InUse {
				names = append(names, n)
			}
			d := map[string]string{"plugins": strings.Join(sortedStrings(names), ",")}
			return e.preflightVerdict(rep, reportText(rep, func(b *strings.Builder) error { return rep.WriteText(b) }), d)
		},
	}
}

func (e *Engine) stepPreflightY() step {
	return step{
		name: "preflight_y", title: "check Y's version, its plugins against those in use, and the plan's checks against Y's changes",
		done: func(s *state) (bool, string) {
			switch {
			case s.h.done("preflight_y"):
				return true, "passed in this run (report " + s.h.detail("preflight_y", "report") + ")"
			case s.h.intents["checks"] > 0:
				return true, "the checks ran in this run"
			}
			return false, ""
		},
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			_, y, err := PreflightSides(e.plan, e.cfg.LookupEnv)
			if err != nil {
				return "", nil, &haltError{reason: ReasonPreconditionFail, msg: "preflight: " + err.Error()}
			}
			o := preflight.YOptions{Plan: e.plan.Name, Y: y.Client, From: e.from, To: e.to,
				Checks: preflightChecks(e.plan), Acknowledge: acknowledged(e.plan)}
			if n := r.state.h.detail("preflight", "plugins"); n != "" {
				o.InUseOnX = strings.Split(n, ",")
			}
			ctx, cancel := context.WithTimeout(ctx, preflight.Timeout)
			defer cancel()
			rep, err := preflight.RunY(ctx, o)
			if err != nil {
				return "", nil, fmt.Errorf("preflight on Y: %w", err)
			}
			return e.preflightVerdict(rep, reportText(rep, func(w *strings.Builder) error { return writeYText(w, rep) }), map[string]string{})
		},
	}
}

// preflightVerdict halts on an error finding (ObservationFailed when all
// of them are about what could not be read) with the rules, places and
// fixes; the output, which the journal keeps, is the whole report.
func (e *Engine) preflightVerdict(rep *preflight.Report, text string, d map[string]string) (string, map[string]string, error) {
	d["report"] = rep.Digest()
	d["counts"] = fmt.Sprintf("%d errors, %d warnings, %d info", rep.Counts[rules.Error], rep.Counts[rules.Warning], rep.Counts[rules.Info])
	if !rep.Clean {
		reason := ReasonPreconditionFail
		if rep.Unread() {
			reason = ReasonObservationFailed
		}
		errs := fmt.Sprintf("%d errors", rep.Counts[rules.Error])
		if rep.Counts[rules.Error] == 1 {
			errs = "1 error"
		}
		msg := errs + ": " + rep.Blocking(4) + " ("
		if ids := acknowledgeable(rep.Errors()); len(ids) > 0 {
			msg += fmt.Sprintf("the plan may acknowledge %s if Y is ready for it another way; ", strings.Join(ids, ", "))
		}
		msg += "the whole report is this step's output in the journal)"
		return "NOT clean: " + d["counts"] + "\n" + text, d, &haltError{reason: reason, msg: msg}
	}
	return "clean: " + d["counts"] + " (report " + d["report"] + ")\n" + text, d, nil
}

// acknowledgeable lists the rules among fs that a plan may acknowledge,
// each once, quoted as acknowledge takes them.
func acknowledgeable(fs []rules.Finding) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range fs {
		if r := rules.ByID(f.Rule); r != nil && r.Acknowledgeable && !seen[f.Rule] {
			seen[f.Rule] = true
			out = append(out, fmt.Sprintf("%q", f.Rule))
		}
	}
	return out
}

// reportText renders a report for the journal. A report that would not
// fit in a journal record (MaxOutput) keeps its error findings only.
func reportText(rep *preflight.Report, write func(*strings.Builder) error) string {
	var b strings.Builder
	if err := write(&b); err != nil {
		return "the report could not be written: " + err.Error()
	}
	if b.Len() <= MaxOutput-1024 {
		return b.String()
	}
	short := *rep
	short.Findings = rep.Errors()
	b.Reset()
	fmt.Fprintf(&b, "(only the errors: %d warnings and %d info are left out; upshift preflight shows them)\n", rep.Counts[rules.Warning], rep.Counts[rules.Info])
	if err := short.WriteText(&b); err != nil {
		return "the report could not be written: " + err.Error()
	}
	return b.String()
}

// writeYText writes Y's side of the report.
func writeYText(w *strings.Builder, r *preflight.Report) error {
	fmt.Fprintf(w, "Y: planned %s", r.Y.Planned)
	if r.Y.Answered != "" {
		fmt.Fprintf(w, ", answers %s", r.Y.Answered)
	}
	if r.Y.Error != "" {
		fmt.Fprintf(w, ", not read (%s)", r.Y.Error)
	}
	fmt.Fprintf(w, "\nplugins in use: %d names; Y offers %d\n\n", len(r.Plugins.InUse), len(r.Plugins.YAvailable))
	return rules.WriteText(w, r.Findings)
}
