package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/upshift-dev/upshift/agent"
)

const statusUsage = `Usage: upshift status --agent URL [--format table|json] [--plan NAME]

Shows what a running agent reports (its /api/v1/status): the head commit it
acts on, whether it leads, and each plan's condition, current step, traffic
split (as the load balancer routes it now) and recent gate results.

  --agent URL     the agent's HTTP address, e.g. http://upshift.internal:8080
  --format        table (default) or json (the API's document, unchanged)
  --plan NAME     only this plan, with X and Y as observed, its steps, the
                  current run's journal from its start and the analyses'
                  measurements

Exit codes: 0 success, 1 the agent cannot be reached or answered an error,
2 usage error.
`

var statusCommand = &command{
	Name:     "status",
	Synopsis: "Show a running agent's plans, steps and gates",
	Usage:    statusUsage,
	Run: func(ctx context.Context, args []string, s *streams) int {
		fs := newFlagSet("status")
		agentURL := fs.String("agent", "", "agent URL")
		format := fs.String("format", "table", "table or json")
		only := fs.String("plan", "", "plan name")
		pos, err := parseFlags(fs, args)
		switch {
		case err != nil:
		case len(pos) != 0:
			err = usageErrorf("takes no arguments")
		case *agentURL == "":
			err = usageErrorf("--agent URL is required")
		case *format != "table" && *format != "json":
			err = usageErrorf("--format must be table or json")
		}
		if err != nil {
			return handleParseError("status", statusUsage, err, s)
		}
		st, raw, err := fetchStatus(ctx, *agentURL)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift status: %v\n", err)
			return exitFail
		}
		if *only != "" {
			var keep []agent.PlanStatus
			for _, p := range st.Plans {
				if p.Name == *only {
					keep = append(keep, p)
				}
			}
			if len(keep) == 0 {
				fmt.Fprintf(s.Err, "upshift status: the agent has no plan %q\n", *only)
				return exitFail
			}
			st.Plans = keep
		}
		if *format == "json" {
			if *only == "" {
				_, _ = s.Out.Write(raw)
				return exitOK
			}
			enc := json.NewEncoder(s.Out)
			enc.SetIndent("", "  ")
			_ = enc.Encode(st)
			return exitOK
		}
		writeStatusTable(s.Out, st, *only != "")
		return exitOK
	},
}

