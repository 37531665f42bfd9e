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
	"sync"
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
	var pid int
	if err := admin.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		return nil, fmt.Errorf("verify %s: %w", m.Name, err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	scratch := fmt.Sprintf("%s%d_%s", scratchPrefix, pid, hex.EncodeToString(rnd[:]))
	if err := createDatabase(ctx, admin, scratch); err != nil {
		return nil, fmt.Errorf("verify %s: %w", m.Name, err)
	}
	if scratchCreated != nil {
		scratchCreated(scratch)
	}
	// The admin session owns the scratch database (its pid is in the
	// name): once that session is gone, another verification may drop the
	// database (ReclaimScratch), so this one stops when the heartbeat
	// finds it lost.
	vctx, lost := context.WithCancelCause(ctx)
	defer lost(nil)
	stopBeat := heartbeat(vctx, admin, lost, scratch)
	defer func() {
		stopBeat()
		_, _ = admin.Exec(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+pgx.Identifier{scratch}.Sanitize()+" WITH (FORCE)")
	}()
	// stopped is the error for work cut short: the session lost, or ctx.
	// Before a failure is recorded against the backup, the session is
	// checked at once: lost between two heartbeats, another verification
	// may have dropped the database under the restore.
	stopped := func() error {
		if vctx.Err() == nil {
			stopBeat()
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			err := admin.Ping(pctx)
			cancel()
			if err == nil {
				return nil
			}
			lost(fmt.Errorf("the session that owns scratch database %s was lost (%v); another verification may drop that database", scratch, err))
		}
		return fmt.Errorf("verify %s: %w", m.Name, context.Cause(vctx))
	}
	dsn, err := withDatabase(verifyDSN, scratch)
	if err != nil {
		return nil, err
	}
	sc, err := parseConn(dsn)
	if err != nil {
		return nil, err
	}
	if _, err := run(vctx, sc.Env, "pg_restore", "--no-owner", "--no-acl", "--exit-on-error", "-d", sc.Arg, m.ArchivePath()); err != nil {
		if err := stopped(); err != nil {
			return nil, err
		}
		return finish(false, "test restore failed: "+err.Error())
	}
	c, err := pgx.Connect(vctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("verify %s: connect to scratch database: %w", m.Name, err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	st, err := kong.ReadSchemaFrom(vctx, c)
	if err != nil {
		if err := stopped(); err != nil {
			return nil, err
		}
		return finish(false, "reading schema_meta of the restored copy: "+err.Error())
	}
	fp, err := FingerprintDB(vctx, c)
	if err != nil {
		if err := stopped(); err != nil {
			return nil, err
		}
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
	err = then(vctx, dsn)
	if err != nil && ctx.Err() == nil {
		if serr := stopped(); serr != nil {
			err = serr // the session lost, not then's own failure
		}
	}
	return v, err
}

// scratchCreated, set by tests only, runs right after the scratch
// database is created.
var scratchCreated func(db string)

// scratchHeartbeat is how often a verification checks that its admin
// session is alive (a variable for tests). It also keeps the session from
// idling into idle_session_timeout or a NAT's idle timeout.
var scratchHeartbeat = 10 * time.Second

// heartbeat pings admin every scratchHeartbeat until stop is called or
// ctx ends, and calls lost when a ping fails. stop (safe to call again)
// waits for it to end, so admin is free again afterwards.
func heartbeat(ctx context.Context, admin *pgx.Conn, lost context.CancelCauseFunc, scratch string) (stop func()) {
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(scratchHeartbeat)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				// Not ctx: a ping cut short by cancellation closes the
				// connection, and the scratch database's DROP needs it.
				pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				err := admin.Ping(pctx)
				cancel()
				if err != nil {
					lost(fmt.Errorf("the session that owns scratch database %s was lost (%v); another verification may drop that database", scratch, err))
					return
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }); <-ended }
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// The scratch databases of verifications and rehearsals are named
// scratchPrefix + the backend pid of the admin session that creates them,
// holds them and drops them + "_" + 12 random hex digits. Older ones,
// without the pid, are never reclaimed.
const scratchPrefix = "upshift_verify_"

var reScratch = regexp.MustCompile(`^` + scratchPrefix + `([0-9]+)_[0-9a-f]{12}$`)

// Reclaimed is what ReclaimScratch found: the scratch databases it
// dropped, and those whose owner is gone but that it could not drop (with
// PostgreSQL's reason: a session connected, another owner, a standby).
type Reclaimed struct {
	Dropped []string
	Kept    map[string]string
}

// ReclaimScratch drops the scratch databases on verifyDSN's server that a
// killed verification or rehearsal left behind. A scratch database is
// dropped only on evidence that its owner is gone: the pid in its name is
// the owner's session, which stays open (and is pinged) while the owner
// works and whose loss stops the owner (heartbeat), and no session with
// that pid is on the server (pg_stat_activity lists every session,
// whatever the role). A reused pid keeps the database, one without a pid
// in its name is left alone, and DROP DATABASE without FORCE refuses one
// that someone is connected to (a pg_restore that outlived its parent).
func ReclaimScratch(ctx context.Context, verifyDSN string) (Reclaimed, error) {
	admin, err := pgx.Connect(ctx, verifyDSN)
	if err != nil {
		return Reclaimed{}, fmt.Errorf("reclaim scratch databases: connect to verify_dsn: %w", err)
	}
	defer admin.Close(context.WithoutCancel(ctx))
	return reclaimScratch(ctx, admin)
}

func reclaimScratch(ctx context.Context, admin *pgx.Conn) (Reclaimed, error) {
	r := Reclaimed{Kept: map[string]string{}}
	rows, err := admin.Query(ctx, `SELECT d.datname FROM pg_database d
		WHERE left(d.datname, length($1::text)) = $1::text ORDER BY d.datname`, scratchPrefix)
	if err != nil {
		return r, fmt.Errorf("list scratch databases: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return r, fmt.Errorf("list scratch databases: %w", err)
	}
	for _, name := range names {
		m := reScratch.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		var alive bool
		if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)`, pid).Scan(&alive); err != nil {
			return r, fmt.Errorf("look up the owner of scratch database %s: %w", name, err)
		}
		if alive {
			continue
		}
		if _, err := admin.Exec(ctx, "DROP DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			if ctx.Err() != nil {
				return r, ctx.Err()
			}
			r.Kept[name] = err.Error()
			continue
		}
		r.Dropped = append(r.Dropped, name)
	}
	return r, nil
}
