package backup

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
)

// Driver is one plan's backups, as the engine uses them: take (and
// verify, and prune), find the latest, fingerprint the live
// configuration, restore.
type Driver struct {
	// Options for every backup (DSN or Admin, Dir, Plan, Commit, ...).
	Options Options
	// VerifyDSN is backup.verify_dsn: where test restores happen. Empty:
	// backups are left unverified (and so not usable).
	VerifyDSN string
	// Keep is the retention (keep = N); 0 keeps all.
	Keep int
}

// Backup takes a backup and verifies it: a database-level one by a test
// restore when VerifyDSN is set, a declarative one always
// (VerifyDeclarative, against X's Admin API: it needs no server); then
// prunes to Keep. It returns the manifest even when verification failed
// (check Manifest.Usable); the error is for a backup that could not be
// taken or tried. Not idempotent: every call makes a new backup.
func (d *Driver) Backup(ctx context.Context) (*Manifest, error) {
	m, err := Backup(ctx, d.Options)
	if err != nil {
		return nil, err
	}
	switch {
	case m.Kind == KindDeclarative:
		if _, err := VerifyDeclarative(ctx, m, d.Options.Admin); err != nil {
			return m, err
		}
	case d.VerifyDSN != "":
		d.reclaim(ctx)
		if _, err := Verify(ctx, m, d.VerifyDSN); err != nil {
			return m, err
		}
	}
	if _, err := Prune(d.Options.Dir, d.Options.Plan, d.Keep); err != nil {
		return m, err
	}
	return m, nil
}

// Latest returns the plan's newest backup, or nil when there is none.
// Read-only.
func (d *Driver) Latest(ctx context.Context) (*Manifest, error) {
	return Latest(d.Options.Dir, d.Options.Plan)
}

// Fingerprint computes the live configuration fingerprint: one SQL query
// in DB mode, GET /config for DB-less. Read-only.
func (d *Driver) Fingerprint(ctx context.Context) (Fingerprint, error) {
	if d.Options.DSN == "" {
		if d.Options.Admin == nil {
			return Fingerprint{}, fmt.Errorf("fingerprint: neither a database DSN nor an Admin API given")
		}
		conf, err := d.Options.Admin.Config(ctx)
		if err != nil {
			return Fingerprint{}, err
		}
		return FingerprintDeclarative(conf)
	}
	c, err := pgx.Connect(ctx, d.Options.DSN)
	if err != nil {
		return Fingerprint{}, fmt.Errorf("fingerprint: connect: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	tx, err := c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return Fingerprint{}, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	return FingerprintDB(ctx, tx)
}

// Restore restores m into targetDSN (see the package function for the
// modes). allowReplace maps to the plan's rollback { restore = true }.
func (d *Driver) Restore(ctx context.Context, m *Manifest, targetDSN string, allowReplace bool) (RestoreResult, error) {
	return Restore(ctx, RestoreOptions{Manifest: m, TargetDSN: targetDSN, AllowReplace: allowReplace})
}

// Rehearse restores m into a scratch database on VerifyDSN's server,
// checks it as Verify does, runs then on it and drops it (VerifyThen).
// then does not run unless the copy matched the backup; the error says
// why not.
func (d *Driver) Rehearse(ctx context.Context, m *Manifest, then func(ctx context.Context, scratchDSN string) error) error {
	if d.VerifyDSN == "" {
		return fmt.Errorf("rehearse on %s: the plan has no backup.verify_dsn", m.Name)
	}
	d.reclaim(ctx)
	ran := false
	v, err := VerifyThen(ctx, m, d.VerifyDSN, func(ctx context.Context, dsn string) error {
		ran = true
		return then(ctx, dsn)
	})
	switch {
	case ran || err != nil:
		return err
	case v != nil && !v.OK:
		return fmt.Errorf("rehearse on %s: the test restore did not match the backup: %s", m.Name, v.Reason)
	}
	return fmt.Errorf("rehearse on %s: the test restore did not run", m.Name)
}

// reclaim drops the scratch databases that killed verifications or
// rehearsals left on VerifyDSN's server (ReclaimScratch) and logs what it
// dropped and what it could not. Its failure is logged, not returned:
// not reclaiming changes nothing, and the verification goes on.
func (d *Driver) reclaim(ctx context.Context) {
	log := d.Options.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r, err := ReclaimScratch(ctx, d.VerifyDSN)
	for _, db := range r.Dropped {
		log.Warn("dropped a scratch database left by a killed verification or rehearsal", "database", db)
	}
	for db, why := range r.Kept {
		log.Warn("a scratch database left by a killed verification or rehearsal could not be dropped; drop it by hand", "database", db, "reason", why)
	}
	if err != nil {
		log.Warn("scratch databases left by killed verifications were not looked for", "err", err)
	}
}
