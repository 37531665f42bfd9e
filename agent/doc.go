// Package agent is the long-running GitOps process (`upshift agent`): it
// polls a Git repository of plans (a [Source]; package agent/gitsource
// implements it with go-git), turns the head commit's plan files into the
// desired state, and drives each plan with the engine in a bounded worker
// pool. Merging a plan starts its upgrade; a plan removed while in progress
// (its commit reverted) is rolled back through the engine; a plan removed
// after it completed is archived, never undone. depends_on orders plans; a
// file with lint errors makes its plans invalid without stopping others.
// A plan that changes while its apply runs (a new commit during a pause)
// has that apply cancelled and started again on the new state.
//
// It serves /healthz, /readyz, /metrics, /api/v1/status and a status page
// at / (Handler; the page renders the status JSON with DOM calls only).
// Subpackages: gitsource (polling), webhook (GitHub/GitLab push
// verification), signature (signed commits), leader (one acting agent
// among several on one PostgreSQL journal).
//
// Start reading at agent.go (PollOnce, reconcile, driveAll), then
// status.go.
package agent
