package engine

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file watches the sides' nodes between observations: during every
// pause (with or without an analysis) each Y node must keep answering and
// stay ready, each X node must stay up; and a Y node that restarted since
// its staging checks passed is checked again before it gets more traffic
// (kong-facts §1.1: GET / pids.master changes with a restart, node_id
// with a new prefix).

// observeNodes reads X's and Y's nodes only (GET / and readiness), in
// parallel, as Observe does: a pause probes every tick, and the databases,
// backups and fingerprint are not its business.
func (o *Observer) observeNodes(ctx context.Context) (Observed, error) {
	obs := Observed{At: o.now()}
	var wg sync.WaitGroup
	o.readSides(ctx, &wg, &obs)
	wg.Wait()
	return obs, ctx.Err()
}

// health probes every node once, for a pause's tick. An X node that went
// down (and this run did not stop it) stops the plan: traffic is not
// rolled back onto a dead X (xDownUnexpectedly, a haltError). A Y node
// that does not answer, runs another version or is not ready fails the
// pause (a gateError: rollback when on_gate_failure allows). A Y node
// that restarted since the last probe (or the pause's observation) is
// reported once; the next traffic step checks it again (yRestarts). The
// error is also non-nil when ctx ended.
func (r *run) health(ctx context.Context) error {
	e := r.e
	o, err := e.drv.Observer.observeNodes(ctx)
	if err != nil {
		return fmt.Errorf("probe the nodes: %w", err)
	}
	if sd := e.xDownUnexpectedly(&state{obs: o, h: r.state.h, p: e.plan}); sd != nil {
		return &haltError{reason: sd.reason, msg: "during the pause: " + sd.msg}
	}
	var sick []string
	for _, f := range yNodes(o) {
		if ok, why := nodeAt(f, e.plan.To.Version.Value); !ok {
			sick = append(sick, "Y"+nodeName(f)+" "+why)
		}
	}
	if len(sick) > 0 {
		return &gateError{msg: "Y's health during the pause: " + strings.Join(sick, "; ")}
	}
	if r.seenY == nil {
		r.seenY = parseIdentities(identities(yNodes(r.state.obs)))
	}
	for _, c := range yRestarts(r.seenY, o) {
		e.progress(Progress{Step: r.step.name, Title: r.step.title, Phase: PhaseInfo, Elapsed: time.Since(r.start), Index: r.idx, Total: r.total,
			Message: c + " during the pause: it is checked again before it gets more traffic"})
	}
	r.seenY = parseIdentities(identities(yNodes(o)))
	return nil
}

// identityKey is the journal detail holding Y's nodes' identities when
// their staging checks passed ("name=node_id/pids.master", comma
// separated; name "" is the side's own admin_url).
const identityKey = "y_nodes"

// identity is what tells one run of a Kong node from the next.
func identity(f *NodeFacts) string {
	if !f.Reachable {
		return ""
	}
	return f.NodeID + "/" + strconv.Itoa(f.MasterPID)
}

// identities renders fs' identities for identityKey (unreachable nodes
// are left out: nothing of theirs passed).
func identities(fs []*NodeFacts) string {
	var parts []string
	for _, f := range fs {
		if id := identity(f); id != "" {
			parts = append(parts, f.Name+"="+id)
		}
	}
	return strings.Join(parts, ",")
}

func parseIdentities(s string) map[string]string {
	out := map[string]string{}
	for _, p := range strings.Split(s, ",") {
		if name, id, ok := strings.Cut(p, "="); ok {
			out[name] = id
		}
	}
	return out
}

// checkedIdentities is, per Y node, its identity when its staging checks
// last passed in this run (the newest of the ok outcomes that recorded
// one: a rolling node's start, the checks step, a traffic step).
func checkedIdentities(h *history) map[string]string {
	out := map[string]string{}
	seqs := map[string]int64{}
	for _, rec := range h.ok {
		for name, id := range parseIdentities(rec.Details[identityKey]) {
			if rec.Seq > seqs[name] {
				out[name], seqs[name] = id, rec.Seq
			}
		}
	}
	return out
}

// yRestarts lists the Y nodes of o whose identity differs from the one
// in before (by node name), each as "Y node NAME restarted
// (node_id/pids.master A → B)". A node with no identity in before, or not
// answering now, is not listed: it is checked (or found not ready) anyway.
func yRestarts(before map[string]string, o Observed) []string {
	var out []string
	for _, f := range yNodes(o) {
		was, ok := before[f.Name]
		now := identity(f)
		if ok && now != "" && was != now {
			out = append(out, fmt.Sprintf("Y%s restarted (node_id/pids.master %s → %s)", nodeName(f), was, now))
		}
	}
	return out
}
