package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/internal/backup"
	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// DefaultYStart is the time Y takes to start that the rehearsal's
// prediction adds when this run has not measured Y's start (start_to's
// duration): in place and dual-cluster, the rehearsal runs before Y ever
// starts. Kong's own start (nginx, the router, the plugins iterator) takes
// seconds; a prediction that errs long only refuses earlier.
const DefaultYStart = 10 * time.Second

// Rehearsal is what a migrations rehearsal measured on a scratch restore
// of X's backup (docs/engine.md, "rehearse").
type Rehearsal struct {
	Database   string        // the scratch database it ran on
	Up, Finish time.Duration // kong migrations up, finish
	// Start is Y's start time the prediction adds: start_to's duration in
	// this run when StartMeasured, else DefaultYStart.
	Start         time.Duration
	StartMeasured bool
	Predicted     time.Duration // Up + Finish + Start: the in-place downtime to expect
	Output        string        // Kong's output of both commands
}

// Summary is the rehearsal's one line (a step's outcome, preflight's report).
func (r Rehearsal) Summary() string {
	src := "default"
	if r.StartMeasured {
		src = "measured"
	}
	start := fmt.Sprintf("Y's start %s, %s", r.Start, startSource(src))
	return fmt.Sprintf("rehearsed on a test restore (database %s): kong migrations up %s, finish %s; predicted in-place downtime %s (migrations + %s)",
		r.Database, r.Up, r.Finish, r.Predicted, start)
}

