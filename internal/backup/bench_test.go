package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// BenchmarkBackup10k measures, on one database of 10,010 Kong entities and
// in one run, each operation next to its plain PostgreSQL counterpart:
//
//	pg_dump_ms        plain pg_dump -Fc
//	backup_ms         Backup (snapshot, schema_meta, pg_dump, SHA-256 and fingerprint of its output, manifest)
//	backup_sql_ms     Backup with the fingerprint read by SQL on the snapshot (before 7567113; the fallback)
//	verify_ms         Verify (scratch restore, counts, schema_meta, fingerprint, drop)
//	ratio_backup      backup_ms / pg_dump_ms              (target ≤ 1.2)
//	ratio_backup_sql  backup_sql_ms / pg_dump_ms
//	ratio_verified    (backup_ms + verify_ms) / pg_dump_ms
//	pg_restore_ms     plain pg_restore into a new database
//	restore_ms        Restore into a new database (checksum, header, marker, pg_restore)
//	ratio_restore     restore_ms / pg_restore_ms
//	deck_dump_ms      decK dump of the node (go-database-reconciler)
//	fingerprint_ms    FingerprintDB (one query)
//	pg_dump_cpu_ms         CPU time of the plain pg_dump process
//	backup_pg_dump_cpu_ms  CPU time of Backup's pg_dump (and pg_dump --version)
//	backup_own_cpu_ms      CPU time of this process during Backup: what a
//	                       backup costs beyond pg_dump, which on a host with
//	                       no idle core adds to its time (the ratios above
//	                       are wall time)
//
// Run: go test -run '^$' -bench Backup10k -benchtime 5x ./internal/backup/
func BenchmarkBackup10k(b *testing.B) {
	dsn, node := kongDB(b)
	benchBackup(b, dsn, node, 10010)
}

// BenchmarkBackupSeeded measures the same at 10,000 and 100,000 entities
// seeded with kongsim.Seed on Kong's layout (a fifth each of services,
// routes, consumers, key-auth credentials and consumer rate-limiting
// plugins); the 100,000 case skips the decK dump (deck_dump_ms 0), which
// pages the whole Admin API.
//
// Run: go test -run '^$' -bench BackupSeeded -benchtime 1x -timeout 60m ./internal/backup/
func BenchmarkBackupSeeded(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
			dsn := bootstrapped(b, "3.9.1")
			k := n / 5
			if _, err := kongsim.Seed(context.Background(), dsn, "3.9.1", kongsim.SeedSpec{Services: k, Routes: k, Consumers: k, KeyAuth: k, RateLimiting: k}); err != nil {
				b.Fatal(err)
			}
			var node *kongsim.Node
			if n <= 10000 {
				node = startSim(b, kongsim.Config{Version: "3.9.1", DSN: dsn})
			}
			benchBackup(b, dsn, node, int64(n))
		})
	}
}

// benchBackup times each operation on dsn, whose fingerprint must count
// entities (so that nothing done fast passes); node nil skips the decK
// dump.
func benchBackup(b *testing.B, dsn string, node *kongsim.Node, entities int64) {
	ctx := context.Background()
	pg := testenv.Postgres(b)
	dir := b.TempDir()
	var client *kong.Client
	if node != nil {
		client = kongClient(b, node)
	}
	c, _ := parseConn(dsn)
	var sum [9]time.Duration
	var cpu [3]time.Duration // Backup's own, Backup's pg_dump's, plain pg_dump's
	timeIt := func(i int, f func() error) {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		sum[i] += time.Since(start)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		plain := filepath.Join(dir, fmt.Sprintf("plain-%d.dump", i))
		_, children0 := cpuTimes()
		timeIt(0, func() error { _, err := run(ctx, c.Env, "pg_dump", "-Fc", "-f", plain, "-d", c.Arg); return err })
		_, children1 := cpuTimes()
		cpu[2] += children1 - children0
		var m *Manifest
		self, children := cpuTimes()
		timeIt(1, func() (err error) {
			m, err = Backup(ctx, Options{DSN: dsn, Dir: dir, Plan: "bench", Now: func() time.Time { return time.Now().Add(time.Duration(i) * time.Second) }})
			if err == nil && m.Fingerprint.Entities() != entities {
				err = fmt.Errorf("backup counts %d entities, want %d", m.Fingerprint.Entities(), entities)
			}
			return err
		})
		self2, children2 := cpuTimes()
		cpu[0] += self2 - self
		cpu[1] += children2 - children
		timeIt(2, func() error {
			v, err := Verify(ctx, m, pg.AdminDSN())
			if err == nil && !v.OK {
				err = fmt.Errorf("verification failed: %s", v.Reason)
			}
			return err
		})
		timeIt(8, func() (err error) {
			fingerprintFromArchive = false
			defer func() { fingerprintFromArchive = true }()
			m, err := Backup(ctx, Options{DSN: dsn, Dir: dir, Plan: "bench-sql", Now: func() time.Time { return time.Now().Add(time.Duration(i) * time.Second) }})
			if err == nil && m.Fingerprint.Entities() != entities {
				err = fmt.Errorf("backup counts %d entities, want %d", m.Fingerprint.Entities(), entities)
			}
			return err
		})
		plainDB, restDB := newDBName(b, pg), newDBName(b, pg)
		pc, _ := parseConn(plainDB)
		timeIt(3, func() error {
			admin, err := pgx.Connect(ctx, pg.AdminDSN())
			if err != nil {
				return err
			}
			defer admin.Close(ctx)
			if err := createDatabase(ctx, admin, pc.Database); err != nil {
				return err
			}
			_, err = run(ctx, pc.Env, "pg_restore", "--no-owner", "--no-acl", "--exit-on-error", "-d", pc.Arg, plain)
			return err
		})
		timeIt(4, func() error { _, err := Restore(ctx, RestoreOptions{Manifest: m, TargetDSN: restDB}); return err })
		if client != nil {
			timeIt(5, func() error { _, err := Dump(ctx, client); return err })
		}
		timeIt(6, func() error {
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			start := time.Now()
			_, err = FingerprintDB(ctx, conn)
			sum[7] += time.Since(start) // the query alone, without connecting
			return err
		})
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(sum[0]), "pg_dump_ms")
	b.ReportMetric(ms(sum[1]), "backup_ms")
	b.ReportMetric(ms(sum[2]), "verify_ms")
	b.ReportMetric(ms(sum[1])/ms(sum[0]), "ratio_backup")
	b.ReportMetric(ms(sum[8]), "backup_sql_ms")
	b.ReportMetric(ms(sum[8])/ms(sum[0]), "ratio_backup_sql")
	b.ReportMetric((ms(sum[1])+ms(sum[2]))/ms(sum[0]), "ratio_verified")
	b.ReportMetric(ms(sum[3]), "pg_restore_ms")
	b.ReportMetric(ms(sum[4]), "restore_ms")
	b.ReportMetric(ms(sum[4])/ms(sum[3]), "ratio_restore")
	b.ReportMetric(ms(cpu[2]), "pg_dump_cpu_ms")
	b.ReportMetric(ms(cpu[0]), "backup_own_cpu_ms")
	b.ReportMetric(ms(cpu[1]), "backup_pg_dump_cpu_ms")
	b.ReportMetric(ms(sum[5]), "deck_dump_ms")
	b.ReportMetric(ms(sum[7]), "fingerprint_ms")
	b.ReportMetric(0, "ns/op")
}

