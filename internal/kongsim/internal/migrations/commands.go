package migrations

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// This file follows K: kong/cmd/migrations.lua (list), kong/cmd/utils/
// migrations.lua (bootstrap, up, finish, reset) and kong/db/init.lua
// (cluster_mutex, run_migrations) step by step.

// list prints the state and returns exit 3 (needs bootstrap), 4 (pending),
// 5 (new only) or nil (0).
func (r *Runner) list(st State) error {
	if st.NeedsBootstrap {
		r.log.info("%s", needsBootstrapMsg)
		return exitError{3}
	}
	c := st.Classification
	sep := ""
	if ex := c.Filter(kongrelease.StateExecuted); len(ex) > 0 {
		r.log.info("Executed migrations:\n%s", formatList(ex))
		sep = "\n"
	}
	pending := c.Filter(kongrelease.StatePending)
	newer := c.Filter(kongrelease.StateNew)
	if len(pending) > 0 {
		r.log.info("%sPending migrations:\n%s", sep, formatList(pending))
		sep = "\n"
	}
	if len(newer) > 0 {
		r.log.info("%sNew migrations available:\n%s", sep, formatList(newer))
		sep = "\n"
	}
	switch {
	case len(pending) > 0 && len(newer) > 0:
		if sep != "" {
			r.log.info("")
		}
		r.log.log(lvlWarn, "Database has pending migrations from a previous upgrade, and new migrations from this upgrade (version %s)", r.opts.Version)
		r.log.info("\nRun 'kong migrations finish' when ready to complete pending migrations (postgres database will be incompatible with the previous Kong version)")
		return exitError{4}
	case len(pending) > 0:
		r.log.info("\nRun 'kong migrations finish' when ready")
		return exitError{4}
	case len(newer) > 0:
		r.log.info("\nRun 'kong migrations up' to proceed")
		return exitError{5}
	}
	return nil
}

func (r *Runner) bootstrap(ctx context.Context, st State) error {
	if !st.NeedsBootstrap {
		r.log.info("Database already bootstrapped")
		return nil
	}
	r.log.info("Bootstrapping database...")
	conn, err := r.db(ctx)
	if err != nil {
		return fmt.Errorf("[PostgreSQL error] %s", pgMessage(err))
	}
	bctx, cancel := r.bound(ctx)
	err = schemaBootstrap(bctx, conn)
	cancel()
	if err != nil {
		return fmt.Errorf("[PostgreSQL error] failed to bootstrap database: %s", pgMessage(err))
	}
	return r.exclusive(ctx, true, func() error {
		if err := r.runMigrations(ctx, st.Classification.Filter(kongrelease.StateNew), true, true); err != nil {
			return err
		}
		r.log.info("Database is up-to-date")
		return nil
	})
}

var errPendingUp = errors.New("Database has pending migrations; run 'kong migrations finish'")

func (r *Runner) up(ctx context.Context, st State) error {
	if st.NeedsBootstrap {
		return errors.New("Cannot run migrations: " + needsBootstrapMsg)
	}
	if !r.opts.Force && len(st.Pending) > 0 {
		return errPendingUp
	}
	return r.exclusive(ctx, false, func() error {
		st, err := r.state(ctx)
		if err != nil {
			return err
		}
		if !r.opts.Force && len(st.Pending) > 0 {
			return errPendingUp
		}
		if r.opts.Force && len(st.Executed) > 0 {
			ex := st.Classification.Filter(kongrelease.StateExecuted)
			r.log.debug("forcing re-execution of these migrations:\n%s", formatList(ex))
			if st, err = r.runAndReread(ctx, ex, true, true); err != nil {
				return err
			}
			if len(st.Pending) > 0 {
				r.log.info("\nDatabase has pending migrations; run 'kong migrations finish' when ready")
				return nil
			}
		}
		if len(st.New) == 0 {
			if !r.opts.Force {
				r.log.info("Database is already up-to-date")
			}
			return nil
		}
		newer := st.Classification.Filter(kongrelease.StateNew)
		r.log.debug("migrations to run:\n%s", formatList(newer))
		if st, err = r.runAndReread(ctx, newer, true, false); err != nil {
			return err
		}
		if len(st.Pending) > 0 {
			r.log.info("\nDatabase has pending migrations; run 'kong migrations finish' when ready")
		}
		return nil
	})
}

func (r *Runner) finish(ctx context.Context) error {
	st, err := r.state(ctx)
	if err != nil {
		return err
	}
	if st.NeedsBootstrap {
		return errors.New("Cannot run migrations: " + needsBootstrapMsg)
	}
	return r.exclusive(ctx, true, func() error {
		st, err := r.state(ctx)
		if err != nil {
			return err
		}
		if r.opts.Force && len(st.Executed) > 0 {
			if st, err = r.runAndReread(ctx, st.Classification.Filter(kongrelease.StateExecuted), true, true); err != nil {
				return err
			}
		}
		if len(st.Pending) > 0 {
			pending := st.Classification.Filter(kongrelease.StatePending)
			r.log.debug("pending migrations to finish:\n%s", formatList(pending))
			if st, err = r.runAndReread(ctx, pending, false, true); err != nil {
				return err
			}
		}
		if len(st.New) > 0 {
			r.log.info("\nNew migrations available; run 'kong migrations up' to proceed")
			return nil
		}
		if !r.opts.Force && len(st.Pending) == 0 {
			r.log.info("No pending migrations to finish")
		}
		return nil
	})
}

