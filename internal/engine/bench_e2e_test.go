package engine

import (
	"context"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/testenv"
	"github.com/upshift-dev/upshift/plan"
)

// BenchmarkApply runs each strategy's upgrade end to end (kongsim, real
// PostgreSQL, nginx, a load of 100 requests/s) once per iteration and
// reports, per strategy, the engine's own time per step (each loop
// iteration's wall time minus the time inside observation and the step's
// apply: drivers, commands, pauses; from Outcome.Timing; target < 50 ms)
// and the requests the load sent and how many failed. The load goes
// through nginx, which passes a failed attempt to the next server (the
// retrying client of the issue), except in place: there it goes straight
// to X's proxy address, which Y takes over, and its failures are the
// downtime.
//
//	go test -run '^$' -bench Apply -benchtime 1x ./internal/engine/
func BenchmarkApply(b *testing.B) {
	type world struct {
		load  func() testenv.LoadResult
		apply func() (Outcome, error)
	}
	worlds := []struct {
		name string
		make func(b *testing.B) world
	}{
		{"dual_cluster", func(b *testing.B) world {
			w := newDualWorld(b)
			e := engineFor(b, lintedPlan(b, w.planSrc(`  approve_in_advance = ["decommission"]`)), w.sim, w.store, quiet)
			return world{w.load(), func() (Outcome, error) { return e.Apply(context.Background()) }}
		}},
		{"blue_green", func(b *testing.B) world {
			w := newBGWorld(b)
			e := engineFor(b, lintedPlan(b, w.planSrc(`["sim", "stop", "x"]`, `  approve_in_advance = ["finish", "decommission"]`+"\n")), w.sim, w.store, quiet)
			return world{(&dualWorld{ng: w.ng}).load(), func() (Outcome, error) { return e.Apply(context.Background()) }}
		}},
		{"in_place", func(b *testing.B) world {
			w := newCrashWorld(b, "in_place")
			set, diags := plan.NewParser().LoadPaths(w.planPath)
			if diags.HasErrors() {
				b.Fatal(diags)
			}
			e, err := New(Config{Plan: set.Plans[0], Store: w.store, Holder: "bench", Drain: -1, WaitTimeout: 20 * time.Second,
				RetryBase: 50 * time.Millisecond, PollInterval: 50 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			_, proxy, _ := w.fleet.URLs("x")
			return world{directLoad(proxy), func() (Outcome, error) { return e.Apply(context.Background()) }}
		}},
		{"rolling", func(b *testing.B) world {
			w := newRollingWorld(b)
			e := engineFor(b, lintedPlan(b, w.planSrc("  approve_in_advance = [\"decommission\"]\n")), w.sim, w.store, quiet)
			return world{w.load(), func() (Outcome, error) { return e.Apply(context.Background()) }}
		}},
		{"hybrid_dp", func(b *testing.B) world {
			w := newHybridWorld(b, "3.9.1", "3.9.1")
			e := w.engine(b, w.planSrc("3.9.1", "  approve_in_advance = [\"decommission\"]\n"), quiet)
			return world{w.load(), func() (Outcome, error) { return e.Apply(context.Background()) }}
		}},
	}
	for _, wd := range worlds {
		b.Run(wd.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				w := wd.make(b)
				b.StartTimer()
				out, err := w.apply()
				b.StopTimer()
				res := w.load()
				if err != nil || out.Condition.Reason != ReasonConverged {
					b.Fatalf("apply: %+v %v", out.Condition, err)
				}
				report(b, wd.name, out, res)
			}
		})
	}
}

func quiet(c *Config) { c.Progress = nil }

// directLoad sends the load straight to one proxy URL (no retry).
func directLoad(proxy string) func() testenv.LoadResult {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan testenv.LoadResult, 1)
	go func() {
		done <- testenv.Load{URL: proxy + "/health", Rate: 100, Workers: 4, Duration: 5 * time.Minute, Classify: viaVersion}.Run(ctx, nil)
	}()
	var res *testenv.LoadResult
	return func() testenv.LoadResult {
		if res == nil {
			cancel()
			r := <-done
			res = &r
		}
		return *res
	}
}

func report(b *testing.B, strategy string, out Outcome, res testenv.LoadResult) {
	var own, maxOwn, wall time.Duration
	for _, st := range out.Timing {
		own += st.Own()
		wall += st.Wall
		maxOwn = max(maxOwn, st.Own())
	}
	n := time.Duration(max(len(out.Timing), 1))
	b.ReportMetric(float64((own/n).Microseconds())/1000, "own-ms/step")
	b.ReportMetric(float64(maxOwn.Microseconds())/1000, "max-own-ms/step")
	b.ReportMetric(float64((wall/n).Microseconds())/1000, "wall-ms/step")
	b.ReportMetric(float64(len(out.Timing)), "steps")
	b.ReportMetric(float64(res.Requests), "requests")
	b.ReportMetric(float64(res.Failed), "failed")
	b.Logf("%s: %d steps, engine's own time %.1f ms/step (max %.1f ms, target < 50 ms: %.2f× of target), wall %.0f ms/step; load %d requests, %d failed, by version %v",
		strategy, len(out.Timing), float64(own/n)/1e6, float64(maxOwn)/1e6, float64(own/n)/float64(50*time.Millisecond), float64(wall/n)/1e6,
		res.Requests, res.Failed, res.By)
}
