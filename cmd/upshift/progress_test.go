package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/upshift-dev/upshift/internal/engine"
)

// pgxTwice is a pgx connect error as pgx words it with sslmode=prefer:
// the TLS and the plain attempt each have a line, with the same words.
const pgxTwice = "kong: read database kong: failed to connect to `user=kong database=kong`:\n" +
	"\t127.0.0.1:55432 (127.0.0.1): dial error: dial tcp 127.0.0.1:55432: connect: connection refused\n" +
	"\t127.0.0.1:55432 (127.0.0.1): dial error: dial tcp 127.0.0.1:55432: connect: connection refused"

// checkWrapped fails unless out holds every word of each of texts in
// order (nothing cut), no line is wider than width and continuation
// lines are indented.
func checkWrapped(t *testing.T, out string, width int, texts ...string) {
	t.Helper()
	if strings.Contains(out, "…") || strings.Contains(out, "...") {
		t.Errorf("output cut:\n%s", out)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i, l := range lines {
		if n := utf8.RuneCountInString(l); n > width {
			t.Errorf("line %d is %d columns wide (max %d): %q", i+1, n, width, l)
		}
		if i > 0 && !strings.HasPrefix(l, "    ") && !strings.HasPrefix(l, "03:04:05 ") {
			t.Errorf("continuation line %d not indented: %q", i+1, l)
		}
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, text := range texts {
		if w := strings.Join(strings.Fields(text), " "); !strings.Contains(flat, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// TestProgressWrapsNotCuts: a long cause (a failed reload's nginx error
// at the end of its line) wraps at 100 columns off a terminal, indented
// under the step, with nothing cut; a pgx error's repeated attempt line
// is printed once.
func TestProgressWrapsNotCuts(t *testing.T) {
	var b bytes.Buffer
	p := newProgressPrinter(&b)
	p.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	nginxErr := "traffic: set weights 90/10: reload nginx: nginx -s reload: exit status 1: nginx: " +
		"[emerg] unknown directive \"sever\" in /etc/nginx/upstream.conf:3 [error] open() \"/run/nginx.pid\" failed (2: No such file or directory)"
	p.Progress(engine.Progress{Step: "traffic_10", Phase: engine.PhaseFailed, Index: 8, Total: 14, Elapsed: time.Second, Message: nginxErr})
	checkWrapped(t, b.String(), 100, "03:04:05 [8/14] traffic_10: FAILED after 1s: "+nginxErr)
	if !strings.HasSuffix(strings.Join(strings.Fields(b.String()), " "), "(2: No such file or directory)") {
		t.Errorf("the end of the cause is not shown:\n%s", b.String())
	}

	b.Reset()
	p.Progress(engine.Progress{Step: "pause_50", Phase: engine.PhaseWait, Index: 11, Total: 14, Elapsed: 6 * time.Second,
		Remaining: 54 * time.Second, Message: "waiting: Y's db cannot be read: " + pgxTwice})
	out := b.String()
	checkWrapped(t, out, 100, "127.0.0.1:55432 (127.0.0.1): dial error: dial tcp 127.0.0.1:55432: connect: connection refused, gives up in 54s, elapsed 6s")
	if n := strings.Count(out, "dial error"); n != 1 {
		t.Errorf("the pgx error line is printed %d times:\n%s", n, out)
	}
}

// TestProgressShowsEveryCheckAndSkip: each check's result is a line of
// its own, whole; a skipped step keeps its number and says why.
func TestProgressShowsEveryCheckAndSkip(t *testing.T) {
	var b bytes.Buffer
	p := newProgressPrinter(&b)
	p.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	p.Progress(engine.Progress{Step: "migrations_finish", Phase: engine.PhaseSkipped, Index: 5, Total: 14, Message: "no pending migrations for 3.9.1"})
	checks := []string{
		"key_auth_rejects_anonymous on Y (http://127.0.0.1:19911): passed (status 401): GET /orders on http://127.0.0.1:19911 answered as expected",
		"key_auth_accepts_a_key on Y (http://127.0.0.1:19911): passed (status 200): GET /orders on http://127.0.0.1:19911 answered as expected",
	}
	for _, c := range checks {
		p.Progress(engine.Progress{Step: "checks", Phase: engine.PhaseInfo, Index: 7, Total: 14, Message: c})
	}
	out := b.String()
	if !strings.HasPrefix(out, "03:04:05 [5/14] migrations_finish: skipped: no pending migrations for 3.9.1\n") {
		t.Errorf("skipped step:\n%s", out)
	}
	checkWrapped(t, out, 100, checks...)
}

// TestWriteObservedWraps: an Observed line whose cause is long wraps
// under the value column; the end of the cause (the address and why)
// is shown, once.
func TestWriteObservedWraps(t *testing.T) {
	var b bytes.Buffer
	writeObserved(&b, &engine.Observed{ToDatabase: &engine.DatabaseFacts{Error: pgxTwice}})
	out := strings.TrimPrefix(b.String(), "Observed:\n")
	checkWrapped(t, out, 100, "Y's db cannot be read: "+strings.Join(strings.Split(pgxTwice, "\n")[:2], " "))
	if n := strings.Count(out, "dial error"); n != 1 {
		t.Errorf("the pgx error line is printed %d times:\n%s", n, out)
	}
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n")[1:] {
		if !strings.HasPrefix(l, strings.Repeat(" ", 17)) {
			t.Errorf("continuation not under the value column: %q", l)
		}
	}
}
