package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/kong"
)

// Verify proves a backup restorable: it restores the archive into a
// scratch database on the server of verifyDSN (a role that may CREATE and
// DROP DATABASE; the DSN's own database is used only to create and drop
// the scratch one), compares entity counts, schema_meta and the
// fingerprint with the manifest, and drops the scratch database. The
// outcome is recorded in the manifest (saved) and returned.
//
// A mismatch or a failed restore is not an error: it is a Verification
// with OK false and the reason, which makes Manifest.Usable refuse the
// upgrade. The error is for not being able to try at all (no server, no
// pg_restore). Safe to repeat; each call uses a new scratch database,
// dropped even when the context is cancelled.
func Verify(ctx context.Context, m *Manifest, verifyDSN string) (*Verification, error) {
	return VerifyThen(ctx, m, verifyDSN, nil)
}

// VerifyThen is Verify, and when the restored copy matched, then runs on
// it (scratchDSN: the scratch database on verifyDSN's server) before it is
// dropped: the migrations rehearsal (rehearse = true) works on the very
// copy the verification proved equal to the backup. then's error is
// returned as is, wrapped by nothing: the Verification (OK) stays
// recorded, since the backup itself is fine.
func VerifyThen(ctx context.Context, m *Manifest, verifyDSN string, then func(ctx context.Context, scratchDSN string) error) (*Verification, error) {
	start := time.Now()
	v := &Verification{At: start.UTC()}
	finish := func(ok bool, reason string) (*Verification, error) {
		v.OK, v.Reason, v.Duration = ok, reason, time.Since(start).Round(time.Millisecond).String()
		m.Verification = v
		if err := m.Save(); err != nil {
			return v, fmt.Errorf("verify %s: save manifest: %w", m.Name, err)
		}
		return v, nil
	}
	if m.Kind != KindPGDump {
		// Not recorded: a declarative backup's own verification stays.
		return nil, fmt.Errorf("verify %s: only database-level backups are verified by a test restore; a declarative backup is verified by VerifyDeclarative", m.Name)
	}
	var err error
	if v.PGRestoreVersion, _, err = toolVersion(ctx, "pg_restore"); err != nil {
		return nil, fmt.Errorf("verify %s: %w", m.Name, err)
	}
	if err := checkArchive(ctx, m); err != nil {
		var r *RefusedError
		if errors.As(err, &r) {
			return finish(false, r.Reason)
		}
		return nil, fmt.Errorf("verify %s: %w", m.Name, err)
	}
	admin, err := pgx.Connect(ctx, verifyDSN)
	if err != nil {
		return nil, fmt.Errorf("verify %s: connect to verify_dsn: %w", m.Name, err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	if v.Reclaimed, err = reclaimScratch(ctx, admin); err != nil {
		return nil, fmt.Errorf("verify %s: %w", m.Name, err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	scratch := scratchPrefix + hex.EncodeToString(rnd[:])
	if err := createDatabase(ctx, admin, scratch); err != nil {
		return nil, fmt.Errorf("verify %s: %w", m.Name, err)
	}
	defer func() {
		_, _ = admin.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+pgx.Identifier{scratch}.Sanitize()+" WITH (FORCE)")
	}()
	if err := markScratch(ctx, admin, scratch); err != nil {
		return nil, fmt.Errorf("verify %s: %w", m.Name, err)
	}
	dsn, err := withDatabase(verifyDSN, scratch)
	if err != nil {
		return nil, err
	}
	sc, err := parseConn(dsn)
	if err != nil {
		return nil, err
	}
	if _, err := run(ctx, sc.Env, "pg_restore", "--no-owner", "--no-acl", "--exit-on-error", "-d", sc.Arg, m.ArchivePath()); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("verify %s: %w", m.Name, ctx.Err())
		}
		return finish(false, "test restore failed: "+err.Error())
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("verify %s: connect to scratch database: %w", m.Name, err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	st, err := kong.ReadSchemaFrom(ctx, c)
	if err != nil {
		return finish(false, "reading schema_meta of the restored copy: "+err.Error())
	}
	fp, err := FingerprintDB(ctx, c)
	if err != nil {
		return finish(false, "fingerprint of the restored copy: "+err.Error())
	}
	var diffs []string
	if !maps.Equal(fp.Counts, m.Fingerprint.Counts) {
		diffs = append(diffs, fmt.Sprintf("entity counts %v, manifest %v", fp.Counts, m.Fingerprint.Counts))
	}
	if st.NeedsBootstrap != m.NeedsBootstrap || !reflect.DeepEqual(normRows(st.Rows), normRows(m.SchemaMeta)) {
		diffs = append(diffs, "schema_meta differs from the manifest's")
	}
	if fp.Hash != m.Fingerprint.Hash {
		diffs = append(diffs, fmt.Sprintf("fingerprint %s, manifest %s", fp.Hash, m.Fingerprint.Hash))
	}
	if len(diffs) > 0 {
		return finish(false, "restored copy differs: "+strings.Join(diffs, "; "))
	}
	v, err = finish(true, fmt.Sprintf("restored into a scratch database on the verify server: %d entities, schema_meta (%d subsystems) and fingerprint %s match", fp.Entities(), len(st.Rows), shortHash(fp.Hash)))
	if err != nil || then == nil {
		return v, err
	}
	c.Close(context.WithoutCancel(ctx)) // then may need the database to itself
	return v, then(ctx, dsn)
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// The scratch databases of verifications and rehearsals are named
// scratchPrefix + 12 hex digits and, while in use, carry the comment
// scratchOwner + the backend pid of the session that created them and
// drops them at the end (the admin connection, open throughout).
const (
	scratchPrefix = "upshift_verify_"
	scratchOwner  = "upshift scratch database; owner session pid "
)

var reScratchOwner = regexp.MustCompile(`^` + regexp.QuoteMeta(scratchOwner) + `([0-9]+)$`)

// markScratch records admin's session as db's owner.
func markScratch(ctx context.Context, admin *pgx.Conn, db string) error {
	var pid int
	if err := admin.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		return fmt.Errorf("mark scratch database %s: %w", db, err)
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf("COMMENT ON DATABASE %s IS '%s%d'", pgx.Identifier{db}.Sanitize(), scratchOwner, pid)); err != nil {
		return fmt.Errorf("mark scratch database %s: %w", db, err)
	}
	return nil
}

// reclaimScratch drops the scratch databases that a killed verification
// or rehearsal left behind, and returns their names. A scratch database
// is dropped only on positive evidence that its owner is gone: its
// comment names the owner's session, and no session with that pid is on
// the server (pg_stat_activity lists every session, whatever the role).
// One without the comment (killed between CREATE and COMMENT), one whose
// owner's pid is in use, and one that someone is connected to (a
// pg_restore that outlived its parent) are left alone; DROP DATABASE
// without FORCE refuses the last, and the next verification tries again.
func reclaimScratch(ctx context.Context, admin *pgx.Conn) ([]string, error) {
	rows, err := admin.Query(ctx, `SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '')
		FROM pg_database WHERE left(datname, length($1::text)) = $1::text ORDER BY datname`, scratchPrefix)
	if err != nil {
		return nil, fmt.Errorf("list scratch databases: %w", err)
	}
	type scratch struct {
		name string
		pid  int
	}
	var found []scratch
	for rows.Next() {
		var name, comment string
		if err := rows.Scan(&name, &comment); err != nil {
			return nil, fmt.Errorf("list scratch databases: %w", err)
		}
		if m := reScratchOwner.FindStringSubmatch(comment); m != nil {
			pid, err := strconv.Atoi(m[1])
			if err == nil {
				found = append(found, scratch{name, pid})
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list scratch databases: %w", err)
	}
	var dropped []string
	for _, sc := range found {
		var alive bool
		if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)`, sc.pid).Scan(&alive); err != nil {
			return dropped, fmt.Errorf("look up the owner of scratch database %s: %w", sc.name, err)
		}
		if alive {
			continue
		}
		if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{sc.name}.Sanitize()); err == nil {
			dropped = append(dropped, sc.name)
		} else if ctx.Err() != nil {
			return dropped, ctx.Err()
		}
	}
	return dropped, nil
}
