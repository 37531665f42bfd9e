package agent

import (
	"context"
	"embed"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
)

// Status is what /api/v1/status serves and `upshift status` prints.
type Status struct {
	Time     time.Time    `json:"time"`
	Agent    string       `json:"agent"`
	Role     string       `json:"role"` // leader | follower | single
	Leader   string       `json:"leader,omitempty"`
	Head     string       `json:"head_commit,omitempty"`
	Author   string       `json:"head_author,omitempty"`
	Signer   string       `json:"head_signer,omitempty"` // verified signer (--verify-signatures)
	LastPoll time.Time    `json:"last_poll,omitzero"`
	PollErr  string       `json:"poll_error,omitempty"`
	Rejected string       `json:"rejected_commit,omitempty"`
	Plans    []PlanStatus `json:"plans"`
}

// PlanStatus is one plan's line of the status.
type PlanStatus struct {
	Name      string            `json:"name"`
	Cluster   string            `json:"cluster,omitempty"`
	Strategy  string            `json:"strategy,omitempty"`
	File      string            `json:"file,omitempty"`
	Commit    string            `json:"commit,omitempty"`
	Author    string            `json:"author,omitempty"`
	Signer    string            `json:"signer,omitempty"`
	Condition engine.Condition  `json:"condition"`
	Running   bool              `json:"running"`
	Step      string            `json:"current_step,omitempty"`
	Direction string            `json:"direction,omitempty"`
	From      string            `json:"from_version,omitempty"`
	To        string            `json:"to_version,omitempty"`
	Traffic   *TrafficSplit     `json:"traffic,omitempty"`
	Steps     []engine.StepView `json:"steps,omitempty"`
	Gates     []JournalLine     `json:"gates,omitempty"`
	Journal   []JournalLine     `json:"journal,omitempty"`
}

// TrafficSplit is the observed split in percent.
type TrafficSplit struct {
	From int `json:"from"`
	To   int `json:"to"`
}

// JournalLine is one journal record, shortened for people.
type JournalLine struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	What   string    `json:"what"`
	Result string    `json:"result,omitempty"`
	Text   string    `json:"text,omitempty"`
	Commit string    `json:"commit,omitempty"`
}

// SetRole records whether this agent leads (HA) and who does.
func (a *Agent) SetRole(isLeader bool, leader string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.isLeader, a.leader, a.roleKnown = isLeader, leader, true
}

// Status returns the agent's view, with each plan's recent journal read
// from the store (so a follower shows what the leader did).
func (a *Agent) Status(ctx context.Context) Status {
	a.mu.Lock()
	s := Status{Time: a.cfg.Now().UTC(), Agent: a.cfg.Holder, Role: "single", Leader: a.leader,
		Head: a.head.Commit, Author: a.head.Author, Signer: a.signer, LastPoll: a.lastPoll, PollErr: a.pollErr, Rejected: a.rejected}
	if a.roleKnown {
		s.Role = "follower"
		if a.isLeader {
			s.Role = "leader"
		}
	}
	for _, st := range a.plans {
		ps := PlanStatus{Name: st.Name, Cluster: st.Cluster, Strategy: st.Strategy, File: st.File, Commit: st.Commit,
			Author: st.Author, Signer: st.Signer, Condition: st.Condition, Running: st.Running, Step: st.Step}
		if st.Running && ps.Condition.Type == "" {
			ps.Condition = engine.Condition{Type: engine.ConditionProgressing, Reason: engine.ReasonStepsPending, Message: "applying"}
		}
		if pv := st.Preview; pv != nil {
			ps.Direction, ps.From, ps.To, ps.Steps = pv.Direction, pv.From, pv.To, pv.Steps
			if t := pv.Observed.Traffic; t != nil && t.Error == "" {
				ps.Traffic = &TrafficSplit{From: t.From, To: t.To}
			}
		}
		s.Plans = append(s.Plans, ps)
	}
	a.mu.Unlock()
	// A follower (or an agent that has not polled yet) shows the plans the
	// shared journal knows, with their recent records.
	if names, err := a.cfg.Store.Plans(ctx); err == nil {
		seen := map[string]bool{}
		for _, p := range s.Plans {
			seen[p.Name] = true
		}
		for _, n := range names {
			if !seen[n] {
				s.Plans = append(s.Plans, PlanStatus{Name: n, Condition: journalCondition(ctx, a, n)})
			}
		}
	}
	sort.Slice(s.Plans, func(i, j int) bool { return s.Plans[i].Name < s.Plans[j].Name })
	for i := range s.Plans {
		s.Plans[i].Journal, s.Plans[i].Gates = a.journal(ctx, s.Plans[i].Name)
	}
	return s
}

// journalCondition describes a plan this agent does not drive from the
// journal alone.
func journalCondition(ctx context.Context, a *Agent, name string) engine.Condition {
	info, err := engine.ReadRun(ctx, a.cfg.Store, name)
	switch {
	case err != nil:
		return engine.Condition{Type: "Unknown", Reason: "JournalUnreadable", Message: err.Error()}
	case info.Completed:
		return engine.Condition{Type: engine.ConditionReady, Reason: engine.ReasonConverged, Message: "completed (from the journal)"}
	case info.RolledBack:
		return engine.Condition{Type: engine.ConditionReady, Reason: engine.ReasonRolledBack, Message: "rolled back (from the journal)"}
	case info.InProgress():
		return engine.Condition{Type: engine.ConditionProgressing, Reason: "InProgress", Message: "in progress (from the journal; the leader drives it)"}
	}
	return engine.Condition{Type: "Unknown", Reason: "NotStarted", Message: "no run in the journal"}
}

// journal reads a plan's last records and its gate results.
func (a *Agent) journal(ctx context.Context, name string) (lines, gates []JournalLine) {
	recs, err := a.cfg.Store.Records(ctx, name, 0)
	if err != nil {
		return nil, nil
	}
	for _, r := range recs {
		l := JournalLine{Seq: r.Seq, Time: r.Time, Kind: string(r.Kind), Result: string(r.Result), Commit: short(r.Commit)}
		switch r.Kind {
		case engine.KindEvent:
			l.What = r.Event
			l.Text = r.Details["reason"] + r.Details["message"]
		default:
			l.What, l.Text = r.Step, r.Error
			if l.Text == "" {
				l.Text = firstLine(r.Output)
			}
		}
		if r.Kind == engine.KindOutcome && (r.Step == "checks" || len(r.Step) > 6 && r.Step[:6] == "pause_") || r.Event == engine.EventGate {
			gates = append(gates, l)
		}
		lines = append(lines, l)
	}
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	if len(gates) > 10 {
		gates = gates[len(gates)-10:]
	}
	return lines, gates
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

//go:embed page/index.html
var page embed.FS

// Handler serves /healthz, /readyz, /metrics, /api/v1/status and the
// status page at /. The webhook is mounted by the caller.
func (a *Agent) Handler() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		ready, why := a.haveHead, "no successful poll yet"
		a.mu.Unlock()
		if !ready {
			http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		conds := map[string]int{}
		for _, st := range a.plans {
			conds[st.Condition.Type]++
		}
		leader := !a.roleKnown || a.isLeader
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		a.metrics.write(w, conds, leader)
	})
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(a.Status(r.Context()))
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		b, _ := page.ReadFile("page/index.html")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
		_, _ = w.Write(b)
	})
	return mux
}
