package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/upshift-dev/upshift/internal/backup"
	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
)

const backupUsage = `Usage: upshift backup PATH [--plan NAME] [--log-format text|json] [--log-level LEVEL]

Backs up the plan's current cluster (from) into backup.dir, writes a manifest
next to it, verifies the backup, and keeps the newest backup.keep backups.

  DB mode    pg_dump -Fc of X's database plus a decK dump through its Admin
             API; verified by a test restore into a scratch database on
             backup.verify_dsn (without verify_dsn it is not verified).
  DB-less    X's GET /config export; verified by decK's file validation, its
             entity counts, and its fingerprint equal to X's configuration as
             read again after the backup.

Passwords come from the plan's env() values, never from argv.

PATH is a plan file or a directory; --plan picks a plan when PATH holds
several.

Logs (log/slog, --log-format text or json, --log-level debug, info, warn
(default) or error) go to stderr; secrets never appear in them.

Exit codes: 0 backup taken and verified, 1 not taken, not verified, or
verification failed (the message and the manifest say why), 2 usage error.
`

var backupCommand = &command{
	Name:     "backup",
	Synopsis: "Back up a plan's current cluster and verify the backup",
	Usage:    backupUsage,
	Run: func(ctx context.Context, args []string, s *streams) int {
		fs := newFlagSet("backup")
		name := fs.String("plan", "", "plan name")
		lf := addLogFlags(fs, "warn")
		pos, err := parseFlags(fs, args)
		var log *slog.Logger
		switch {
		case err != nil:
		case len(pos) != 1:
			err = usageErrorf("takes one PATH")
		default:
			log, err = lf.logger(s.Err)
		}
		if err != nil {
			return handleParseError("backup", backupUsage, err, s)
		}
		p, err := loadOnePlan(pos[0], *name)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift backup: %v\n", err)
			return exitFail
		}
		d, err := engine.BackupDriver(p, os.LookupEnv)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift backup: plan %q: %v\n", p.Name, err)
			return exitFail
		}
		d.Options.Logger = log
		log.Debug("backing up", "plan", p.Name, "dir", d.Options.Dir, "verify", d.VerifyDSN != "", "keep", d.Keep)
		m, err := d.Backup(ctx)
		if m != nil {
			fmt.Fprintf(s.Out, "backup %s (%s): %s, %d bytes, sha256 %s\n", m.Name, m.Kind, m.Path(), m.Size, m.SHA256)
			fmt.Fprintf(s.Out, "fingerprint %s over %d entities\n", m.Fingerprint.Hash, m.Fingerprint.Entities())
		}
		if err != nil {
			fmt.Fprintf(s.Err, "upshift backup: %v\n", err)
			return exitFail
		}
		if m.Verification == nil && m.Kind == backup.KindPGDump && d.VerifyDSN == "" {
			fmt.Fprintf(s.Err, "upshift backup: %s taken but not verified: the plan has no backup.verify_dsn (a server where Upshift may create a scratch database for the test restore)\n", m.Name)
			return exitFail
		}
		if err := m.Usable(); err != nil {
			fmt.Fprintf(s.Err, "upshift backup: %v\n", err)
			return exitFail
		}
		log.Info("backup verified", "plan", p.Name, "name", m.Name, "reason", m.Verification.Reason)
		fmt.Fprintf(s.Out, "verified: %s\n", m.Verification.Reason)
		return exitOK
	},
}

// loadOnePlan loads PATH and picks the plan named name, or the only plan.
func loadOnePlan(path, name string) (*plan.Plan, error) {
	set, diags := plan.NewParser().LoadPaths(path)
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s: the plan does not load (run 'upshift lint'): %s", path, diags.Error())
	}
	// A command that acts on a cluster refuses a plan with lint errors, as
	// apply will: the rules guard the same safety properties.
	if lint := schema.Lint(set, schema.Options{}); lint.HasErrors() {
		n := 0
		for _, d := range lint {
			if schema.SeverityOf(d) == schema.SeverityError {
				n++
			}
		}
		return nil, fmt.Errorf("%s: %d lint errors (run 'upshift lint %s')", path, n, path)
	}
	if name != "" {
		if p := set.Lookup(name); p != nil {
			return p, nil
		}
		return nil, fmt.Errorf("%s: no plan named %q", path, name)
	}
	if len(set.Plans) == 0 {
		return nil, fmt.Errorf("%s holds no plan", path)
	}
	if len(set.Plans) != 1 {
		return nil, fmt.Errorf("%s holds %d plans: pick one with --plan NAME", path, len(set.Plans))
	}
	return set.Plans[0], nil
}
