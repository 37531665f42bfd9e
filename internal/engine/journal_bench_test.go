package engine

import (
	"context"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// benchAppend measures one Append (an Outcome under a lease), the cost the
// engine pays twice per step.
func benchAppend(b *testing.B, s Store) {
	ctx := context.Background()
	l, err := s.Acquire(ctx, "bench", "bench", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Release(ctx)
	in, err := s.Append(ctx, Record{Plan: "bench", Kind: KindIntent, Step: "s", Token: l.Token})
	if err != nil {
		b.Fatal(err)
	}
	rec := Record{Plan: "bench", Kind: KindOutcome, Step: "s", IntentSeq: in.Seq, Result: ResultOK, Token: l.Token,
		Actor: localActor(), Output: "3 migrations processed\n3 executed\n"}
	for b.Loop() {
		if _, err := s.Append(ctx, rec); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	start := time.Now()
	recs, err := s.Records(ctx, "bench", 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(start).Microseconds()), "µs-read-all")
	b.ReportMetric(float64(len(recs)), "records")
}

func BenchmarkDirAppend(b *testing.B) {
	s, err := OpenDir(b.TempDir(), DirOptions{})
	if err != nil {
		b.Fatal(err)
	}
	benchAppend(b, s)
}

func BenchmarkPGAppend(b *testing.B) {
	s, err := OpenPostgres(context.Background(), testenv.Postgres(b).NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchAppend(b, s)
}
