package engine

import (
	"bytes"
	"context"
	"errors"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The random-kill test: for each strategy, the real `upshift apply` (built
// from ./cmd/upshift) runs the crash matrix's plan and is SIGKILLed at
// random moments, a bounded number of times, then runs to the end; the
// end state, measured from outside (crashWorld.endState), must equal an
// uninterrupted run's. Meanwhile a non-retrying load goes through nginx:
// each request on a new connection, so Go's client never replays one, and
// any transport error or 5xx counts as failed. nginx runs with
// proxy_next_upstream at its default, "error timeout": nginx itself passes
// a request whose upstream connection fails to the next server (the load
// balancer's behaviour under test, not a client retry). The three
// zero-downtime strategies must see no failed request; in_place runs
// without load (X and Y share the addresses, and it has a downtime).
//
// UPSHIFT_RANDOM_KILL_SEED replays a run (the seed is logged);
// UPSHIFT_RANDOM_KILLS sets the kills per strategy (default 2) for a
// longer run; UPSHIFT_CRASH_STRATEGIES narrows the strategies.
const (
	envRandomKillSeed  = "UPSHIFT_RANDOM_KILL_SEED"
	envRandomKills     = "UPSHIFT_RANDOM_KILLS"
	randomKillsDefault = 2
)

var upshiftBin builtBinary

// upshiftBinary is ./cmd/upshift, built once per test binary.
func upshiftBinary(t testing.TB) string {
	t.Helper()
	return upshiftBin.build(t, "upshift", "github.com/upshift-dev/upshift/cmd/upshift")
}

// TestUpshiftHasNoTestSwitches (issue 10, finding 7): the release binary
// does not contain the names of the test switches, so it cannot read
// them: UPSHIFT_FAILPOINT and UPSHIFT_PAUSE_SCALE set in upshift's
// environment change nothing.
func TestUpshiftHasNoTestSwitches(t *testing.T) {
	b, err := os.ReadFile(upshiftBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{EnvFailpoint, EnvPauseScale} {
		if bytes.Contains(b, []byte(name)) {
			t.Errorf("the upshift binary contains %q: a test switch reachable in production", name)
		}
	}
	// The hooks' production defaults, as upshift has them (this test
	// binary sets them from its environment: compare with an unset one).
	if os.Getenv(EnvFailpoint) == "" && failpoints != nil {
		t.Errorf("failpoints set with %s unset: %v", EnvFailpoint, failpoints)
	}
}

// applyProc is one `upshift apply` child.
type applyProc struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

func (w *crashWorld) startApply(t *testing.T, bin string) *applyProc {
	t.Helper()
	p := &applyProc{}
	p.cmd = exec.Command(bin, "apply", w.planPath, "--journal-dir", w.journalDir, "--holder", "random-kill")
	// The test switches, set to show they are ignored (finding 7): a
	// failpoint at the first step would stop every run.
	p.cmd.Env = append(os.Environ(), EnvFailpoint+"=guard:before", EnvPauseScale+"=0")
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}

// applyToEnd runs apply once to the end. A killed apply's lease is taken
// over at once (its holder process is gone from this host: issue 10,
// finding 11), so a refusal for the lease is a failure.
func (w *crashWorld) applyToEnd(t *testing.T, bin string) string {
	t.Helper()
	for range 3 {
		p := w.startApply(t, bin)
		err := p.cmd.Wait()
		if err == nil {
			return p.out.String()
		}
		if !w.resolveDoubt(t, p.out.String()) {
			t.Fatalf("upshift apply: %v\n%s", err, p.out.String())
		}
	}
	t.Fatal("upshift apply still stalled after the migrations were run by hand")
	return ""
}

// resolveDoubt plays the person a MigrationInDoubt stall asks for: a kill
// while kong migrations ran leaves them in doubt, and the engine never
// runs them again (docs/engine.md, "Evidence before destruction"); the
// person runs the command by hand (as the crash matrix does). False when
// out is not such a stall.
func (w *crashWorld) resolveDoubt(t *testing.T, out string) bool {
	t.Helper()
	for _, cmd := range []string{"up", "finish"} {
		if strings.Contains(out, "Stalled/"+ReasonMigrationInDoubt+": migrations_"+cmd+":") {
			t.Logf("a kill left kong migrations %s in doubt: run by hand, as the stall asks", cmd)
			w.kongByHand(t, cmd)
			return true
		}
	}
	return false
}

// noRetryLoad sends GETs through nginx until stopped, each on a new
// connection; it counts failures (transport errors, status >= 500) and
// answers per Kong version.
type noRetryLoad struct {
	mu       sync.Mutex
	requests int
	failed   int
	errs     []string
	by       map[string]int
}

func startNoRetryLoad(ctx context.Context, url string, workers int) (*noRetryLoad, func()) {
	l := &noRetryLoad{by: map[string]int{}}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond) // pacing: about 50 requests per second per worker
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := client.Do(req)
				if ctx.Err() != nil {
					return // stopping: not a failure of the load balancer
				}
				l.mu.Lock()
				l.requests++
				switch {
				case err != nil:
					l.failed++
					if len(l.errs) < 5 {
						l.errs = append(l.errs, err.Error())
					}
				case resp.StatusCode >= 500:
					l.failed++
					if len(l.errs) < 5 {
						l.errs = append(l.errs, resp.Status)
					}
				default:
					l.by[viaVersion(resp)]++
				}
				l.mu.Unlock()
				if resp != nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	return l, func() { cancel(); wg.Wait() }
}

// randomKillSeed is the seed from UPSHIFT_RANDOM_KILL_SEED, or a new one.
func randomKillSeed(t *testing.T) uint64 {
	if v := os.Getenv(envRandomKillSeed); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envRandomKillSeed, v, err)
		}
		return s
	}
	return uint64(time.Now().UnixNano())
}

func TestRandomKillsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real upshift apply processes")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	kills := randomKillsDefault
	if v := os.Getenv(envRandomKills); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("%s=%q: want a number >= 0", envRandomKills, v)
		}
		kills = n
	}
	seed := randomKillSeed(t)
	t.Logf("random kills: seed %d (replay with %s=%d), %d kills per strategy", seed, envRandomKillSeed, seed, kills)
	bin := upshiftBinary(t)
	start := time.Now()
	t.Cleanup(func() { t.Logf("random kills: %s", time.Since(start).Round(time.Second)) })
	for _, strategy := range crashStrategies() {
		t.Run(strategy, func(t *testing.T) {
			t.Parallel()
			h := fnv.New64a()
			h.Write([]byte(strategy))
			rng := rand.New(rand.NewPCG(seed, h.Sum64()))

			ref := newCrashWorld(t, strategy)
			refStart := time.Now()
			out := ref.applyToEnd(t, bin)
			span := time.Since(refStart) // the kills fall in an uninterrupted run's span
			if !strings.Contains(out, "Converged") {
				t.Fatalf("uninterrupted apply did not converge:\n%s", out)
			}
			want := ref.endState(t)
			_ = ref.fleet.Close()

			w := newCrashWorld(t, strategy)
			var load *noRetryLoad
			stopLoad := func() {}
			if w.ng != nil {
				load, stopLoad = startNoRetryLoad(context.Background(), w.ng.URL()+"/health", 2)
			}
			killed := 0
			for k := 0; k < kills; k++ {
				// A random moment within an uninterrupted run's span: the
				// seed gives the fractions of it, so a replay kills at
				// about the same point of progress.
				frac := rng.Float64()
				after := time.Duration(frac * float64(span))
				p := w.startApply(t, bin)
				exited := make(chan error, 1)
				go func() { exited <- p.cmd.Wait() }()
				select {
				case err := <-exited:
					if err == nil {
						t.Logf("kill %d: apply finished before %s", k+1, after.Round(time.Millisecond))
						k = kills // converged: nothing left to kill
						continue
					}
					if w.resolveDoubt(t, p.out.String()) {
						continue // an earlier kill's doubt, resolved by hand; this kill is spent
					}
					t.Fatalf("apply failed before the kill: %v\n%s", err, p.out.String())
				case <-time.After(after):
				}
				_ = p.cmd.Process.Signal(syscall.SIGKILL)
				err := <-exited
				var ee *exec.ExitError
				if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() {
					killed++
					t.Logf("kill %d: SIGKILL after %s (%.2f of %s), last output: %s", k+1, after.Round(time.Millisecond), frac, span.Round(time.Millisecond), lastOutputLine(p.out.String()))
				}
			}
			out = w.applyToEnd(t, bin)
			stopLoad()
			if !strings.Contains(out, "Converged") {
				t.Fatalf("apply after %d kills did not converge:\n%s", killed, out)
			}
			if got := w.endState(t); got != want {
				t.Errorf("end state after %d kills (seed %d)\n got %s\nwant %s", killed, seed, got, want)
			}
			w.checkJournal(t)
			if load != nil {
				t.Logf("non-retrying load through nginx: %d requests, %d failed, by version %v", load.requests, load.failed, load.by)
				if load.failed != 0 {
					t.Errorf("%d of %d requests failed through nginx (seed %d), first: %v", load.failed, load.requests, seed, load.errs)
				}
			}
		})
	}
}

func lastOutputLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
