// Package engine runs one plan: observe, decide the next step of the
// strategy's table, act through the drivers, and record intent and outcome
// in the journal (architecture.md, "Reconcile").
//
// Start reading at engine.go (Config, New, decide, Preview) and apply.go
// (the loop: lease, write-ahead journal, failpoints, retries, gates), then
// steps.go (the four strategies' tables) and rollback.go (the way back to
// X, and what needs a database-level restore).
//
//   - Observation (observe.go, observe_build.go): [Observer] reads
//     everything the loop decides from into an [Observed] value, in
//     parallel, never from memory.
//   - History (history.go): the journal's current run of the plan: which
//     steps ended well, whether a rollback was asked for, whether the run
//     completed or was rolled back. A rolled-back plan stays so until its
//     content ([Digest]) changes.
//   - Steps (steps.go): each has done(observation, history), apply,
//     whether it is reversible and how it is undone, and whether it is a
//     point of no return needing a consent item in approve = [...]. Steps
//     whose effect can be observed (versions, migrations, traffic, a node
//     stopped) are judged from the observation; the others (hooks, checks,
//     pauses) from the journal.
//   - The drift guard (engine.go, driftSummary) compares X's live
//     fingerprint with the run's baseline before every traffic step and
//     point of no return.
//   - Drivers (drivers.go, exec.go): the interfaces the engine declares
//     ([Router], [Gate], [Analysis], [Backups], [HookRunner],
//     [ConfigLoader]) and how a plan's blocks become drivers.
//   - The journal (directory and PostgreSQL stores), the per-plan lease
//     and fencing, and failpoints for crash tests (journal*.go, lease*.go,
//     failpoint.go).
//
// Drivers never import engine; engine imports them (their result types and
// Weights are theirs, aliased here where the interfaces name them).
package engine
