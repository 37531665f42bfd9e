// Package analysis holds Upshift's gates: the measurements that decide
// whether an upgrade may take traffic (checks, before the first traffic
// step) and whether it may keep it (analyses, during every rollout pause).
// Each measurement is a [Result]: Passed, Failed or Inconclusive (no data
// or an unreachable target, which counts as a failure), the measured
// value, and a reason that the engine shows and the journal records. The
// engine declares the interfaces (engine.Gate, engine.Analysis); this
// package does not import it.
//
//   - httpcheck.go: [HTTPCheck], one request through a side's proxy with
//     expected status, headers, body substring and JSON paths
//     (jsonpath.go: the dotted-path syntax).
//   - dpsync.go: [DataPlaneSync], hybrid mode: the control plane lists the
//     new data planes connected with sync_status normal and one non-zero
//     config_hash, stable between two observations.
//   - prometheus.go: [Prometheus], an instant query with min/max bounds.
//   - compare.go and metrics.go: [Compare], Y against X from both
//     clusters' own /metrics (error rate and p99 latency over the pause),
//     mapping Kong 2.8's metric names to 3.x's.
//
// What it does not do: it does not schedule measurements, count failures
// over a pause or roll back (the engine does, from Interval and Failures);
// it does not retry a failed request (a failed measurement is a result).
// Errors behind Inconclusive results are *[Error] values ({Op, Target,
// Err}), never carrying a token.
//
// Start reading at result.go.
package analysis
