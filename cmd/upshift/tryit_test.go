package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// shBlocks is every ```sh block of docs/PAGE, in order.
func shBlocks(t *testing.T, page string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docs", page))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	rest := string(raw)
	for {
		_, after, ok := strings.Cut(rest, "\n```sh\n")
		if !ok {
			break
		}
		block, tail, ok := strings.Cut(after, "\n```\n")
		if !ok {
			t.Fatalf("docs/%s: an sh block is not closed", page)
		}
		blocks = append(blocks, block)
		rest = "\n" + tail
	}
	return blocks
}

// TestTryItPage runs docs/try-it.md as a reader would: every sh block, in
// order, in one bash (set -euo pipefail) from the repository root, with a
// real PostgreSQL (testenv; the page's PG* variables) and free loopback
// ports in the page's address variables. Then it checks the effects the
// page describes: plan's guard verdict and run note, the webhook accepted,
// the load balancer's split (the file the page's lb.sh writes) all on Y,
// and the journal's runs (run 1 rolled back, run 2 completed by the
// agent).
func TestTryItPage(t *testing.T) {
	for _, b := range []string{"bash", "curl", "git", "openssl", "createdb", "dropdb", "pg_dump", "pg_restore", "go"} {
		testenv.NeedBinary(t, b, b)
	}
	pg := testenv.Postgres(t)
	blocks := shBlocks(t, "try-it.md")
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docs", "try-it.md"))
	if err != nil {
		t.Fatal(err)
	}
	// Every fenced block is an sh block the test runs: no command on the
	// page escapes it.
	if fences := strings.Count(string(raw), "\n```"); len(blocks) < 10 || fences != 2*len(blocks) {
		t.Fatalf("docs/try-it.md has %d sh blocks and %d fences: every block must be ```sh", len(blocks), fences)
	}
	if readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md")); err != nil || !strings.Contains(string(readme), "(docs/try-it.md)") {
		t.Errorf("README does not link docs/try-it.md (%v)", err)
	}
	tmp := t.TempDir()
	id := strconv.Itoa(os.Getpid())
	env := append(os.Environ(), "TMPDIR="+tmp, "PGHOST="+pg.Host, "PGPORT="+strconv.Itoa(pg.Port), "PGUSER="+pg.User,
		"X_DB=tryit_x_"+id, "Y_DB=tryit_y_"+id)
	for _, v := range []string{"X_ADMIN", "X_PROXY", "X_STATUS", "Y_ADMIN", "Y_PROXY", "Y_STATUS", "DBLESS_ADMIN", "DBLESS_PROXY", "AGENT_LISTEN"} {
		env = append(env, fmt.Sprintf("%s=127.0.0.1:%d", v, testenv.FreePort(t)))
	}
	t.Cleanup(func() {
		// What the page started, if it stopped half way: every PID file
		// under its work directory; then its databases.
		pids, _ := filepath.Glob(filepath.Join(tmp, "*", "*.pid"))
		for _, f := range pids {
			if b, err := os.ReadFile(f); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
					_ = syscall.Kill(pid, syscall.SIGTERM)
				}
			}
		}
		for _, db := range []string{"tryit_x_" + id, "tryit_y_" + id} {
			c := exec.Command("dropdb", "--if-exists", "--force", db)
			c.Env = env
			if out, err := c.CombinedOutput(); err != nil {
				t.Logf("dropdb %s: %v %s", db, err, out)
			}
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+strings.Join(blocks, "\n"))
	cmd.Dir, cmd.Env = repoRoot, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	try, _ := filepath.Glob(filepath.Join(tmp, "tmp.*"))
	if err != nil {
		logs := ""
		if len(try) == 1 {
			for _, l := range []string{"agent.log", "x.log", "y.log"} {
				if b, err := os.ReadFile(filepath.Join(try[0], l)); err == nil {
					logs += "\n--- " + l + "\n" + string(b)
				}
			}
		}
		t.Fatalf("the page's commands failed: %v\n%s%s", err, out, logs)
	}
	t.Logf("the page's output:\n%s", out)
	for _, want := range []string{
		"Guard: would pass",
		"Next run: run 1 rolled back; to upgrade again, remove rollback { requested = true } and set run = 2.",
		"Ready/RolledBack",
		"poll triggered",
		"Converged",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the page's output lacks %q", want)
		}
	}
	if len(try) != 1 {
		t.Fatalf("the page's work directory: %v", try)
	}
	if w, err := os.ReadFile(filepath.Join(try[0], "lb.weights")); err != nil || strings.TrimSpace(string(w)) != "0 100" {
		t.Errorf("the load balancer's split at the end: %q %v, want all on Y (0 100)", w, err)
	}
	store, err := engine.OpenDir(filepath.Join(try[0], "journal"), engine.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	recs, err := store.Records(ctx, "try-3-9", 0)
	if err != nil {
		t.Fatal(err)
	}
	var runs []string
	for _, r := range recs {
		if r.Kind == engine.KindEvent && (r.Event == engine.EventRunStarted || r.Event == engine.EventRolledBack || r.Event == engine.EventCompleted) {
			runs = append(runs, r.Event)
		}
	}
	if got := strings.Join(runs, " "); got != "run_started rolled_back run_started completed" {
		t.Errorf("the journal's runs: %s; want run 1 rolled back, then run 2 completed", got)
	}
}
