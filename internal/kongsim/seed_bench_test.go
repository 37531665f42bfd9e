package kongsim

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// BenchmarkMigrateRateLimiting100k times `kong migrations up` and `finish`
// of 3.6.1 on a 3.5.0 database holding 100,000 rate-limiting plugins
// (seeded on as many consumers; seeding is not timed): up_ms is
// rate-limiting 006_350_to_360's up (config.redis filled from the flat
// redis_* fields) and core 022's, finish_ms its teardown (the flat fields
// removed), whatever kongsim's migration does on this branch
// (internal/migrations/steps.go). The plugins are counted afterwards with
// their new shape, so a migration that did nothing cannot look fast.
//
// Run: go test -run '^$' -bench MigrateRateLimiting100k -benchtime 1x -timeout 30m ./internal/kongsim/
func BenchmarkMigrateRateLimiting100k(b *testing.B) {
	const n = 100000
	ctx := context.Background()
	var up, finish, seed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dsn := testenv.Postgres(b).NewDatabase(b)
		if code, _, errOut, err := Migrate(ctx, dsn, "3.5.0", "bootstrap"); err != nil || code != 0 {
			b.Fatalf("bootstrap 3.5.0: exit %d %v %s", code, err, errOut)
		}
		start := time.Now()
		if _, err := Seed(ctx, dsn, "3.5.0", SeedSpec{Consumers: n, RateLimiting: n}); err != nil {
			b.Fatal(err)
		}
		seed += time.Since(start)
		b.StartTimer()
		for _, c := range []struct {
			cmd string
			d   *time.Duration
		}{{"up", &up}, {"finish", &finish}} {
			start := time.Now()
			if code, _, errOut, err := Migrate(ctx, dsn, "3.6.1", c.cmd); err != nil || code != 0 {
				b.Fatalf("migrations %s 3.6.1: exit %d %v %s", c.cmd, code, err, errOut)
			}
			*c.d += time.Since(start)
		}
		b.StopTimer()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		var moved int
		err = conn.QueryRow(ctx, `SELECT count(*) FROM plugins WHERE name = 'rate-limiting' AND config ? 'redis' AND NOT config ? 'redis_host'`).Scan(&moved)
		conn.Close(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if moved != n {
			b.Fatalf("%d of %d rate-limiting plugins have 3.6's config shape after the migrations", moved, n)
		}
	}
	per := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(b.N) }
	b.ReportMetric(per(seed), "seed_ms")
	b.ReportMetric(per(up), "up_ms")
	b.ReportMetric(per(finish), "finish_ms")
	b.ReportMetric(0, "ns/op")
}