// cpuTimes is the CPU time (user and system) used so far by this process
// and by its children that have ended (pg_dump; not the PostgreSQL
// server, which is still running).
func cpuTimes() (self, children time.Duration) {
	var s, c syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &s)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c)
	tv := func(r syscall.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	return tv(s), tv(c)
}

// BenchmarkBackupPhases takes Backup's DB-mode steps apart, one after the
// other, next to plain pg_dump -Fc, on the 10,010-entity database, to show
// where a backup's time goes beyond pg_dump's:
//
//	pg_dump_ms        plain pg_dump -Fc -f (pg_dump fsyncs the file)
//	connect_ms        connect, REPEATABLE READ transaction, pg_export_snapshot
//	schema_ms         schema_meta read, entity tables' columns looked up
//	fingerprint_ms    FingerprintDB on the snapshot: the second read of the
//	                  database that Backup no longer makes (for comparison)
//	dump_ms           pg_dump -Fc --snapshot through SHA-256 and the archive
//	                  reader (the fingerprint) into the file, fsync
//	finish_ms         archive header check, rename, manifest written and fsynced
//
// Run: go test -run '^$' -bench BackupPhases -benchtime 5x ./internal/backup/
func BenchmarkBackupPhases(b *testing.B) {
	ctx := context.Background()
	dsn, _ := kongDB(b)
	dir := b.TempDir()
	c, _ := parseConn(dsn)
	var sum [6]time.Duration
	lap := func(i int, start *time.Time) {
		now := time.Now()
		sum[i] += now.Sub(*start)
		*start = now
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := run(ctx, c.Env, "pg_dump", "-Fc", "-f", filepath.Join(dir, fmt.Sprintf("plain-%d.dump", i)), "-d", c.Arg); err != nil {
			b.Fatal(err)
		}
		lap(0, &start)
		db, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			b.Fatal(err)
		}
		var snapshot string
		if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot()`).Scan(&snapshot); err != nil {
			b.Fatal(err)
		}
		lap(1, &start)
		if _, err := kong.ReadSchemaFrom(ctx, tx); err != nil {
			b.Fatal(err)
		}
		ek, err := readEntityKinds(ctx, tx)
		if err != nil {
			b.Fatal(err)
		}
		lap(2, &start)
		fp, err := FingerprintDB(ctx, tx)
		if err != nil || fp.Entities() != 10010 {
			b.Fatalf("fingerprint %v: %v", fp.Counts, err)
		}
		lap(3, &start)
		path := filepath.Join(dir, fmt.Sprintf("b-%d.dump", i))
		af := newArchiveFingerprint(ek, "public")
		pw := newSpool(64 << 20)
		parsed := af.readInBackground(pw)
		_, _, err = pgDumpTo(ctx, c, snapshot, path+".partial", pw)
		pw.CloseWithError(err)
		if perr := <-parsed; err != nil || perr != nil {
			b.Fatal(err, perr)
		}
		afp, err := af.fingerprint(ctx, noQuerier{})
		if err != nil || afp.Hash != fp.Hash {
			b.Fatalf("archive fingerprint %s (%v), database %s", afp.Hash, err, fp.Hash)
		}
		lap(4, &start)
		if _, err := ReadArchiveVersion(path + ".partial"); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(path+".partial", path); err != nil {
			b.Fatal(err)
		}
		if err := writeFileAtomic(path+".json", []byte(`{"manifest_version":1}`)); err != nil {
			b.Fatal(err)
		}
		lap(5, &start)
		_ = tx.Rollback(ctx)
		db.Close(ctx)
	}
	b.StopTimer()
	for i, name := range []string{"pg_dump_ms", "connect_ms", "schema_ms", "fingerprint_ms", "dump_ms", "finish_ms"} {
		b.ReportMetric(float64(sum[i].Microseconds())/1000/float64(b.N), name)
	}
	b.ReportMetric(0, "ns/op")
}
