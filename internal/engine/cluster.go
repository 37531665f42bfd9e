package engine

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// One run per cluster (docs/runs.md). A plan's lease keeps two runners of
// one plan apart; two plans of one cluster (applied file by file, or one by
// the agent and one from a checkout) have two leases, so before a new run
// starts the engine looks, in the same store, for an unfinished run (not
// completed, not rolled back) of another plan whose run_started record
// names the same cluster, and refuses to start while there is one. Plans
// chained with depends_on run in turn: the later one starts once the
// earlier one's run has completed.
//
// The check and the run_started record are two steps: two plans of one
// cluster started within the same instant can both pass it. The guard's
// look at Y (guardYProblems) is the second line for that case.

// ErrClusterBusy: another plan of the same cluster has an unfinished run.
var ErrClusterBusy = errors.New("another run of this cluster is unfinished")

// ClusterRunError names the unfinished run that keeps a plan from starting.
type ClusterRunError struct {
	Plan, Cluster string
	// The other run: its plan, run_started's seq and time, the commit it
	// was started from, who started it, and who holds its lease now.
	Other   string
	Seq     int64
	Started time.Time
	Commit  string
	Starter string
	Holder  string // "" when its lease is free
	Expires time.Time
}

func (e *ClusterRunError) Error() string {
	s := fmt.Sprintf("plan %q: cluster %q has an unfinished run: plan %q, run started at seq %d (%s) by %s",
		e.Plan, e.Cluster, e.Other, e.Seq, e.Started.UTC().Format(time.RFC3339), e.Starter)
	if e.Commit != "" {
		s += ", commit " + short(e.Commit)
	}
	if e.Holder != "" {
		s += fmt.Sprintf(", lease held by %s until %s", e.Holder, e.Expires.UTC().Format(time.RFC3339))
	} else {
		s += ", lease free (no runner at work now)"
	}
	return s
}

func (e *ClusterRunError) Is(target error) bool { return target == ErrClusterBusy }

// clusterRun returns the unfinished run of another plan of this plan's
// cluster in the store, if any.
func (e *Engine) clusterRun(ctx context.Context) (*ClusterRunError, error) {
	cluster := e.plan.Cluster.Value
	if cluster == "" {
		return nil, nil
	}
	names, err := e.cfg.Store.Plans(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the journal's plans: %w", err)
	}
	for _, n := range names {
		if n == e.plan.Name {
			continue
		}
		recs, err := e.cfg.Store.Records(ctx, n, 0)
		if err != nil {
			return nil, fmt.Errorf("read the journal of plan %q: %w", n, err)
		}
		info := runInfo(recs)
		if !info.InProgress() || info.Cluster != cluster {
			continue
		}
		ce := &ClusterRunError{Plan: e.plan.Name, Cluster: cluster, Other: n, Seq: info.StartSeq, Started: info.StartedAt,
			Commit: info.Commit, Starter: info.Starter}
		st, err := e.cfg.Store.LeaseState(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("read the lease of plan %q: %w", n, err)
		}
		if st.Live {
			ce.Holder, ce.Expires = st.Holder, st.Expires
		}
		return ce, nil
	}
	return nil, nil
}
