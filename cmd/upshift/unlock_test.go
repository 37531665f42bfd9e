package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
)

// TestUnlock breaks a plan's lease in a directory journal: a live lease is
// refused without --force; with it the lease is broken, the journal names
// who and why, and the old holder's next write is fenced; an expired or
// free lease needs no --force.
func TestUnlock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, err := engine.OpenDir(dir, engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const planFile, planName = "../../examples/dual_cluster/prod-eu.upshift.hcl", "prod-eu-3.9"
	lease, err := store.Acquire(ctx, planName, "agent-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release(ctx)

	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(ctx, args, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		return code, out.String(), errOut.String()
	}
	code, _, errOut := run("unlock", planFile, "--journal-dir", dir, "--reason", "agent-1 died", "--who", "alice")
	if code != 1 || !strings.Contains(errOut, "leased by agent-1") || !strings.Contains(errOut, "--force") {
		t.Fatalf("live lease without --force: exit %d, stderr %q", code, errOut)
	}
	code, out, errOut := run("unlock", planFile, "--journal-dir", dir, "--reason", "agent-1 died", "--who", "alice", "--force")
	if code != 0 || !strings.Contains(out, "broke the live lease of agent-1") {
		t.Fatalf("--force: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	recs, err := store.Records(ctx, planName, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if last.Event != engine.EventLeaseBroken || last.Actor.Who != "alice" {
		t.Fatalf("journal's last record: %+v, want a lease_broken event by alice", last)
	}
	if err := lease.Check(ctx); err == nil {
		t.Fatal("the old holder's lease still checks out after unlock")
	}
	code, out, _ = run("unlock", planFile, "--journal-dir", dir, "--reason", "again", "--who", "alice")
	if code != 0 || !strings.Contains(out, "no lease") {
		t.Fatalf("free lease: exit %d, stdout %q", code, out)
	}
}