func fetchStatus(ctx context.Context, base string) (agent.Status, []byte, error) {
	var st agent.Status
	u, err := url.JoinPath(base, "/api/v1/status")
	if err != nil {
		return st, nil, fmt.Errorf("--agent %q: %w", base, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return st, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, nil, fmt.Errorf("reach the agent: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return st, nil, fmt.Errorf("read the agent's status: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return st, nil, fmt.Errorf("the agent answered %s: %s", resp.Status, strings.TrimSpace(string(raw)))
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, nil, fmt.Errorf("the agent's status is not JSON: %w", err)
	}
	return st, raw, nil
}

// tableMessage is the longest condition message the table's MESSAGE
// column holds; a longer one is printed whole under the table.
const tableMessage = 80

func writeStatusTable(w io.Writer, st agent.Status, detail bool) {
	head := shortHash(st.Head)
	// Agents' IDs start with "agent " (their lease holder name).
	fmt.Fprintf(w, "Agent %s (%s", strings.TrimPrefix(st.Agent, "agent "), st.Role)
	if st.Leader != "" {
		fmt.Fprintf(w, ", leader %s", st.Leader)
	}
	fmt.Fprintf(w, "), head %s", orNone(head))
	if st.Author != "" {
		fmt.Fprintf(w, " by %s", st.Author)
	}
	if st.Signer != "" {
		fmt.Fprintf(w, ", signed by %s", st.Signer)
	}
	fmt.Fprintln(w)
	if st.PollErr != "" {
		fmt.Fprintf(w, "Last poll failed: %s\n", st.PollErr)
	}
	if st.Rejected != "" {
		fmt.Fprintf(w, "Ignored commit: %s\n", st.Rejected)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLAN\tSTRATEGY\tVERSIONS\tOBSERVED X / Y\tCONDITION\tSTEP\tTRAFFIC X/Y\tMESSAGE")
	for _, p := range st.Plans {
		versions := ""
		if p.From != "" {
			versions = p.From + " → " + p.To
		}
		traffic := "-"
		if p.Traffic != nil {
			traffic = fmt.Sprintf("%d/%d", p.Traffic.From, p.Traffic.To)
		}
		step := p.Step
		if step == "" {
			step = "-"
		}
		observed := "-"
		if p.X != nil || p.Y != nil {
			observed = sideText(p.X) + " / " + sideText(p.Y)
		}
		msg := oneLine(p.Condition.Message)
		if utf8.RuneCountInString(msg) > tableMessage {
			// Shown whole, wrapped, under the table: the cause is
			// often at the end (which approve item, how to give it).
			msg = "(below)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s/%s\t%s\t%s\t%s\n", p.Name, orNone(p.Strategy), orNone(versions), observed,
			p.Condition.Type, p.Condition.Reason, step, traffic, msg)
	}
	_ = tw.Flush()
	// Nothing is cut: every section below wraps.
	width := outputWidth(w)
	for _, p := range st.Plans {
		if len(p.Gates) > 0 {
			fmt.Fprintf(w, "\nGates of %s:\n", p.Name)
			for _, g := range p.Gates {
				fmt.Fprintln(w, wrap(fmt.Sprintf("  %s %s ", g.What, g.Result), g.Text, 4, width))
			}
		}
		if p.Condition.Message != "" && (detail || utf8.RuneCountInString(oneLine(p.Condition.Message)) > tableMessage) {
			fmt.Fprintf(w, "\n%s\n", wrap(fmt.Sprintf("Condition of %s: %s/%s: ", p.Name, p.Condition.Type, p.Condition.Reason), p.Condition.Message, 2, width))
		}
		if !detail {
			continue
		}
		if p.RunNote != "" {
			fmt.Fprintf(w, "\n%s\n", wrap("Next run: ", p.RunNote+".", 2, width))
		}
		if p.X != nil || p.Y != nil {
			var ob strings.Builder
			fmt.Fprintf(&ob, "Observed %s:", clock(p.ObservedAt))
			for _, sd := range []struct {
				name string
				s    *agent.SideStatus
			}{{"X", p.X}, {"Y", p.Y}} {
				if sd.s != nil {
					fmt.Fprintf(&ob, " %s %s %s", sd.name, orNone(sd.s.Version), sd.s.Health)
					if sd.s.Detail != "" {
						fmt.Fprintf(&ob, " (%s)", oneLine(sd.s.Detail))
					}
					ob.WriteString(";")
				}
			}
			if p.Traffic != nil {
				fmt.Fprintf(&ob, " traffic X %d%% / Y %d%%", p.Traffic.From, p.Traffic.To)
			} else if p.TrafficError != "" {
				fmt.Fprintf(&ob, " traffic unreadable: %s", p.TrafficError)
			}
			fmt.Fprintf(w, "\n%s\n", wrap("", ob.String(), 2, width))
		}
		if len(p.Steps) > 0 {
			fmt.Fprintf(w, "\nSteps of %s:\n", p.Name)
			for _, s := range p.Steps {
				mark := " "
				if s.NoReturn {
					mark = "!" // a point of no return
				}
				at := ""
				if !s.At.IsZero() {
					at = clock(s.At) + " " + s.Result + " "
				}
				fmt.Fprintln(w, wrap(fmt.Sprintf("  %-8s %s %s  %s", s.State, mark, s.Name, at), s.Reason, 13, width))
			}
		}
		if len(p.Journal) > 0 {
			fmt.Fprintf(w, "\nJournal of %s", p.Name)
			if r := p.Run; r != nil {
				fmt.Fprintf(w, ", run %d started %s by %s", max(r.Run, 1), r.StartedAt.UTC().Format(time.RFC3339), r.Starter)
			}
			fmt.Fprintln(w, ":")
			if p.JournalOmitted > 0 {
				fmt.Fprintf(w, "  (%d earlier records of this plan omitted: earlier runs, or this run's oldest)\n", p.JournalOmitted)
			}
			for _, j := range p.Journal {
				head := strings.TrimRight(fmt.Sprintf("  %4d %s %-7s %s %s", j.Seq, clock(j.Time), j.Kind, j.What, j.Result), " ") + " "
				fmt.Fprintln(w, strings.TrimRight(wrap(head, j.Text, 8, width), " "))
			}
		}
		if len(p.TrafficHistory) > 0 {
			fmt.Fprintf(w, "\nTraffic of %s (X/Y):", p.Name)
			for i, sp := range p.TrafficHistory {
				if i > 0 {
					fmt.Fprint(w, " →")
				}
				by := sp.Step
				if by == "" {
					by = sp.Source
				}
				fmt.Fprintf(w, " %s %d/%d (%s)", clock(sp.Time), sp.From, sp.To, by)
			}
			fmt.Fprintln(w)
		}
		if len(p.Measurements) > 0 {
			fmt.Fprintf(w, "\nMeasurements of %s (%d; error rate and p99 of X and Y):\n", p.Name, len(p.Measurements))
			for _, m := range p.Measurements {
				d := m.Details
				fmt.Fprintf(w, "  %s %s %s %s %s  X %s %sms  Y %s %sms\n", clock(m.Time), m.Step, m.Analysis, m.Result, orNone(m.Value),
					orNone(d["x_error_rate"]), orNone(d["x_p99_ms"]), orNone(d["y_error_rate"]), orNone(d["y_p99_ms"]))
			}
		}
	}
}

// sideText is a side's observed version and health: "3.9.1 ready".
func sideText(s *agent.SideStatus) string {
	if s == nil {
		return "-"
	}
	return orNone(s.Version) + " " + s.Health
}

// clock is a record's time of day in UTC (the date is the run's).
func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("15:04:05")
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine is s on one line, runs of white space collapsed.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
