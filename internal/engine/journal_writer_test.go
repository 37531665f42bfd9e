package engine

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRedactSecrets(t *testing.T) {
	for in, want := range map[string]string{
		"dial postgres://kong:s3cr3t@db:5432/kong failed":     "dial postgres://kong:[REDACTED]@db:5432/kong failed",
		"host=db user=kong password=s3cr3t dbname=kong":       "host=db user=kong password=[REDACTED] dbname=kong",
		`{"token":"abc.def","name":"x"}`:                      `{"token":"[REDACTED]","name":"x"}`,
		"PGPASSWORD=hunter22 kong migrations up":              "PGPASSWORD=[REDACTED] kong migrations up",
		"Authorization: Bearer eyJhbGciOi":                    "Authorization: [REDACTED]",
		"KONG_PG_PASSWORD: pw123 and admin_api_key=k-1":       "KONG_PG_PASSWORD: [REDACTED] and admin_api_key=[REDACTED]",
		"migrations up: 3 migrations processed, 0 executed":   "migrations up: 3 migrations processed, 0 executed",
		"https://example.com/a@b path and user@host are fine": "https://example.com/a@b path and user@host are fine",
	} {
		if got := redactSecrets(in); got != want {
			t.Errorf("redactSecrets(%q)\n got %q\nwant %q", in, got, want)
		}
	}
}

func TestJournalWriter(t *testing.T) {
	t.Parallel()
	s := openDirT(t, t.TempDir(), newFakeClock())
	l := mustAcquire(t, s, "p", "me", time.Hour)
	j := &Journal{Store: s, Lease: l, Commit: "abc123", Author: "Ann", Secrets: []string{"Sup3rS3cret", "xy"}}
	details := map[string]string{"dsn": "postgres://u:pw@h/db"}
	in, err := j.Intent(ctxT(t), "migrate", 2, details)
	if err != nil {
		t.Fatal(err)
	}
	if details["dsn"] != "postgres://u:pw@h/db" {
		t.Error("Intent changed the caller's details map")
	}
	if in.Token != l.Token || in.Commit != "abc123" || in.Author != "Ann" || in.Actor.PID == 0 || in.Attempt != 2 ||
		in.Details["dsn"] != "postgres://u:[REDACTED]@h/db" {
		t.Errorf("intent %+v", in)
	}
	long := strings.Repeat("é", MaxOutput) + "tail Sup3rS3cret xy"
	out, err := j.Outcome(ctxT(t), in, ResultFailed, errors.New("kong: password=Sup3rS3cret rejected"), long, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if out.IntentSeq != in.Seq || out.Step != "migrate" || out.Attempt != 2 || out.Duration != 3*time.Second {
		t.Errorf("outcome %+v", out)
	}
	if strings.Contains(out.Error, "Sup3rS3cret") || strings.Contains(out.Output, "Sup3rS3cret") {
		t.Errorf("secret in outcome: %q / %q", out.Error, out.Output[len(out.Output)-40:])
	}
	if !strings.HasSuffix(out.Output, "tail [REDACTED] xy") { // "xy" is too short to redact
		t.Errorf("output tail %q", out.Output[len(out.Output)-40:])
	}
	if len(out.Output) > MaxOutput+40 || !strings.HasPrefix(out.Output, "[") || !strings.Contains(out.Output[:40], "bytes cut]\né") {
		t.Errorf("output not bounded at a rune boundary: %d bytes, starts %q", len(out.Output), out.Output[:40])
	}
	if _, err := j.Event(ctxT(t), EventGate, map[string]string{"gate": "errors", "result": "pass"}); err != nil {
		t.Fatal(err)
	}
	recs := mustRecords(t, s, "p", 0)
	if len(recs) != 3 || recs[2].Event != EventGate || recs[2].Token != l.Token {
		t.Errorf("records %+v", recs)
	}
}