// exclusive runs cb holding the migrations lock (clusterMutex, cleaned up
// afterwards); when another runner holds it, it prints Kong's "aborted"
// line and returns nil, as Kong exits 0 then.
func (r *Runner) exclusive(ctx context.Context, noWait bool, cb func() error) error {
	ok, err := r.clusterMutex(ctx, noWait, false, cb)
	if err != nil {
		return err
	}
	if !ok {
		r.log.info(notLeaderMsg)
	}
	return nil
}

// runAndReread runs list (up and/or teardown parts) and reads the state
// again, as Kong does after each batch.
func (r *Runner) runAndReread(ctx context.Context, list kongrelease.Classification, up, teardown bool) (State, error) {
	if err := r.runMigrations(ctx, list, up, teardown); err != nil {
		return State{}, err
	}
	return r.state(ctx)
}

// reset returns false (exit 1) when there was nothing to reset or another
// runner holds the lock.
func (r *Runner) reset(ctx context.Context, st State) (bool, error) {
	if st.NeedsBootstrap {
		r.log.info("Database not bootstrapped, nothing to reset")
		return false, nil
	}
	doReset := func() error {
		r.log.info("Resetting database...")
		conn, err := r.db(ctx)
		if err != nil {
			return fmt.Errorf("[PostgreSQL error] %s", pgMessage(err))
		}
		bctx, cancel := r.bound(ctx)
		defer cancel()
		if err := resetSchema(bctx, conn); err != nil {
			return fmt.Errorf("[PostgreSQL error] %s", pgMessage(err))
		}
		r.log.info("Database successfully reset")
		return nil
	}
	ok, err := r.clusterMutex(ctx, true, true, doReset)
	if err != nil {
		// Kong: "failed to acquire locks - maybe locks table was dropped?"
		r.log.log(lvlError, "%s - retrying without cluster lock", err)
		if err := doReset(); err != nil {
			return false, err
		}
		return true, nil
	}
	if !ok {
		r.log.info(notLeaderMsg)
		return false, nil
	}
	return true, nil
}

// clusterMutex is Kong's DB:cluster_mutex("migrations"): take the lock row
// (deleting expired rows first); if another runner holds it, return false
// at once when noWait, else poll (0.1 s, x3 per step, at most 2 s) until the
// row is gone (false: "aborted") or LockTimeout passed ("timeout" error).
// On success run cb, then remove the row unless noCleanup; an error from
// cb is wrapped as "cluster_mutex callback threw an error".
func (r *Runner) clusterMutex(ctx context.Context, noWait, noCleanup bool, cb func() error) (bool, error) {
	ttl := r.opts.LockTimeout
	conn, err := r.db(ctx)
	if err != nil {
		return false, fmt.Errorf("[PostgreSQL error] failed to insert cluster lock: %s", pgMessage(err))
	}
	bctx, cancel := r.bound(ctx)
	got, err := insertLock(bctx, conn, mutexKey, r.opts.Owner, ttl)
	cancel()
	if err != nil {
		return false, fmt.Errorf("[PostgreSQL error] failed to insert cluster lock: %s", pgMessage(err))
	}
	if !got {
		if noWait {
			return false, nil
		}
		step, elapsed := 100*time.Millisecond, time.Duration(0)
		for elapsed < ttl {
			t := time.NewTimer(step)
			select {
			case <-ctx.Done():
				t.Stop()
				return false, ctx.Err()
			case <-t.C:
			}
			elapsed += step
			if elapsed >= ttl {
				break
			}
			conn, err := r.db(ctx)
			if err != nil {
				return false, fmt.Errorf("[PostgreSQL error] failed to read cluster lock: %s", pgMessage(err))
			}
			bctx, cancel := r.bound(ctx)
			locked, err := readLock(bctx, conn, mutexKey)
			cancel()
			if err != nil {
				return false, fmt.Errorf("[PostgreSQL error] failed to read cluster lock: %s", pgMessage(err))
			}
			if !locked {
				return false, nil
			}
			step = min(step*3, 2*time.Second)
		}
		return false, errors.New("[PostgreSQL error] timeout")
	}
	if err := cb(); err != nil {
		r.dropLock(ctx)
		return false, fmt.Errorf("[PostgreSQL error] cluster_mutex callback threw an error: %s", err)
	}
	if !noCleanup {
		r.dropLock(ctx)
	}
	return true, nil
}

