package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
)

const unlockUsage = `Usage: upshift unlock PATH [--plan NAME] --reason TEXT [--journal-dir DIR | --journal-env NAME] [--force] [--who NAME]

Breaks the per-plan lease that fences Upshift's irreversible steps, for a
holder that died without releasing it. The journal records who broke it and
why, and the old holder's later writes are refused (its fencing token is
stale). Nothing else changes: no step runs.

A lease that has expired is broken at once. A live lease may belong to a
process that is still working (an agent, or an apply in another terminal):
breaking it needs --force. (A lease whose holder was a process on this host
that no longer exists needs no unlock: the next apply takes it over.)

PATH is a plan file or a directory; --plan picks a plan when PATH holds
several. The journal is the one apply uses (docs/runs.md): the journal
block of the repository's upshift.hcl, else $XDG_STATE_HOME/upshift/journal
(~/.local/state/upshift/journal); --journal-dir DIR or --journal-env NAME (a
PostgreSQL DSN in that environment variable, never on the command line)
override it.

Exit codes: 0 lease broken (or it was already free; the event is recorded
anyway), 1 failure or a live lease without --force, 2 usage error.
`

var unlockCommand = &command{
	Name:     "unlock",
	Synopsis: "Break a plan's stale lease, recording who did it and why",
	Usage:    unlockUsage,
	Run: func(ctx context.Context, args []string, s *streams) int {
		fs := newFlagSet("unlock")
		name := fs.String("plan", "", "plan name")
		reason := fs.String("reason", "", "why the lease is broken")
		dir := fs.String("journal-dir", "", "journal directory")
		envName := fs.String("journal-env", "", "environment variable holding the journal's PostgreSQL DSN")
		force := fs.Bool("force", false, "break a lease that is still live")
		who := fs.String("who", defaultWho(), "who breaks the lease")
		pos, err := parseFlags(fs, args)
		switch {
		case err != nil:
		case len(pos) != 1:
			err = usageErrorf("takes one PATH")
		case *reason == "":
			err = usageErrorf("--reason TEXT is required: the journal keeps it")
		case *dir != "" && *envName != "":
			err = usageErrorf("give at most one of --journal-dir DIR and --journal-env NAME")
		case *who == "":
			err = usageErrorf("--who NAME is required when the user name cannot be found")
		}
		if err != nil {
			return handleParseError("unlock", unlockUsage, err, s)
		}
		p, err := loadOnePlan(pos[0], *name)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift unlock: %v\n", err)
			return exitFail
		}
		store, err := journalForPlan(ctx, pos[0], p.Name, *dir, *envName, true, s.Err, "unlock")
		if err != nil {
			fmt.Fprintf(s.Err, "upshift unlock: %v\n", err)
			return exitFail
		}
		defer store.Close()
		st, err := store.LeaseState(ctx, p.Name)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift unlock: read the lease of plan %q: %v\n", p.Name, err)
			return exitFail
		}
		if st.Live && !*force {
			fmt.Fprintf(s.Err, "upshift unlock: plan %q is leased by %s until %s (token %d): it may still be working; add --force to break it\n",
				p.Name, st.Holder, st.Expires.Format(time.RFC3339), st.Token)
			return exitFail
		}
		before, err := store.Break(ctx, p.Name, *who, *reason)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift unlock: break the lease of plan %q: %v\n", p.Name, err)
			return exitFail
		}
		switch {
		case before.Holder == "":
			fmt.Fprintf(s.Out, "plan %q had no lease; recorded that %s asked to unlock it: %s\n", p.Name, *who, *reason)
		case before.Live:
			fmt.Fprintf(s.Out, "plan %q: broke the live lease of %s (token %d), as %s: %s\n", p.Name, before.Holder, before.Token, *who, *reason)
		default:
			fmt.Fprintf(s.Out, "plan %q: broke the expired lease of %s (token %d), as %s: %s\n", p.Name, before.Holder, before.Token, *who, *reason)
		}
		return exitOK
	},
}

// openJournal opens the directory store, or the PostgreSQL store whose DSN
// is in the environment variable envName.
func openJournal(ctx context.Context, dir, envName string) (engine.Store, error) {
	if dir != "" {
		return engine.OpenDir(dir, engine.DirOptions{})
	}
	dsn, ok := os.LookupEnv(envName)
	if !ok || dsn == "" {
		return nil, fmt.Errorf("environment variable %s is not set", envName)
	}
	st, err := engine.OpenPostgres(ctx, dsn)
	if err != nil {
		// pgx's connection errors name host, user and database, never the password.
		return nil, fmt.Errorf("open the PostgreSQL journal named by %s: %w", envName, err)
	}
	return st, nil
}

// defaultWho is user@host, for the journal's record of an unlock.
func defaultWho() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	if name == "" {
		return ""
	}
	if host != "" {
		name += "@" + host
	}
	return name
}
