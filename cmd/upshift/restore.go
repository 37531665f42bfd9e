package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/upshift-dev/upshift/internal/backup"
)

const restoreUsage = `Usage: upshift restore PATH [--plan NAME] --from MANIFEST --target-env NAME
                       [--log-format text|json] [--log-level LEVEL]

Restores a database-level backup (MANIFEST, a backup's .json file) into the
database whose DSN is in the environment variable NAME (never on the command
line). The mode follows from the target: a new or empty database is
restored into; one that already holds exactly this backup is left alone; one
Upshift created is dropped and recreated; any other database is replaced only
when the plan says rollback { restore = true }, and refused otherwise.

Stop the Kong nodes that use the target database first.

Logs (log/slog, --log-format text or json, --log-level debug, info, warn
(default) or error) go to stderr; secrets never appear in them.

Exit codes: 0 restored (or nothing to do), 1 failure or refusal, 2 usage error.
`

var restoreCommand = &command{
	Name:     "restore",
	Synopsis: "Restore a verified database backup into a database",
	Usage:    restoreUsage,
	Run: func(ctx context.Context, args []string, s *streams) int {
		fs := newFlagSet("restore")
		name := fs.String("plan", "", "plan name")
		from := fs.String("from", "", "manifest")
		targetEnv := fs.String("target-env", "", "environment variable holding the target DSN")
		lf := addLogFlags(fs, "warn")
		pos, err := parseFlags(fs, args)
		var log *slog.Logger
		switch {
		case err != nil:
		case len(pos) != 1:
			err = usageErrorf("takes one PATH")
		case *from == "":
			err = usageErrorf("--from MANIFEST is required")
		case *targetEnv == "":
			err = usageErrorf("--target-env NAME is required (the DSN is read from that environment variable)")
		default:
			log, err = lf.logger(s.Err)
		}
		if err != nil {
			return handleParseError("restore", restoreUsage, err, s)
		}
		p, err := loadOnePlan(pos[0], *name)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift restore: %v\n", err)
			return exitFail
		}
		dsn, ok := os.LookupEnv(*targetEnv)
		if !ok || dsn == "" {
			fmt.Fprintf(s.Err, "upshift restore: environment variable %s is not set\n", *targetEnv)
			return exitFail
		}
		m, err := backup.LoadManifest(*from)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift restore: %v\n", err)
			return exitFail
		}
		if m.Plan != p.Name {
			fmt.Fprintf(s.Err, "upshift restore: %s is a backup of plan %q, not %q\n", *from, m.Plan, p.Name)
			return exitFail
		}
		if err := m.Usable(); err != nil {
			fmt.Fprintf(s.Err, "upshift restore: %v\n", err)
			return exitFail
		}
		allow := p.Rollback != nil && p.Rollback.Restore.Value
		// The DSN is a secret: only the variable's name is logged.
		log.Debug("restoring", "plan", p.Name, "manifest", m.Name, "kind", m.Kind, "target_env", *targetEnv, "allow_replace", allow)
		res, err := backup.Restore(ctx, backup.RestoreOptions{Manifest: m, TargetDSN: dsn, AllowReplace: allow})
		if err != nil {
			var r *backup.RefusedError
			if errors.As(err, &r) {
				fmt.Fprintf(s.Err, "upshift restore: %s\n", r.Reason)
				return exitFail
			}
			fmt.Fprintf(s.Err, "upshift restore: %v\n", err)
			return exitFail
		}
		log.Info("restored", "plan", p.Name, "manifest", m.Name, "database", res.Database, "action", res.Action)
		fmt.Fprintf(s.Out, "restore %s into %s: %s\n", m.Name, res.Database, res.Action)
		return exitOK
	},
}