// dropLock removes this runner's lock row, reconnecting if the connection
// was lost (Kong's connector:query opens a new connection then). Errors are
// ignored, as Kong ignores remove_lock's result.
func (r *Runner) dropLock(ctx context.Context) {
	conn, err := r.db(ctx)
	if err != nil {
		return
	}
	bctx, cancel := r.bound(ctx)
	defer cancel()
	_ = removeLock(bctx, conn, mutexKey, r.opts.Owner)
}

// runMigrations is Kong's DB:run_migrations with run_up and/or
// run_teardown, printing the same lines.
func (r *Runner) runMigrations(ctx context.Context, list kongrelease.Classification, runUp, runTeardown bool) error {
	db := r.opts.Database
	nMigrations, nPending := 0, 0
	for _, sub := range list {
		if db == "" {
			if c, err := r.db(ctx); err == nil {
				db = c.Config().Database
			}
		}
		r.log.info("migrating %s on database '%s'...", sub.Name, db)
		for _, m := range sub.Migrations {
			r.log.debug("running migration: %s", m.Name)
			if runUp {
				if err := r.step(ctx, sub.Name, m.Name, upSQL(sub.Name, m.Name, m.Teardown)); err != nil {
					return fmt.Errorf("[PostgreSQL error] failed to run migration '%s' up: %s", m.Name, err)
				}
				if f := upFunc(sub.Name, m.Name); f != nil {
					if err := r.runFunc(ctx, sub.Name, m.Name, f, false); err != nil {
						return fmt.Errorf("[PostgreSQL error] failed to run migration '%s' up_f: %s", m.Name, err)
					}
				}
				state := recordExecuted
				if m.Teardown {
					state = recordPending
					nPending++
				}
				if err := r.record(ctx, sub.Name, m.Name, state); err != nil {
					return err
				}
			}
			if runTeardown && m.Teardown {
				if err := r.runFunc(ctx, sub.Name, m.Name, teardownFunc(sub.Name, m.Name), true); err != nil {
					return fmt.Errorf("[PostgreSQL error] failed to run migration '%s' teardown: %s", m.Name, err)
				}
				if err := r.record(ctx, sub.Name, m.Name, recordTeardown); err != nil {
					return err
				}
				nPending = max(nPending-1, 0)
			}
			state := "(executed)"
			if m.Teardown && !runTeardown {
				state = "(pending)"
			}
			r.log.info("%s migrated up to: %s %s", sub.Name, m.Name, state)
			nMigrations++
		}
	}
	plural := ""
	if nMigrations > 1 {
		plural = "s"
	}
	r.log.info("%d migration%s processed", nMigrations, plural)
	if n := nMigrations - nPending; n > 0 {
		r.log.info("%d executed", n)
	}
	if nPending > 0 {
		r.log.info("%d pending", nPending)
	}
	return nil
}

func (r *Runner) record(ctx context.Context, subsystem, name string, st recordState) error {
	conn, err := r.db(ctx)
	if err == nil {
		bctx, cancel := r.bound(ctx)
		err = recordMigration(bctx, conn, subsystem, name, st)
		cancel()
	}
	if err != nil {
		return fmt.Errorf("[PostgreSQL error] failed to record migration '%s': %s", name, pgMessage(err))
	}
	return nil
}

// step runs one migration step as Kong's run_up_migration does: the SQL in
// one "BEGIN; ...; COMMIT;" simple query. The returned error is already in
// pgmoon's words. After an error the connection is dropped (Kong closes it).
func (r *Runner) step(ctx context.Context, subsystem, name, body string) error {
	var b strings.Builder
	b.WriteString("BEGIN;\n")
	if d := r.opts.Faults.slow(subsystem, name); d > 0 {
		fmt.Fprintf(&b, "SELECT pg_sleep(%.3f);\n", d.Seconds())
	}
	body = strings.TrimSpace(body)
	if !strings.HasSuffix(body, ";") {
		body += ";"
	}
	b.WriteString(body + "\nCOMMIT;\n")

	conn, err := r.db(ctx)
	if err != nil {
		return errors.New(pgMessage(err))
	}
	clientTimeout := r.opts.Faults.match(r.opts.Faults.ClientTimeout, subsystem, name)
	bctx, cancel := r.bound(ctx)
	if clientTimeout {
		// Let the server finish and commit; the client then behaves as if
		// its read had timed out.
		bctx, cancel = context.WithCancel(ctx)
	}
	err = execSimple(bctx, conn, b.String())
	cancel()
	if err != nil {
		r.close()
		return errors.New(pgMessage(err))
	}
	if r.opts.Faults.match(r.opts.Faults.KillAfterCommit, subsystem, name) {
		if r.opts.Kill != nil {
			r.opts.Kill()
		}
		panic(killed{})
	}
	if clientTimeout {
		r.close()
		return errors.New(timeoutMsg)
	}
	return nil
}
