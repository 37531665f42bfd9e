package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/upshift-dev/upshift/internal/backup"
	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/preflight"
	"github.com/upshift-dev/upshift/plan"
)

// rehearseUsable: --rehearse needs a database strategy, backup.verify_dsn
// and to.kong (a usage error otherwise: nothing was tried).
func rehearseUsable(p *plan.Plan) error {
	switch {
	case p.Strategy.Value == "rolling":
		return usageErrorf("--rehearse: plan %q is rolling: its nodes have no database to rehearse migrations on", p.Name)
	case p.Backup == nil || !p.Backup.VerifyDSN.Given():
		return usageErrorf("--rehearse needs backup.verify_dsn in plan %q: a server where Upshift may create the scratch database it restores X's backup into", p.Name)
	case !p.To.Kong.Given():
		return usageErrorf("--rehearse needs to.kong in plan %q: Y's kong command, which runs the migrations", p.Name)
	}
	return nil
}

// rehearsalDoc is the rehearsal in --format json.
type rehearsalDoc struct {
	OK          bool   `json:"ok"`
	Error       string `json:"error,omitempty"`
	UpMS        int64  `json:"up_ms"`
	FinishMS    int64  `json:"finish_ms"`
	StartMS     int64  `json:"start_ms"`
	StartSource string `json:"start_source"` // measured or default
	PredictedMS int64  `json:"predicted_ms"`
	MaxDowntime string `json:"max_downtime,omitempty"`
	Exceeds     bool   `json:"exceeds_max_downtime"`
	Summary     string `json:"summary,omitempty"`
	TookMS      int64  `json:"took_ms"` // backup, test restore, migrations, drop
}

// writeRehearsal rehearses (rehearseStandalone) and writes the report with
// the rehearsal after it.
func writeRehearsal(ctx context.Context, s *streams, p *plan.Plan, r *preflight.Report, format, fromDSN, toDSN string, to kongrelease.Version) int {
	start := time.Now()
	res, err := rehearseStandalone(ctx, p, fromDSN, toDSN, to)
	doc := rehearsalDoc{OK: err == nil, UpMS: res.Up.Milliseconds(), FinishMS: res.Finish.Milliseconds(), StartMS: res.Start.Milliseconds(),
		StartSource: "default", PredictedMS: res.Predicted.Milliseconds(), TookMS: time.Since(start).Milliseconds()}
	if res.StartMeasured {
		doc.StartSource = "measured"
	}
	verdict := ""
	if err != nil {
		doc.Error = err.Error()
	} else {
		doc.Summary = res.Summary()
		if max, derr := p.MaxDowntime.Duration(); p.MaxDowntime.Set && derr == nil {
			doc.MaxDowntime, doc.Exceeds = p.MaxDowntime.Value, res.Predicted > max
			verdict = fmt.Sprintf("within max_downtime = %q", p.MaxDowntime.Value)
			if doc.Exceeds {
				verdict = fmt.Sprintf("EXCEEDS max_downtime = %q", p.MaxDowntime.Value)
				if p.Strategy.Value == "in_place" {
					verdict += ": the engine refuses this in_place plan (it stops right after the rehearsal)"
				}
			}
		}
	}
	var werr error
	switch format {
	case "json":
		var rb bytes.Buffer
		if werr = r.WriteJSON(&rb); werr == nil {
			enc := json.NewEncoder(s.Out)
			enc.SetIndent("", "  ")
			werr = enc.Encode(struct {
				Report    json.RawMessage `json:"report"`
				Rehearsal rehearsalDoc    `json:"rehearsal"`
			}{rb.Bytes(), doc})
		}
	case "markdown":
		if werr = r.WriteMarkdown(s.Out); werr == nil {
			fmt.Fprintf(s.Out, "\n## Rehearsal\n\n")
			if err != nil {
				fmt.Fprintf(s.Out, "**Failed:**\n\n```\n%s\n```\n", err)
			} else {
				fmt.Fprintf(s.Out, "%s.\n\n%s\n", res.Summary(), verdict)
			}
		}
	default:
		if werr = r.WriteText(s.Out); werr == nil {
			fmt.Fprintf(s.Out, "\nRehearsal (X's backup restored on backup.verify_dsn, Y's kong migrations up and finish, %s in all):\n", time.Since(start).Round(time.Millisecond))
			if err != nil {
				fmt.Fprintf(s.Out, "  FAILED: %s\n", err)
			} else {
				fmt.Fprintf(s.Out, "  %s\n", res.Summary())
				if verdict != "" {
					fmt.Fprintf(s.Out, "  %s\n", verdict)
				}
			}
		}
	}
	if werr != nil {
		fmt.Fprintf(s.Err, "upshift preflight: write report: %v\n", werr)
		return exitFail
	}
	if !r.Clean || err != nil || (doc.Exceeds && p.Strategy.Value == "in_place") {
		return exitFail
	}
	return exitOK
}

// rehearseStandalone backs X's database up into a temporary directory,
// restores it into a scratch database on backup.verify_dsn (checked
// against the backup as the engine's verification does), runs Y's
// migrations there (engine.Rehearse) and drops it. Y's start time is the
// default: nothing started Y.
func rehearseStandalone(ctx context.Context, p *plan.Plan, fromDSN, toDSN string, to kongrelease.Version) (engine.Rehearsal, error) {
	var res engine.Rehearsal
	d, err := engine.BackupDriver(p, os.LookupEnv)
	if err != nil {
		return res, fmt.Errorf("plan %q: %w", p.Name, err)
	}
	if d.Options.DSN == "" {
		return res, errors.New("X has no database (from.database) to back up and rehearse on")
	}
	dir, err := os.MkdirTemp("", "upshift-rehearse-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	d.Options.Dir, d.Keep = dir, 0
	m, err := backup.Backup(ctx, d.Options)
	if err != nil {
		return res, fmt.Errorf("back up X: %w", err)
	}
	err = d.Rehearse(ctx, m, func(ctx context.Context, dsn string) error {
		var err error
		res, err = engine.Rehearse(ctx, engine.RehearseOptions{Kong: p.To.Kong.Args, DSN: dsn, Real: []string{fromDSN, toDSN},
			To: to, LookupEnv: os.LookupEnv})
		return err
	})
	return res, err
}
