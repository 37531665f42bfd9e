// Package engine will run one plan: observe, decide the next step of the
// strategy's table, act through the drivers, and record intent and outcome
// in the journal (architecture.md, "Reconcile"). Observation is written
// (observe.go, observe_build.go: [Observer] reads everything the loop
// decides from, into an [Observed] value); the step tables, rollback and
// the reconcile loop are not written yet; they come in a later issue.
//
// What is here now is what the drivers and the loop will meet on:
//   - the small interfaces the engine declares for its drivers, each
//     splitting acting from checking, with a compile-time check per
//     implementation in this package's tests: [Router] (router.go, load
//     balancers in package traffic), [Gate] and [Analysis] (gate.go, checks
//     and analyses in package analysis), [Backups] (backup.go, package
//     backup);
//   - the journal (directory and PostgreSQL stores), the per-plan lease
//     and fencing, and failpoints for crash tests (journal*.go, lease*.go,
//     failpoint.go).
//
// Drivers never import engine; engine imports them (their result types and
// Weights are theirs, aliased here where the interfaces name them).
//
// Start reading at observe.go (the first stage of the loop), router.go and
// gate.go for the driver contracts, and journal.go and lease.go for what
// every step will record and check.
package engine
