package engine

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// Journal writes one plan's records under one lease: it fills in the plan,
// the lease's token, the actor and the commit, and redacts and bounds step
// output. The engine holds one per run of a plan.
type Journal struct {
	Store Store
	Lease *Lease
	Actor Actor // zero: this host and pid

	Commit string // the plan's commit and its author, when known (the agent sets them)
	Author string

	// Secrets are literal values (passwords, tokens) to blank out of Error
	// and Output, on top of the patterns redactSecrets knows.
	Secrets []string
	// Notice, when set, is told of each record once it is appended: the
	// engine's notifications come from there (notices.go).
	Notice func(Record)
}

// MaxOutput bounds a record's Output; longer output keeps its last
// MaxOutput bytes (the end of a command's output says why it failed).
const MaxOutput = 32 << 10

// Intent records that step is about to be applied, before Apply starts.
func (j *Journal) Intent(ctx context.Context, step string, attempt int, details map[string]string) (Record, error) {
	return j.told(j.Store.Append(ctx, j.base(Record{Kind: KindIntent, Step: step, Attempt: attempt, Details: details})))
}

// Outcome records how intent ended. applyErr is nil for ResultOK and
// ResultSkipped; output is what the step's commands printed.
func (j *Journal) Outcome(ctx context.Context, intent Record, result Result, applyErr error, output string, took time.Duration) (Record, error) {
	rec := j.base(Record{
		Kind: KindOutcome, Step: intent.Step, Attempt: intent.Attempt, IntentSeq: intent.Seq,
		Result: result, Output: j.redact(boundOutput(output)), Duration: took,
	})
	if applyErr != nil {
		rec.Error = j.redact(applyErr.Error())
	}
	return j.told(j.Store.Append(ctx, rec))
}

// OutcomeDetails is Outcome with details (a backup's name, a fingerprint)
// that later decisions read back from the journal.
func (j *Journal) OutcomeDetails(ctx context.Context, intent Record, result Result, applyErr error, output string, took time.Duration, details map[string]string) (Record, error) {
	rec := j.base(Record{
		Kind: KindOutcome, Step: intent.Step, Attempt: intent.Attempt, IntentSeq: intent.Seq,
		Result: result, Output: j.redact(boundOutput(output)), Duration: took, Details: details,
	})
	if applyErr != nil {
		rec.Error = j.redact(applyErr.Error())
	}
	return j.told(j.Store.Append(ctx, rec))
}

// Event records a named event under the lease.
func (j *Journal) Event(ctx context.Context, event string, details map[string]string) (Record, error) {
	return j.told(j.Store.Append(ctx, j.base(Record{Kind: KindEvent, Event: event, Details: details})))
}

// told passes an appended record to Notice.
func (j *Journal) told(rec Record, err error) (Record, error) {
	if err == nil && j.Notice != nil {
		j.Notice(rec)
	}
	return rec, err
}

func (j *Journal) base(r Record) Record {
	r.Plan, r.Token = j.Lease.Plan, j.Lease.Token
	r.Actor = j.Actor
	if r.Actor == (Actor{}) {
		r.Actor = localActor()
	}
	r.Commit, r.Author = j.Commit, j.Author
	if r.Details != nil {
		d := make(map[string]string, len(r.Details))
		for k, v := range r.Details {
			d[k] = j.redact(v)
		}
		r.Details = d
	}
	return r
}

func (j *Journal) redact(s string) string {
	for _, sec := range j.Secrets {
		if len(sec) >= 4 { // shorter "secrets" would blank ordinary words
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return redactSecrets(s)
}

const redacted = "[REDACTED]"

var (
	// scheme://user:password@host
	urlPassword = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@`)
	// password=..., token: ..., PGPASSWORD=..., "secret":"..." (also in DSN key=value form)
	keyedSecret = regexp.MustCompile(`(?i)((?:pass(?:word)?|pgpassword|token|secret|api[_-]?key|authorization)["']?\s*[=:]\s*["']?)(?:Bearer\s+|Basic\s+)?[^\s"'&,;]+`)
)

// redactSecrets blanks passwords in URLs and values of password-, token-
// and secret-like keys.
// RedactSecrets blanks passwords in URLs and values of password-, token-
// and secret-like keys (for callers that log user-given URLs).
func RedactSecrets(s string) string { return redactSecrets(s) }

func redactSecrets(s string) string {
	s = urlPassword.ReplaceAllString(s, "${1}"+redacted+"@")
	return keyedSecret.ReplaceAllString(s, "${1}"+redacted)
}

func boundOutput(s string) string {
	if len(s) <= MaxOutput {
		return s
	}
	cut := len(s) - MaxOutput
	for cut < len(s) && s[cut]&0xC0 == 0x80 { // do not start inside a UTF-8 sequence
		cut++
	}
	return fmt.Sprintf("[%d bytes cut]\n", cut) + s[cut:]
}

// localActor is this process: host name and pid.
func localActor() Actor {
	host, _ := os.Hostname()
	return Actor{Host: host, PID: os.Getpid()}
}
