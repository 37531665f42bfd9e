package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/upshift-dev/upshift/internal/engine"
)

const planUsage = `Usage: upshift plan PATH [--plan NAME] [--format text|json] [--detailed-exitcode]
                   [--journal-dir DIR | --journal-env NAME]

Shows what upshift apply would do, like terraform plan: the observed state of
X and Y (versions, readiness, migrations per database, locks, traffic split,
backup, configuration fingerprint, data planes), the direction (upgrade or
rollback), and every step of the strategy marked done (✓), next (→), pending
(·) or blocked (✗), with points of no return and the approval they need.
When the guard is next, its checks run read-only and plan prints its
verdict: "Guard: would pass", or "would refuse" with each reason (the
guard step is then blocked and the condition Stalled/PreconditionFailed).

It changes nothing: it reads the clusters, the load balancer and the journal,
takes no lease and writes no record. The plan must pass lint first.

The journal is the one apply uses (docs/runs.md): the journal block of the
repository's upshift.hcl, else $XDG_STATE_HOME/upshift/journal
(~/.local/state/upshift/journal); --journal-dir DIR or --journal-env NAME
(a PostgreSQL DSN in that environment variable) override it, with a warning
when upshift.hcl declares another. plan never creates it: a journal
directory that does not exist yet (--journal-dir too) holds no run, and
plan says so; apply creates it.

  --format json        the preview as JSON (keys: plan, strategy, direction,
                       condition {type, reason, message}, steps [{name, title,
                       status, reason, point_of_no_return, approve, approved,
                       reversible, undo}], observed {...}, guard {pass,
                       problems} when the guard is next)
  --detailed-exitcode  exit 0 when nothing is pending, 3 when steps are pending

Exit codes: 0 success (see --detailed-exitcode), 1 error, 2 usage error,
3 steps pending (only with --detailed-exitcode).
`

const exitPending = 3

var planCommand = &command{
	Name:     "plan",
	Synopsis: "Show what apply would do: observed state and the steps, changing nothing",
	Usage:    planUsage,
	Run: func(ctx context.Context, args []string, s *streams) int {
		fs := newFlagSet("plan")
		name := fs.String("plan", "", "plan name")
		format := fs.String("format", "text", "text or json")
		detailed := fs.Bool("detailed-exitcode", false, "exit 3 when steps are pending")
		dir := fs.String("journal-dir", "", "journal directory")
		envName := fs.String("journal-env", "", "environment variable holding the journal's PostgreSQL DSN")
		pos, err := parseFlags(fs, args)
		switch {
		case err != nil:
		case len(pos) != 1:
			err = usageErrorf("takes one PATH")
		case *format != "text" && *format != "json":
			err = usageErrorf("--format must be text or json")
		case *dir != "" && *envName != "":
			err = usageErrorf("give at most one of --journal-dir and --journal-env")
		}
		if err != nil {
			return handleParseError("plan", planUsage, err, s)
		}
		p, err := loadOnePlan(pos[0], *name)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift plan: %v\n", err)
			return exitFail
		}
		store, err := journalForPlan(ctx, pos[0], p.Name, *dir, *envName, false, s.Err, "plan")
		if err != nil {
			fmt.Fprintf(s.Err, "upshift plan: %v\n", err)
			return exitFail
		}
		if store != nil {
			defer store.Close()
		}
		e, err := engine.New(engine.Config{Plan: p, Store: store})
		if err != nil {
			fmt.Fprintf(s.Err, "upshift plan: %v\n", err)
			return exitFail
		}
		pv, err := e.Preview(ctx)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift plan: %v\n", err)
			return exitFail
		}
		if *format == "json" {
			enc := json.NewEncoder(s.Out)
			enc.SetIndent("", "  ")
			_ = enc.Encode(pv)
		} else {
			writePreview(s.Out, pv)
		}
		if *detailed && pv.Pending() {
			return exitPending
		}
		return exitOK
	},
}

// inAdvanceNote is the first-line mark of a plan with approve_in_advance.
func inAdvanceNote(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return "; APPROVED IN ADVANCE (no stop at these gates): " + strings.Join(items, ", ")
}

var marks = map[string]string{engine.StatusDone: "✓", engine.StatusNext: "→", engine.StatusPending: "·", engine.StatusBlocked: "✗"}

