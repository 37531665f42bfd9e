package engine

import (
	"context"
	"testing"
	"time"
)

// BenchmarkApplyDualCluster runs the dual-cluster upgrade end to end
// (kongsim, real PostgreSQL, nginx, a load through nginx) once per
// iteration and reports the engine's own time per step: each loop
// iteration's wall time minus the time inside observation and the step's
// apply (drivers, commands, pauses), from Outcome.Timing. Target: < 50 ms.
// It also reports the requests the load sent and how many failed.
//
//	go test -run '^$' -bench ApplyDualCluster -benchtime 1x ./engine/
func BenchmarkApplyDualCluster(b *testing.B) {
	for range b.N {
		b.StopTimer()
		w := newDualWorld(b)
		stop := w.load()
		p := lintedPlan(b, w.planSrc(`  approve = ["decommission"]`))
		e := engineFor(b, p, w.sim, w.store, func(c *Config) { c.Progress = nil })
		b.StartTimer()
		out, err := e.Apply(context.Background())
		b.StopTimer()
		res := stop()
		if err != nil || out.Condition.Reason != ReasonConverged {
			b.Fatalf("apply: %+v %v", out.Condition, err)
		}
		var own, maxOwn, wall time.Duration
		for _, st := range out.Timing {
			own += st.Own()
			wall += st.Wall
			maxOwn = max(maxOwn, st.Own())
		}
		n := time.Duration(len(out.Timing))
		b.ReportMetric(float64((own/n).Microseconds())/1000, "own-ms/step")
		b.ReportMetric(float64(maxOwn.Microseconds())/1000, "max-own-ms/step")
		b.ReportMetric(float64((wall/n).Microseconds())/1000, "wall-ms/step")
		b.ReportMetric(float64(len(out.Timing)), "steps")
		b.ReportMetric(float64(res.Requests), "requests")
		b.ReportMetric(float64(res.Failed), "failed")
		b.Logf("dual_cluster: %d steps, engine's own time %.1f ms/step (max %.1f ms, target < 50 ms: %.2f× of target), wall %.0f ms/step; load %d requests, %d failed",
			len(out.Timing), float64(own/n)/1e6, float64(maxOwn)/1e6, float64(own/n)/float64(50*time.Millisecond), float64(wall/n)/1e6, res.Requests, res.Failed)
	}
}
