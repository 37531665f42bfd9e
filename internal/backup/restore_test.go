package backup

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// smallBackup backs up a small bootstrapped database and returns the
// manifest, the source DSN and its node.
func smallBackup(t *testing.T) (*Manifest, string, *kongsim.Node) {
	t.Helper()
	dsn := bootstrapped(t, "3.9.1")
	n := startSim(t, kongsim.Config{Version: "3.9.1", DSN: dsn})
	populate(t, kongClient(t, n).GoKong())
	m, err := Backup(context.Background(), Options{DSN: dsn, Dir: t.TempDir(), Plan: "p1", KongVersion: "3.9.1"})
	if err != nil {
		t.Fatal(err)
	}
	return m, dsn, n
}

func execSQL(t *testing.T, dsn, sql string) {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreModes walks every restore mode and refusal on real
// PostgreSQL.
func TestRestoreModes(t *testing.T) {
	ctx := context.Background()
	pg := testenv.Postgres(t)
	m, srcDSN, src := smallBackup(t)

	// New database: created and restored; repeating is a no-op.
	target := newDBName(t, pg)
	if res, err := Restore(ctx, RestoreOptions{Manifest: m, TargetDSN: target}); err != nil || res.Action != ActionCreated {
		t.Fatalf("new database: %+v %v", res, err)
	}
	if res, err := Restore(ctx, RestoreOptions{Manifest: m, TargetDSN: target}); err != nil || res.Action != ActionUnchanged {
		t.Fatalf("repeat: %+v %v", res, err)
	}
	// Someone wrote into Upshift's database: dropped and recreated.
	execSQL(t, target, `DELETE FROM keyauth_credentials`)
	if res, err := Restore(ctx, RestoreOptions{Manifest: m, TargetDSN: target}); err != nil || res.Action != ActionRecreated {
		t.Fatalf("changed Upshift database: %+v %v", res, err)
	}
	if dbFingerprint(t, target).Hash != m.Fingerprint.Hash {
		t.Fatal("recreated database differs from the backup")
	}
	// A half-finished restore (marker says restoring) is redone.
	execSQL(t, pg.AdminDSN(), `COMMENT ON DATABASE `+pgx.Identifier{mustConn(t, target).Database}.Sanitize()+` IS 'upshift:{"upshift":1,"owned":true,"state":"restoring","manifest":"`+m.SHA256+`"}'`)
	if res, err := Restore(ctx, RestoreOptions{Manifest: m, TargetDSN: target}); err != nil || res.Action != ActionRecreated {
		t.Fatalf("half-finished restore: %+v %v", res, err)
	}

	// An existing empty database.
	empty := pg.NewDatabase(t)
	if res, err := Restore(ctx, RestoreOptions{Manifest: m, TargetDSN: empty}); err != nil || res.Action != ActionEmpty {
		t.Fatalf("empty database: %+v %v", res, err)
	}

	// X's database (not Upshift's, not empty), changed after the backup:
	// refused without the allow flag, replaced with it.
	if _, err := kongClient(t, src).GoKong().Consumers.Create(ctx, &gokong.Consumer{Username: gokong.String("written-after-backup")}); err != nil {
		t.Fatal(err)
	}
	_, err := Restore(ctx, RestoreOptions{Manifest: m, TargetDSN: srcDSN})
	var refused *RefusedError
	if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "rollback { restore = true }") {
		t.Fatalf("replacing X's database without the flag: %v", err)
	}
	if dbFingerprint(t, srcDSN).Hash == m.Fingerprint.Hash {
		t.Fatal("refused restore changed the database")
	}
	if res, err := Restore(ctx, RestoreOptions{Manifest: m, TargetDSN: srcDSN, AllowReplace: true}); err != nil || res.Action != ActionReplaced {
		t.Fatalf("replace with the flag: %+v %v", res, err)
	}
	if dbFingerprint(t, srcDSN).Hash != m.Fingerprint.Hash {
		t.Fatal("replaced database differs from the backup")
	}
	// Once restored, the same manifest is a no-op even without the flag.
	if res, err := Restore(ctx, RestoreOptions{Manifest: m, TargetDSN: srcDSN}); err != nil || res.Action != ActionUnchanged {
		t.Fatalf("repeat into X's: %+v %v", res, err)
	}

	// The maintenance database is never a target.
	if _, err := Restore(ctx, RestoreOptions{Manifest: m, TargetDSN: pg.AdminDSN()}); !errors.As(err, &refused) {
		t.Fatalf("restore into the maintenance database: %v", err)
	}
	// A corrupted archive is refused.
	if err := os.WriteFile(m.ArchivePath(), []byte("PGDMP\x01\x0e\x00garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, RestoreOptions{Manifest: m, TargetDSN: newDBName(t, pg)}); !errors.As(err, &refused) || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("corrupted archive: %v", err)
	}
}

func mustConn(t *testing.T, dsn string) conn {
	t.Helper()
	c, err := parseConn(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestNewerPgDumpRefused crafts an archive header of format 1.16 (what
// pg_dump 17 writes) and checks that a pg_restore older than 17 refuses it
// in Restore and fails the verification; the test adapts to the local
// pg_restore's version.
func TestNewerPgDumpRefused(t *testing.T) {
	ctx := context.Background()
	_, major, err := toolVersion(ctx, "pg_restore")
	if err != nil {
		t.Fatal(err)
	}
	m, _, _ := smallBackup(t)
	max := maxArchiveFor(major)
	b, err := os.ReadFile(m.ArchivePath())
	if err != nil {
		t.Fatal(err)
	}
	b[5], b[6] = byte(max.Major), byte(max.Minor+1) // one format newer than this pg_restore reads
	if err := os.WriteFile(m.ArchivePath(), b, 0o600); err != nil {
		t.Fatal(err)
	}
	m.Size, m.SHA256, _ = fileDigest(m.ArchivePath())
	_, err = Restore(ctx, RestoreOptions{Manifest: m, TargetDSN: newDBName(t, testenv.Postgres(t))})
	var refused *RefusedError
	if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "newer pg_dump") {
		t.Fatalf("restore of a newer archive: %v", err)
	}
	v, err := Verify(ctx, m, testenv.Postgres(t).AdminDSN())
	if err != nil || v.OK || !strings.Contains(v.Reason, "newer pg_dump") || m.Usable() == nil {
		t.Fatalf("verification of a newer archive: %+v %v", v, err)
	}
}

// TestVerifyDetectsMismatch: a manifest whose fingerprint does not match
// the archive fails verification, so the backup is unusable.
func TestVerifyDetectsMismatch(t *testing.T) {
	m, _, _ := smallBackup(t)
	m.Fingerprint.Hash = strings.Repeat("0", 64)
	v, err := Verify(context.Background(), m, testenv.Postgres(t).AdminDSN())
	if err != nil || v.OK || !strings.Contains(v.Reason, "fingerprint") || m.Usable() == nil {
		t.Fatalf("%+v %v", v, err)
	}
	assertNoScratch(t, testenv.Postgres(t))
}