// writePreview prints a preview for people.
func writePreview(w io.Writer, pv *engine.Preview) {
	cluster := ""
	if pv.Cluster != "" {
		cluster = " (cluster " + pv.Cluster + ")"
	}
	// On the first line: nobody will be asked at these gates.
	fmt.Fprintf(w, "Plan %q%s: %s, %s, %s → %s, %s%s\n", pv.Plan, cluster, pv.Strategy, pv.Mode, pv.From, pv.To, pv.Direction, inAdvanceNote(pv.ApproveInAdvance))
	for _, in := range pv.NotActedOn {
		fmt.Fprintf(w, "Not acted on yet (UP040): %s\n", in)
	}
	for _, m := range pv.Preconditions {
		fmt.Fprintf(w, "Precondition not met (the next step will stop): %s\n", m)
	}
	fmt.Fprintln(w)
	writeObserved(w, &pv.Observed)
	fmt.Fprintln(w, "\nSteps:")
	width := 0
	for _, st := range pv.Steps {
		width = max(width, len(st.Name))
	}
	toRun, needApproval := 0, 0
	for _, st := range pv.Steps {
		var notes []string
		if st.NoReturn {
			n := "point of no return"
			if st.Approve != "" && !st.Approved {
				n += fmt.Sprintf("; needs approve = [%q]", st.Approve)
				needApproval++
			}
			notes = append(notes, n)
		} else if st.Reversible {
			notes = append(notes, "reversible")
		}
		if st.Status != engine.StatusDone {
			toRun++
		}
		line := fmt.Sprintf("  %s %-*s  %s", marks[st.Status], width, st.Name, st.Title)
		if len(notes) > 0 {
			line += " [" + strings.Join(notes, "; ") + "]"
		}
		fmt.Fprintln(w, line)
		if st.Reason != "" && st.Status != engine.StatusPending {
			fmt.Fprintln(w, wrap(fmt.Sprintf("    %*s  ", width, ""), st.Reason, width+6, outputWidth(w)))
		}
	}
	fmt.Fprintln(w)
	if g := pv.Guard; g != nil {
		// The guard's checks, run read-only now: what the next apply meets.
		if g.Pass {
			fmt.Fprintln(w, "Guard: would pass: X is as the plan says, nothing is half done, Y carries no traffic and no other runner's configuration.")
		} else {
			fmt.Fprintln(w, "Guard: would refuse; apply stops at the guard until this is fixed:")
			for _, p := range g.Problems {
				fmt.Fprintf(w, "  - %s\n", p)
			}
		}
	}
	switch {
	case toRun == 0:
		fmt.Fprintln(w, "No changes: every step is done.")
	case needApproval > 0:
		verb := "needs"
		if needApproval > 1 {
			verb = "need"
		}
		fmt.Fprintf(w, "Plan: %s to run, %d %s approval.\n", plural(toRun, "step", "steps"), needApproval, verb)
	default:
		fmt.Fprintf(w, "Plan: %s to run.\n", plural(toRun, "step", "steps"))
	}
	fmt.Fprintln(w, wrap(fmt.Sprintf("Condition: %s/%s: ", pv.Condition.Type, pv.Condition.Reason), pv.Condition.Message, 4, outputWidth(w)))
	if r := pv.Run; r != nil && r.Started {
		who := "upshift apply"
		if r.Agent != "" {
			who = fmt.Sprintf("agent %q", r.Agent)
		}
		if r.Commit != "" {
			who += " from commit " + shortHash(r.Commit)
		}
		state := "in progress"
		switch {
		case r.Completed:
			state = "completed"
		case r.RolledBack:
			state = "rolled back"
		}
		fmt.Fprintf(w, "Run: %s, started by %s\n", state, who)
	}
	if pv.RunNote != "" {
		fmt.Fprintf(w, "Next run: %s.\n", pv.RunNote)
	}
}

