package main

import (
	"context"
	"fmt"
	"os"

	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/preflight"
)

const preflightUsage = `Usage: upshift preflight PATH [--plan NAME] [--format text|json|markdown] [--rehearse]

Reads the plan's clusters, changes nothing, and reports what the upgrade
will meet: the version X answers (from.version) and Y answers (to.version,
once Y runs) and the upgrade path between the observed versions; X's
schema_meta (leftover pending migrations, what Y's release will run) and
its locks table; the plugins in use on X against those Y bundles and
offers (plugins.available_on_server); the breaking-change rules (PF30-1...,
docs/preflight.md) of every hop on a decK dump of X and GET /'s
configuration, each finding with its entity, fix and source; and the
sizes that predict slow migrations (rows per plugin, pg_class.reltuples).
Severity depends on the mode where the rule says so: in DB mode Kong's 3.0
migration rewrites regex paths itself, in DB-less mode nothing does.
A plan's acknowledge = ["PF30-1"] turns that rule's findings into
acknowledged info where the rule allows it. The engine runs the same
report as its preflight step, right after guard (an error stops the plan
before anything changes), and Y's side again before its checks.

Flags:
  --plan NAME      the plan, when PATH holds several
  --format FORMAT  text (default; findings grouped by severity), json,
                   markdown (for a commit or pull-request comment)
  --rehearse       also rehearse the migrations: back X's database up to a
                   temporary archive, restore it into a scratch database on
                   backup.verify_dsn (required), run Y's kong migrations up
                   and finish (to.kong) there, timed, and report the
                   predicted in-place downtime (the migrations plus Y's
                   start, 10s by default) against max_downtime. It writes
                   only the scratch database, dropped afterwards. With
                   --format json the document is {"report": ...,
                   "rehearsal": ...}

Exit codes: 0 clean (no errors), 1 errors found or the plan cannot be
loaded (or the rehearsal failed, or an in_place plan's predicted downtime
exceeds max_downtime), 2 usage error. What cannot be read is an error
finding.
`

var preflightCommand = &command{
	Name:     "preflight",
	Synopsis: "Report what an upgrade will break, before anything changes (read-only)",
	Usage:    preflightUsage,
	Run: func(ctx context.Context, args []string, s *streams) int {
		fs := newFlagSet("preflight")
		name := fs.String("plan", "", "")
		format := fs.String("format", "text", "")
		rehearse := fs.Bool("rehearse", false, "")
		pos, err := parseFlags(fs, args)
		switch {
		case err != nil:
		case len(pos) != 1:
			err = usageErrorf("takes one PATH")
		case *format != "text" && *format != "json" && *format != "markdown":
			err = usageErrorf("--format: unknown format %q (want one of text, json, markdown)", *format)
		}
		if err != nil {
			return handleParseError("preflight", preflightUsage, err, s)
		}
		p, err := loadOnePlan(pos[0], *name)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift preflight: %v\n", err)
			return exitFail
		}
		if *rehearse {
			if err := rehearseUsable(p); err != nil {
				return handleParseError("preflight", preflightUsage, err, s)
			}
		}
		o, err := engine.PreflightOptions(p, os.LookupEnv)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift preflight: plan %q: %v\n", p.Name, err)
			return exitFail
		}
		outer := ctx // the rehearsal takes as long as the migrations
		ctx, cancel := context.WithTimeout(ctx, preflight.Timeout)
		defer cancel()
		r, err := preflight.Run(ctx, o)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift preflight: %v\n", err)
			return exitFail
		}
		if *rehearse {
			return writeRehearsal(outer, s, p, r, *format, o.X.DSN, o.Y.DSN, o.Y.Version)
		}
		switch *format {
		case "json":
			err = r.WriteJSON(s.Out)
		case "markdown":
			err = r.WriteMarkdown(s.Out)
		default:
			err = r.WriteText(s.Out)
		}
		if err != nil {
			fmt.Fprintf(s.Err, "upshift preflight: write report: %v\n", err)
			return exitFail
		}
		if !r.Clean {
			return exitFail
		}
		return exitOK
	},
}
