package backup

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// BenchmarkBackup10k measures, on one database of 10,010 Kong entities and
// in one run, each operation next to its plain PostgreSQL counterpart:
//
//	pg_dump_ms        plain pg_dump -Fc
//	backup_ms         Backup (snapshot, schema_meta, fingerprint, pg_dump, SHA-256, manifest)
//	verify_ms         Verify (scratch restore, counts, schema_meta, fingerprint, drop)
//	ratio_backup      backup_ms / pg_dump_ms              (target ≤ 1.2)
//	ratio_verified    (backup_ms + verify_ms) / pg_dump_ms
//	pg_restore_ms     plain pg_restore into a new database
//	restore_ms        Restore into a new database (checksum, header, marker, pg_restore)
//	ratio_restore     restore_ms / pg_restore_ms
//	deck_dump_ms      decK dump of the node (go-database-reconciler)
//	fingerprint_ms    FingerprintDB (one query)
//
// Run: go test -run '^$' -bench Backup10k -benchtime 5x ./internal/backup/
func BenchmarkBackup10k(b *testing.B) {
	ctx := context.Background()
	pg := testenv.Postgres(b)
	dsn, node := kongDB(b)
	dir := b.TempDir()
	client := kongClient(b, node)
	c, _ := parseConn(dsn)
	var sum [8]time.Duration
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
		timeIt(0, func() error { _, err := run(ctx, c.Env, "pg_dump", "-Fc", "-f", plain, "-d", c.Arg); return err })
		var m *Manifest
		timeIt(1, func() (err error) {
			m, err = Backup(ctx, Options{DSN: dsn, Dir: dir, Plan: "bench", Now: func() time.Time { return time.Now().Add(time.Duration(i) * time.Second) }})
			return err
		})
		timeIt(2, func() error {
			v, err := Verify(ctx, m, pg.AdminDSN())
			if err == nil && !v.OK {
				err = fmt.Errorf("verification failed: %s", v.Reason)
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
		timeIt(5, func() error { _, err := Dump(ctx, client); return err })
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
	b.ReportMetric((ms(sum[1])+ms(sum[2]))/ms(sum[0]), "ratio_verified")
	b.ReportMetric(ms(sum[3]), "pg_restore_ms")
	b.ReportMetric(ms(sum[4]), "restore_ms")
	b.ReportMetric(ms(sum[4])/ms(sum[3]), "ratio_restore")
	b.ReportMetric(ms(sum[5]), "deck_dump_ms")
	b.ReportMetric(ms(sum[7]), "fingerprint_ms")
	b.ReportMetric(0, "ns/op")
}