func writeObserved(w io.Writer, o *engine.Observed) {
	// Causes wrap under the value column (2 + 14 + 1), never cut.
	width := outputWidth(w)
	fmt.Fprintln(w, "Observed:")
	node := func(label string, f *engine.NodeFacts) {
		if f == nil {
			return
		}
		if f.Name != "" {
			label += " " + f.Name
		}
		switch {
		case f.Rejected:
			fmt.Fprintln(w, wrap(fmt.Sprintf("  %-14s rejected the admin token: ", label), f.Error, 17, width))
		case !f.Reachable:
			fmt.Fprintln(w, wrap(fmt.Sprintf("  %-14s not reachable: ", label), f.Error, 17, width))
		case f.Ready:
			fmt.Fprintf(w, "  %-14s Kong %s, ready (%s)\n", label, f.Version, f.ReadySource)
		default:
			fmt.Fprintln(w, wrap(fmt.Sprintf("  %-14s Kong %s, not ready: ", label, f.Version), f.ReadyReason+f.ReadyError, 17, width))
		}
	}
	node("X", o.From)
	for i := range o.FromNodes {
		node("X", &o.FromNodes[i])
	}
	node("Y", o.To)
	for i := range o.ToNodes {
		node("Y", &o.ToNodes[i])
	}
	// hybrid_dp: the control plane Y's data planes join, as observed.
	node("control plane", o.ControlPlane)
	db := func(label string, d *engine.DatabaseFacts) {
		if d == nil {
			return
		}
		switch {
		case d.Error != "":
			fmt.Fprintln(w, wrap(fmt.Sprintf("  %-14s cannot be read: ", label), d.Error, 17, width))
			return
		case d.NeedsBootstrap:
			fmt.Fprintf(w, "  %-14s not bootstrapped (empty)\n", label)
		default:
			for _, m := range []*engine.MigrationFacts{d.ForFrom, d.ForTo} {
				if m == nil {
					continue
				}
				fmt.Fprintln(w, wrap(fmt.Sprintf("  %-14s for Kong %s: ", label, m.Version), fmt.Sprintf("%d executed, %d pending, %d new%s",
					count(m.Executed), count(m.Pending), count(m.New), list(m.New)), 17, width))
			}
		}
		for _, l := range d.Locks {
			state := "live"
			if l.Expired {
				state = "expired"
			}
			fmt.Fprintf(w, "  %-14s lock %q held by %s (%s, ttl %s)\n", label, l.Key, l.Owner, state, l.TTL.Format("15:04:05"))
		}
	}
	if o.SharedDatabase {
		db("shared db", o.FromDatabase)
	} else {
		db("X's db", o.FromDatabase)
	}
	db("Y's db", o.ToDatabase)
	if t := o.Traffic; t != nil {
		if t.Error != "" {
			fmt.Fprintln(w, wrap(fmt.Sprintf("  %-14s cannot be read: ", "traffic"), t.Error, 17, width))
		} else {
			fmt.Fprintf(w, "  %-14s X %d%% / Y %d%%\n", "traffic", t.From, t.To)
		}
	}
	for _, dp := range o.DataPlanes {
		// Whose list it is: several data planes often share a hostname
		// (one VM, containers), so each is named by its node ID.
		of := map[string]string{"from": "X's control plane", "to": "Y's control plane", "control_plane": "the control plane"}[dp.Source]
		if of == "" {
			of = dp.Source
		}
		if dp.Error != "" {
			fmt.Fprintln(w, wrap(fmt.Sprintf("  %-14s %s's list cannot be read: ", "data planes", of), dp.Error, 17, width))
			continue
		}
		if len(dp.Planes) == 0 {
			fmt.Fprintf(w, "  %-14s %s lists none\n", "data planes", of)
		}
		for _, p := range dp.Planes {
			where := p.Hostname
			if p.IP != "" && p.IP != p.Hostname {
				where += " (" + p.IP + ")"
			}
			fmt.Fprintf(w, "  %-14s %s on %s: Kong %s, %s (listed by %s)\n", "data plane", p.ID, where, p.Version, p.SyncStatus, of)
		}
	}
	if b := o.Backup; b != nil {
		switch {
		case b.Error != "":
			fmt.Fprintln(w, wrap(fmt.Sprintf("  %-14s cannot be read: ", "backup"), b.Error, 17, width))
		case !b.Present:
			fmt.Fprintf(w, "  %-14s none yet\n", "backup")
		case b.Usable:
			fmt.Fprintf(w, "  %-14s %s (%s of Kong %s), verified\n", "backup", b.Name, b.Kind, b.KongVersion)
		default:
			fmt.Fprintln(w, wrap(fmt.Sprintf("  %-14s %s (%s), not usable: ", "backup", b.Name, b.Kind), b.UnusableReason, 17, width))
		}
	}
	if f := o.Fingerprint; f != nil {
		if f.Error != "" {
			fmt.Fprintln(w, wrap(fmt.Sprintf("  %-14s cannot be read: ", "fingerprint"), f.Error, 17, width))
		} else {
			keys := make([]string, 0, len(f.Counts))
			for k := range f.Counts {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			var parts []string
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s=%d", k, f.Counts[k]))
			}
			if len(parts) == 0 {
				// The hash of nothing says less than the words.
				fmt.Fprintf(w, "  %-14s X's configuration is empty (no entities)\n", "fingerprint")
			} else {
				fmt.Fprintf(w, "  %-14s X %s (%s)\n", "fingerprint", shortHash(f.Hash), strings.Join(parts, " "))
			}
		}
	}
}

func count(m map[string][]string) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

// list is " (sub name,name; ...)" for a non-empty m.
func list(m map[string][]string) string {
	if len(m) == 0 {
		return ""
	}
	subs := make([]string, 0, len(m))
	for s := range m {
		subs = append(subs, s)
	}
	sort.Strings(subs)
	var parts []string
	for _, s := range subs {
		parts = append(parts, s+" "+strings.Join(m[s], ","))
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// shortHash is a hash's first 12 characters (commits, fingerprints).
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
