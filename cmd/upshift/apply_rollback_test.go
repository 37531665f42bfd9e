package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestApplyRollbackInterruptsALongPause: while upshift apply waits out a
// 10-minute pause (its analysis measured every 5 minutes), the plan file
// is rewritten with rollback { requested = true }: the running apply stops
// the pause, records it cancelled, and applies the new plan, which sends
// all traffic back to X, well before the pause would have ended.
func TestApplyRollbackInterruptsALongPause(t *testing.T) {
	testenv.NeedBinary(t, "curl", "curl") // the fleet's start/stop hooks
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sb := &sandbox{strategy: "rolling", dir: t.TempDir(), out: io.Discard}
	if err := sb.setupNodes(ctx, t, "3.8.0", "3.9.1"); err != nil {
		t.Fatal(err)
	}
	write := func(extra string) {
		t.Helper()
		if err := sb.writePlan(extra); err != nil {
			t.Fatal(err)
		}
		src, err := os.ReadFile(sb.planPath())
		if err != nil {
			t.Fatal(err)
		}
		src = bytes.Replace(src, []byte(`pause  = "2s"`), []byte(`pause  = "10m"`), 1)
		src = bytes.Replace(src, []byte(`interval          = "1s"`), []byte(`interval          = "5m"`), 1)
		if err := os.WriteFile(sb.planPath(), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	journal := t.TempDir()
	var mu sync.Mutex
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"apply", sb.planPath(), "--journal-dir", journal},
			&streams{In: strings.NewReader(""), Out: lockedWriter{&mu, &out}, Err: lockedWriter{&mu, &errOut}})
	}()
	store, err := engine.OpenDir(journal, engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	intent := func(step string) *engine.Record {
		recs, _ := store.Records(ctx, "sandbox-rolling", 0)
		for _, r := range recs {
			if r.Kind == engine.KindIntent && r.Step == step {
				return &r
			}
		}
		return nil
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("waiting for %s\nstdout:\n%s\nstderr:\n%s", what, out.String(), errOut.String())
			}
			select {
			case code := <-done:
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("apply exited %d while waiting for %s\nstdout:\n%s\nstderr:\n%s", code, what, out.String(), errOut.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	waitFor("the 10-minute pause at 10%", func() bool { return intent("pause_10") != nil })
	write("  rollback {\n    requested = true\n  }\n")
	written := time.Now()
	waitFor("rollback_traffic to begin", func() bool { return intent("rollback_traffic") != nil })
	// Within poll's 90 s, far less than the pause: the figure is logged.
	t.Logf("rollback_traffic began %s after the plan file requested it", intent("rollback_traffic").Time.Sub(written).Round(time.Millisecond))
	var code int
	select {
	case code = <-done:
	case <-ctx.Done():
		t.Fatal("apply did not finish the rollback")
	}
	mu.Lock()
	stdout := out.String()
	mu.Unlock()
	if code != exitOK || !strings.Contains(stdout, "now requests a rollback") || !strings.Contains(stdout, "Ready/RolledBack") {
		t.Fatalf("apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, errOut.String())
	}
	recs, _ := store.Records(ctx, "sandbox-rolling", 0)
	for _, r := range recs {
		if r.Kind == engine.KindOutcome && r.Step == "pause_10" && r.Result != engine.ResultCancelled {
			t.Errorf("pause_10's outcome: %s, want cancelled", r.Result)
		}
	}
	if w, err := os.ReadFile(sb.ng.UpstreamFile()); err != nil || !strings.Contains(string(w), "Split: from 100% / to 0%") {
		t.Errorf("upstream after the rollback (%v):\n%s", err, w)
	}
}

// lockedWriter serialises writes to w (apply prints from more than one
// goroutine's view of time; the test reads while it runs).
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
