package kongsim

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// BenchmarkMigrateRateLimiting100k times `kong migrations up` and `finish`
// on a 3.5.0 database holding 100,000 rate-limiting plugins (seeded on as
// many consumers; seeding is not timed), for two versions of Y:
//   - to=3.6.1: rate-limiting 006_350_to_360 has no teardown at 3.6.x, so
//     up_ms holds all of it (config.redis built from the flat redis_*
//     fields and the flat fields removed, in one UPDATE) with core 022's
//     step; finish_ms is a finish with nothing pending.
//   - to=3.7.1 (a hop Kong does not guarantee, timed for the two-phase
//     text): up_ms is 006's up (config.redis filled, flat fields kept)
//     with core 022 and 023, finish_ms its teardown (flat fields removed).
//
// The plugins are counted after each command in the shape that command
// must leave, so a migration that did nothing cannot look fast.
//
// Run: go test -run '^$' -bench MigrateRateLimiting100k -benchtime 1x -timeout 30m ./internal/kongsim/
func BenchmarkMigrateRateLimiting100k(b *testing.B) {
	for _, to := range []string{"3.6.1", "3.7.1"} {
		b.Run("to="+to, func(b *testing.B) { benchMigrateRateLimiting(b, to, 100000) })
	}
}

func benchMigrateRateLimiting(b *testing.B, to string, n int) {
	ctx := context.Background()
	var up, finish, seed time.Duration
	// shapes counts the rate-limiting plugins with config.redis, and with
	// the flat redis_host still there.
	shapes := func(dsn string) (nested, flat int) {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE config ? 'redis'), count(*) FILTER (WHERE config ? 'redis_host')
			FROM plugins WHERE name = 'rate-limiting'`).Scan(&nested, &flat); err != nil {
			b.Fatal(err)
		}
		return nested, flat
	}
	// After up, 3.6.x has removed the flat fields; 3.7+ keeps them until
	// finish.
	flatAfterUp := 0
	if to != "3.6.1" {
		flatAfterUp = n
	}
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
		for _, c := range []struct {
			cmd  string
			d    *time.Duration
			flat int
		}{{"up", &up, flatAfterUp}, {"finish", &finish, 0}} {
			b.StartTimer()
			start := time.Now()
			code, _, errOut, err := Migrate(ctx, dsn, to, c.cmd)
			*c.d += time.Since(start)
			b.StopTimer()
			if err != nil || code != 0 {
				b.Fatalf("migrations %s %s: exit %d %v %s", c.cmd, to, code, err, errOut)
			}
			if nested, flat := shapes(dsn); nested != n || flat != c.flat {
				b.Fatalf("after %s %s: %d of %d rate-limiting plugins have config.redis, %d the flat fields; want %d, %d", c.cmd, to, nested, n, flat, n, c.flat)
			}
		}
	}
	per := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(b.N) }
	b.ReportMetric(per(seed), "seed_ms")
	b.ReportMetric(per(up), "up_ms")
	b.ReportMetric(per(finish), "finish_ms")
	b.ReportMetric(0, "ns/op")
}
