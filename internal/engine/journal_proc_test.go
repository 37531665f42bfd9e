package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const envProcChild = "UPSHIFT_TEST_JOURNAL_PROC" // "DIR|INDEX" in the child

// TestDirStoreProcesses runs several processes on one journal directory at
// once: each races for one lease and appends to one shared journal. flock
// must make exactly one process win the lease and keep the shared journal's
// sequence gapless.
func TestDirStoreProcesses(t *testing.T) {
	const procs, each = 4, 25
	if v := os.Getenv(envProcChild); v != "" {
		dir, idx, _ := strings.Cut(v, "|")
		procChild(t, dir, idx, procs, each)
		return
	}
	t.Parallel()
	dir := t.TempDir()
	cmds := make([]*exec.Cmd, procs)
	outs := make([]strings.Builder, procs)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^TestDirStoreProcesses$", "-test.count=1")
		cmds[i].Env = append(os.Environ(), fmt.Sprintf("%s=%s|%d", envProcChild, dir, i))
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, outs[i].String())
		}
	}
	winners := 0
	for i := range procs {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("acquire-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) == "won" {
			winners++
		} else if string(b) != "held" {
			t.Errorf("process %d: %s", i, b)
		}
	}
	if winners != 1 {
		t.Errorf("%d processes won the lease, want 1", winners)
	}
	s := openDirT(t, dir, newFakeClock())
	recs := mustRecords(t, s, "shared", 0)
	if len(recs) != procs*each {
		t.Fatalf("%d records, want %d", len(recs), procs*each)
	}
	pids := map[int]int{}
	for i, r := range recs {
		if r.Seq != int64(i+1) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
		pids[r.Actor.PID]++
	}
	if len(pids) != procs {
		t.Errorf("records from %d processes, want %d", len(pids), procs)
	}
}

func procChild(t *testing.T, dir, idx string, procs, each int) {
	s, err := OpenDir(dir, DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	result := "won"
	l, err := s.Acquire(ctx, "race", "proc-"+idx, time.Hour)
	switch {
	case errors.Is(err, ErrLeaseHeld):
		result = "held"
	case err != nil:
		result = err.Error()
	default:
		_ = l // kept until the process exits: a release would let a later process win fairly
	}
	if err := os.WriteFile(filepath.Join(dir, "acquire-"+idx), []byte(result), 0o600); err != nil {
		t.Fatal(err)
	}
	if result == "won" {
		// Live until every process has tried: a holder that exited is
		// taken over at once (lease_proc.go).
		deadline := time.Now().Add(time.Minute)
		for {
			m, _ := filepath.Glob(filepath.Join(dir, "acquire-*"))
			if len(m) >= procs || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i := range each {
		if _, err := s.Append(ctx, Record{Plan: "shared", Kind: KindEvent, Event: fmt.Sprintf("p%s-%d", idx, i), Actor: localActor()}); err != nil {
			t.Fatal(err)
		}
	}
}