// details are the figures a step's outcome journals.
func (r Rehearsal) details() map[string]string {
	src := "default"
	if r.StartMeasured {
		src = "measured"
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	return map[string]string{"up_ms": ms(r.Up), "finish_ms": ms(r.Finish), "start_ms": ms(r.Start), "start_source": src,
		"predicted_ms": ms(r.Predicted), "database": r.Database}
}

// RehearseOptions is one rehearsal: Y's kong command run on a scratch
// database that must not be any of Real.
type RehearseOptions struct {
	Kong []string // to.kong
	DSN  string   // the scratch database (the test restore)
	// Real are X's and Y's databases: the rehearsal refuses a DSN that
	// names one of them (or that cannot be compared with one).
	Real      []string
	To        kongrelease.Version
	LookupEnv func(string) (string, bool) // PGPASSWORD; nil: none
	// Start is Y's start time measured in this run (0: not known,
	// DefaultYStart is used).
	Start time.Duration
}

// RehearsalError is a rehearsal that ran and failed: Kong's command
// failed, or schema_meta is not what Y's version expects afterwards. Its
// message carries Kong's own output.
type RehearsalError struct {
	Cmd    string // up, finish, or "schema_meta"
	Output string
	Err    error
}

func (e *RehearsalError) Error() string {
	msg := fmt.Sprintf("the rehearsal's kong migrations %s failed on the test restore: %v", e.Cmd, e.Err)
	if e.Cmd == "schema_meta" {
		msg = "after the rehearsal's kong migrations up and finish, " + e.Err.Error()
	}
	if out := strings.TrimSpace(e.Output); out != "" {
		msg += "\nKong's output:\n" + out
	}
	return msg
}

func (e *RehearsalError) Unwrap() error { return e.Err }

// RehearsalRefusedError: the rehearsal's database could be a real one
// (X's or Y's), or could not be compared with them. Nothing ran.
type RehearsalRefusedError struct{ Reason string }

func (e *RehearsalRefusedError) Error() string { return "rehearsal refused: " + e.Reason }

// Rehearse runs `kong migrations up` then `finish` with o.Kong on the
// scratch database o.DSN, times each, and checks that schema_meta then
// has nothing new or pending for o.To. It first makes sure o.DSN names
// none of o.Real's databases (positive evidence: a DSN it cannot read is
// refused). Safe to repeat on a fresh restore; on a database it already
// migrated it has nothing left to do.
func Rehearse(ctx context.Context, o RehearseOptions) (Rehearsal, error) {
	var r Rehearsal
	if len(o.Kong) == 0 {
		return r, &RehearsalRefusedError{Reason: "the plan has no to.kong command"}
	}
	db, err := kong.ParseDSN(o.DSN)
	if err != nil || db.Database == "" {
		return r, &RehearsalRefusedError{Reason: "the test restore's DSN cannot be read"}
	}
	for _, real := range o.Real {
		if real == "" {
			continue
		}
		rdb, err := kong.ParseDSN(real)
		if err != nil || rdb.Database == "" {
			return r, &RehearsalRefusedError{Reason: "a database of the plan (from.database or to.database) cannot be read from its DSN, so the test restore cannot be told apart from it"}
		}
		// The name alone: two spellings of one server (localhost,
		// 127.0.0.1) must not make X's database look like another.
		if rdb.Database == db.Database {
			return r, &RehearsalRefusedError{Reason: fmt.Sprintf("the test restore's database %q has the name of a database of the plan (X's or Y's): Upshift rehearses only on a scratch copy", db.Database)}
		}
	}
	if db.Password == "" && o.LookupEnv != nil {
		db.Password, _ = o.LookupEnv("PGPASSWORD")
	}
	r.Database = db.Database
	var outs []string
	for _, cmd := range []string{"up", "finish"} {
		res, err := (&kong.Command{Argv: o.Kong, DB: db}).Run(ctx, "migrations", cmd)
		out := strings.TrimSpace(res.Stdout + "\n" + res.Stderr)
		outs = append(outs, out)
		if err != nil {
			if ctx.Err() != nil {
				return r, fmt.Errorf("rehearse kong migrations %s: %w", cmd, context.Cause(ctx))
			}
			return r, &RehearsalError{Cmd: cmd, Output: out, Err: err}
		}
		if cmd == "up" {
			r.Up = res.Duration.Round(time.Millisecond)
		} else {
			r.Finish = res.Duration.Round(time.Millisecond)
		}
	}
	r.Output = strings.TrimSpace(strings.Join(outs, "\n"))
	st, err := kong.ReadSchema(ctx, o.DSN)
	if err != nil {
		return r, fmt.Errorf("rehearse: read schema_meta of the test restore: %w", err)
	}
	sum := st.Summarize(o.To)
	switch {
	case sum.NeedsBootstrap:
		return r, &RehearsalError{Cmd: "schema_meta", Output: r.Output, Err: errors.New("the database needs bootstrap")}
	case len(sum.New) > 0:
		return r, &RehearsalError{Cmd: "schema_meta", Output: r.Output, Err: fmt.Errorf("schema_meta still has new migrations for %s: %s", o.To, migList(sum.New))}
	case len(sum.Pending) > 0:
		return r, &RehearsalError{Cmd: "schema_meta", Output: r.Output, Err: fmt.Errorf("schema_meta still has pending migrations for %s: %s", o.To, migList(sum.Pending))}
	}
	r.Start, r.StartMeasured = o.Start, o.Start > 0
	if !r.StartMeasured {
		r.Start = DefaultYStart
	}
	r.Predicted = r.Up + r.Finish + r.Start
	return r, nil
}

func startSource(src string) string {
	if src == "measured" {
		return "measured in this run"
	}
	return "the default: Y has not started in this run"
}

// rehearser is a Backups that can run a rehearsal on a test restore
// (*backup.Driver).
type rehearser interface {
	Rehearse(ctx context.Context, m *backup.Manifest, then func(ctx context.Context, scratchDSN string) error) error
}

// rehearseWanted: rehearse = true on a strategy with a database.
func (e *Engine) rehearseWanted() bool {
	return e.plan.Rehearse.Value && e.plan.Strategy.Value != "rolling"
}

// overMaxDowntime says why a rehearsed in-place plan must not go on: the
// predicted downtime exceeds max_downtime ("" when it does not, or the
// plan is not in place or sets no max_downtime).
func (e *Engine) overMaxDowntime(predictedMS string) string {
	p := e.plan
	if p.Strategy.Value != "in_place" || !p.MaxDowntime.Set {
		return ""
	}
	max, err := p.MaxDowntime.Duration()
	if err != nil {
		return "max_downtime cannot be read (" + err.Error() + ")"
	}
	ms, err := strconv.ParseInt(predictedMS, 10, 64)
	if err != nil {
		return "the rehearsal's predicted downtime cannot be read from the journal"
	}
	if d := time.Duration(ms) * time.Millisecond; d > max {
		return fmt.Sprintf("the predicted in-place downtime %s exceeds max_downtime = %q", d, p.MaxDowntime.Value)
	}
	return ""
}

func (e *Engine) stepRehearse() step {
	rehearsed := func(s *state) (Record, bool) {
		r, ok := s.h.ok["rehearse"]
		return r, ok && r.Details["backup"] != "" && r.Details["backup"] == s.h.detail("backup", "backup")
	}
	return step{
		name: "rehearse", title: "rehearse Y's migrations on a test restore of the backup (backup.verify_dsn) and predict the in-place downtime",
		doubt: func(s *state) *unsure {
			if r, ok := rehearsed(s); ok {
				if why := e.overMaxDowntime(r.Details["predicted_ms"]); why != "" {
					d := r.Details
					return &unsure{reason: ReasonPreconditionFail, msg: fmt.Sprintf("%s (rehearsed on backup %s: kong migrations up %sms + finish %sms + Y's start %sms, %s): X is untouched. "+
						"Raise max_downtime if that downtime is acceptable, or use dual_cluster (no downtime)", why, d["backup"], d["up_ms"], d["finish_ms"], d["start_ms"], startSource(d["start_source"]))}
				}
				return nil
			}
			// A rehearsal that failed on Kong's side is not repeated on
			// every poll: only a changed plan (to.kong fixed) or a new
			// backup tries again.
			if f, ok := s.h.failures["rehearse"]; ok && f.Details["rehearsal_failed"] != "" &&
				f.Details["backup"] == s.h.detail("backup", "backup") && f.Details["digest"] == e.digest {
				return &unsure{reason: ReasonPreconditionFail, msg: f.Error + "\n(not repeated until the plan changes: fix Y's kong command or what Kong names, or roll back)"}
			}
			return nil
		},
		done: func(s *state) (bool, string) {
			if r, ok := rehearsed(s); ok {
				return true, firstLine(r.Output)
			}
			return false, ""
		},
		apply: func(ctx context.Context, r *run) (string, map[string]string, error) {
			rh, ok := e.drv.Backups.(rehearser)
			if !ok || e.plan.Backup == nil || !e.plan.Backup.VerifyDSN.Given() {
				return "", nil, &haltError{reason: ReasonPreconditionFail, msg: "rehearse = true needs backup.verify_dsn (a server where Upshift may create a scratch database)"}
			}
			name := r.state.h.detail("backup", "backup")
			m, err := e.drv.Backups.Latest(ctx)
			if err != nil || m == nil {
				return "", nil, fmt.Errorf("find the backup to rehearse on: %v", err)
			}
			if m.Name != name {
				return "", nil, fmt.Errorf("the newest backup is %s, not this run's %s", m.Name, name)
			}
			if m.Kind != backup.KindPGDump {
				return "", nil, &haltError{reason: ReasonPreconditionFail, msg: "the rehearsal needs a database backup (pg_dump), not " + string(m.Kind)}
			}
			var start time.Duration
			if st, ok := r.state.h.ok["start_to"]; ok {
				start = st.Duration
			}
			var res Rehearsal
			err = rh.Rehearse(ctx, m, func(ctx context.Context, dsn string) error {
				var err error
				res, err = Rehearse(ctx, RehearseOptions{Kong: e.drv.Kong, DSN: dsn, Real: []string{e.drv.FromDSN, e.drv.ToDSN},
					To: r.state.to, LookupEnv: e.cfg.LookupEnv, Start: start})
				return err
			})
			var failed *RehearsalError
			var refused *RehearsalRefusedError
			switch {
			case errors.As(err, &failed):
				return failed.Output, map[string]string{"backup": name, "digest": e.digest, "rehearsal_failed": failed.Cmd},
					&haltError{reason: ReasonPreconditionFail, msg: failed.Error()}
			case errors.As(err, &refused):
				return "", nil, &haltError{reason: ReasonPreconditionFail, msg: refused.Error()}
			case err != nil:
				return "", nil, fmt.Errorf("rehearse on backup %s: %w", name, err)
			}
			d := res.details()
			d["backup"] = name
			out := res.Summary()
			if max, err := e.plan.MaxDowntime.Duration(); e.plan.Strategy.Value == "in_place" && e.plan.MaxDowntime.Set && err == nil {
				verdict := "within"
				if res.Predicted > max {
					verdict = "EXCEEDS"
				}
				out += fmt.Sprintf("; %s max_downtime = %q", verdict, e.plan.MaxDowntime.Value)
			}
			return out + "\n" + res.Output, d, nil
		},
	}
}
