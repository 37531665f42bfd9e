package engine

import (
	"context"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/testenv"
)

func openPGT(t *testing.T, dsn string) *PGStore {
	t.Helper()
	s, err := OpenPostgres(ctxT(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newPGHarness(t *testing.T) *storeHarness {
	dsn := testenv.Postgres(t).NewDatabase(t)
	return &storeHarness{
		open: func(t *testing.T) Store { return openPGT(t, dsn) },
		ttl:  2 * time.Second, // real time: long enough for renewals on a loaded 2-core machine
		advance: func(t *testing.T, d time.Duration) {
			// Poll the database's clock (the one leases are judged by)
			// until d has passed on it.
			s := openPGT(t, dsn)
			var start time.Time
			if err := s.pool.QueryRow(ctxT(t), "select clock_timestamp()").Scan(&start); err != nil {
				t.Fatal(err)
			}
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			deadline := time.After(d + 20*time.Second)
			for {
				var now time.Time
				if err := s.pool.QueryRow(ctxT(t), "select clock_timestamp()").Scan(&now); err != nil {
					t.Fatal(err)
				}
				if now.Sub(start) >= d {
					return
				}
				select {
				case <-tick.C:
				case <-deadline:
					t.Fatalf("database clock did not advance by %v", d)
				}
			}
		},
	}
}

func TestPGStoreConformance(t *testing.T) {
	t.Parallel()
	testStoreConformance(t, newPGHarness)
}

// TestPGStoreSchemaConcurrent: several stores creating the tables at once
// on a fresh database all succeed (the advisory lock serialises them).
func TestPGStoreSchemaConcurrent(t *testing.T) {
	t.Parallel()
	dsn := testenv.Postgres(t).NewDatabase(t)
	errs := make(chan error, 5)
	for range 5 {
		go func() {
			s, err := OpenPostgres(context.Background(), dsn)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 5 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
