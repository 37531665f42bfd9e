package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/upshift-dev/upshift/internal/backup"
	"github.com/upshift-dev/upshift/internal/kong"
)

const restoreUsage = `Usage: upshift restore PATH [--plan NAME] --from MANIFEST --target-env NAME [--target-token-env NAME]
                       [--log-format text|json] [--log-level LEVEL]

Restores a verified backup (MANIFEST, a backup's .json file). The target is
read from the environment variable NAME, never from the command line:

  database-level backup   NAME holds the DSN of the database to restore into.
                          The mode follows from the target: a new or empty
                          database is restored into; one that already holds
                          exactly this backup is left alone; one Upshift
                          created is dropped and recreated; any other database
                          is replaced only when the plan says
                          rollback { restore = true }, and refused otherwise.
                          Stop the Kong nodes that use it first.
  declarative backup      NAME holds the Admin API URL of a DB-less node; the
                          backup is loaded with POST /config. A node that
                          serves the same configuration is left alone, one
                          without entities is loaded, one serving another
                          configuration is replaced only when the plan says
                          rollback { restore = true }, and refused otherwise.
                          The node's configuration is then read back: the
                          restore succeeded only if it serves the backup's
                          fingerprint. --target-token-env names a variable
                          holding its Kong-Admin-Token, when it needs one.

Logs (log/slog, --log-format text or json, --log-level debug, info, warn
(default) or error) go to stderr; secrets never appear in them.

Exit codes: 0 restored (or nothing to do), 1 failure or refusal, 2 usage error.
`

var restoreCommand = &command{
	Name:     "restore",
	Synopsis: "Restore a verified backup into a database or a DB-less node",
	Usage:    restoreUsage,
	Run: func(ctx context.Context, args []string, s *streams) int {
		fs := newFlagSet("restore")
		name := fs.String("plan", "", "plan name")
		from := fs.String("from", "", "manifest")
		targetEnv := fs.String("target-env", "", "environment variable holding the target (a DSN, or a DB-less node's Admin API URL)")
		tokenEnv := fs.String("target-token-env", "", "environment variable holding the target node's Kong-Admin-Token (declarative backups)")
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
			err = usageErrorf("--target-env NAME is required (the target is read from that environment variable)")
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
		target, ok := os.LookupEnv(*targetEnv)
		if !ok || target == "" {
			fmt.Fprintf(s.Err, "upshift restore: environment variable %s is not set\n", *targetEnv)
			return exitFail
		}
		m, err := backup.LoadManifest(*from)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift restore: %v\n", err)
			return exitFail
		}
		if *tokenEnv != "" && m.Kind != backup.KindDeclarative {
			return handleParseError("restore", restoreUsage, usageErrorf("--target-token-env is for a declarative backup's target node; %s is a %s backup", *from, m.Kind), s)
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
		// The target (a DSN or an Admin URL) may hold a secret: only the variable's name is logged.
		log.Debug("restoring", "plan", p.Name, "manifest", m.Name, "kind", m.Kind, "target_env", *targetEnv, "allow_replace", allow)
		var res backup.RestoreResult
		into := ""
		if m.Kind == backup.KindDeclarative {
			var token string
			if *tokenEnv != "" {
				if token, ok = os.LookupEnv(*tokenEnv); !ok {
					fmt.Fprintf(s.Err, "upshift restore: environment variable %s is not set\n", *tokenEnv)
					return exitFail
				}
			}
			c, cerr := kong.New(kong.Options{AdminURL: target, Token: token})
			if cerr != nil {
				fmt.Fprintf(s.Err, "upshift restore: the Admin API URL in %s: %v\n", *targetEnv, cerr)
				return exitFail
			}
			res, err = backup.RestoreDeclarative(ctx, backup.DeclarativeRestoreOptions{Manifest: m, Target: c, AllowReplace: allow})
			into = "node " + res.Node
		} else {
			res, err = backup.Restore(ctx, backup.RestoreOptions{Manifest: m, TargetDSN: target, AllowReplace: allow})
			into = res.Database
		}
		if err != nil {
			var r *backup.RefusedError
			if errors.As(err, &r) {
				fmt.Fprintf(s.Err, "upshift restore: %s\n", r.Reason)
				return exitFail
			}
			fmt.Fprintf(s.Err, "upshift restore: %v\n", err)
			return exitFail
		}
		log.Info("restored", "plan", p.Name, "manifest", m.Name, "into", into, "action", res.Action)
		fmt.Fprintf(s.Out, "restore %s into %s: %s\n", m.Name, into, res.Action)
		return exitOK
	},
}
