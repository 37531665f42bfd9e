package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const envFailpointChild = "UPSHIFT_TEST_FAILPOINT_DIR"

// failpointChild plays a tiny engine run in a subprocess: two steps, each
// intent → Apply → outcome, with the failpoints where the engine puts them.
// It exits 0 when no failpoint fires.
func failpointChild(t *testing.T, dir string) {
	s, err := OpenDir(dir, DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.Acquire(context.Background(), "p", "child", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	j := &Journal{Store: s, Lease: l}
	ctx := context.Background()
	if _, err := j.Event(ctx, "pause", map[string]string{"scaled": ScalePause(10 * time.Minute).String()}); err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"backup", "migrate"} {
		in, err := j.Intent(ctx, step, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		Failpoint(step, PhaseBefore)
		if step == "migrate" && FailpointDuring(step) { // only migrate runs a child process
			// A step with a child process: start it, then crash.
			cmd := exec.CommandContext(l.Context(), "sleep", "60")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "child.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
				t.Fatal(err)
			}
			Failpoint(step, PhaseDuring)
		}
		Failpoint(step, PhaseAfter)
		if _, err := j.Outcome(ctx, in, ResultOK, nil, "done", time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestFailpointExit re-runs this test binary with UPSHIFT_FAILPOINT set and
// checks the exit code and the journal the crash leaves.
func TestFailpointExit(t *testing.T) {
	if dir := os.Getenv(envFailpointChild); dir != "" {
		failpointChild(t, dir)
		return
	}
	t.Parallel()
	cases := []struct {
		spec        string
		wantExit    int
		wantPending string // step of the pending intent; "" for none
		wantRecords int
	}{
		{"migrate:before", FailpointExitCode, "migrate", 4},
		{"migrate:during", FailpointExitCode, "migrate", 4},
		{"other:before, migrate:after", FailpointExitCode, "migrate", 4},
		{"backup:after", FailpointExitCode, "backup", 2},
		{"*:before", FailpointExitCode, "backup", 2},
		{"backup:during", 0, "", 5}, // backup runs no child process: "during" never asks
		{"other:before,migrate:sideways", 0, "", 5},
		{"", 0, "", 5},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestFailpointExit$", "-test.count=1")
			cmd.Env = append(os.Environ(), envFailpointChild+"="+dir, EnvFailpoint+"="+tc.spec, EnvPauseScale+"=0.01")
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantExit {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.wantExit, out)
			}
			if tc.wantExit == FailpointExitCode && !strings.Contains(string(out), "failpoint") {
				t.Errorf("no failpoint message:\n%s", out)
			}
			if strings.Contains(tc.spec, "sideways") && !strings.Contains(string(out), `"migrate:sideways"`) {
				t.Errorf("bad entry not reported:\n%s", out)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "child.pid")); err == nil {
				pid, _ := strconv.Atoi(string(b))
				// The crash left the step's child running, as kill -9 would.
				if err := syscall.Kill(pid, 0); err != nil {
					t.Errorf("step's child %d not running after the crash: %v", pid, err)
				}
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}

			s := openDirT(t, dir, newFakeClock())
			recs := mustRecords(t, s, "p", 0)
			if len(recs) != tc.wantRecords {
				t.Fatalf("%d records, want %d: %+v", len(recs), tc.wantRecords, recs)
			}
			if got := recs[0].Details["scaled"]; got != "6s" {
				t.Errorf("ScalePause(10m) with scale 0.01 = %s, want 6s", got)
			}
			r, ok, err := Pending(ctxT(t), s, "p")
			if err != nil {
				t.Fatal(err)
			}
			if got := ""; ok {
				got = r.Step
				if got != tc.wantPending {
					t.Errorf("pending %s, want %s", got, tc.wantPending)
				}
			} else if tc.wantPending != "" {
				t.Errorf("no pending intent, want %s", tc.wantPending)
			}
			if tc.wantExit == 0 {
				return
			}
			// The dead process held the lease on this host: the next
			// Acquire takes it over at once (lease_proc.go) and journals it.
			l := mustAcquire(t, s, "p", "restarted", time.Hour)
			if last := mustRecords(t, s, "p", 0); last[len(last)-1].Event != EventLeaseBroken || last[len(last)-1].Details["holder"] != "child" {
				t.Errorf("takeover of the dead child's lease not journaled: %+v", last[len(last)-1])
			}
			j := &Journal{Store: s, Lease: l}
			if _, err := j.Outcome(ctxT(t), *r, ResultSkipped, nil, "observed done", 0); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := Pending(ctxT(t), s, "p"); ok {
				t.Error("still pending after the outcome")
			}
		})
	}
}

func TestParseFailpoints(t *testing.T) {
	fps, err := parseFailpoints(" a:before ,b:during,a:after,,x:y:after")
	if err != nil {
		t.Fatal(err)
	}
	want := "map[a:map[after:true before:true] b:map[during:true] x:y:map[after:true]]"
	if got := fmt.Sprint(fps); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	fps, err = parseFailpoints("a:before,nocolon,b:later,:after")
	if err == nil || !strings.Contains(err.Error(), "nocolon") || !strings.Contains(err.Error(), "b:later") {
		t.Errorf("error %v does not name the bad entries", err)
	}
	if !fps["a"][PhaseBefore] || len(fps) != 1 {
		t.Errorf("good entries not kept: %v", fps)
	}
	if fps, err := parseFailpoints(""); fps != nil || err != nil {
		t.Errorf("unset: %v, %v", fps, err)
	}
}

func TestPauseScale(t *testing.T) {
	for in, want := range map[string]float64{"": 1, "0": 0, "0.5": 0.5, "2": 2} {
		if got, err := parsePauseScale(in); err != nil || got != want {
			t.Errorf("parsePauseScale(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "x", "NaN", "Inf"} {
		if got, err := parsePauseScale(in); err == nil || got != 1 {
			t.Errorf("parsePauseScale(%q) = %v, %v; want 1 and an error", in, got, err)
		}
	}
	if os.Getenv(EnvPauseScale) == "" && ScalePause(time.Minute) != time.Minute {
		t.Error("ScalePause changed a pause with the variable unset")
	}
}

// BenchmarkFailpointUnset shows the cost of a failpoint call when the
// variable is unset.
func BenchmarkFailpointUnset(b *testing.B) {
	if os.Getenv(EnvFailpoint) != "" {
		b.Skip(EnvFailpoint + " is set")
	}
	for b.Loop() {
		Failpoint("migrate", PhaseBefore)
	}
}
