package kong

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DB is the PostgreSQL database a `kong` command works on. Password goes
// to the child only as KONG_PG_PASSWORD: never into argv, a log or an
// error.
type DB struct {
	Host     string
	Port     int
	Database string
	User     string
	Password string
	// SSLMode is the DSN's sslmode as written ("" when it names none: Y's
	// kong.conf decides); SSLRootCert, SSLCert and SSLKey are file paths
	// (see Env for the KONG_* variables they become).
	SSLMode                      string
	SSLRootCert, SSLCert, SSLKey string
}

// Command runs the plan's `kong` argv (for example ["kong"] or
// ["docker", "exec", "kong-y", "kong"]) with a subcommand appended.
// Placeholders {pg_host} {pg_port} {pg_database} {pg_user} in Argv are
// replaced with DB's values; DB.Env() (KONG_PG_HOST, _PORT, _DATABASE,
// _USER, _PASSWORD and the TLS settings) is set in the child's environment.
type Command struct {
	Argv []string
	DB   DB
	// Env is added to the child's environment after os.Environ() and the
	// KONG_PG_* variables (so it may override them, e.g. KONG_VERSION for
	// kongsim's kong).
	Env []string
	// Dir is the working directory; "" is the current one.
	Dir string
	// KillGrace is how long a cancelled command has between SIGTERM to its
	// process group and SIGKILL; default 5s.
	KillGrace time.Duration
	// Started, when set, is called once the child has started (the
	// engine's crash tests stop the process there: the child, in its own
	// process group, keeps running as after a kill -9 of the caller).
	Started func(pid int)
}

// Result is a finished `kong` run.
type Result struct {
	Args     []string // the argv that ran (no secrets: the password is only in the environment)
	ExitCode int      // -1 when killed by a signal
	Stdout   string
	Stderr   string
	Duration time.Duration
	Output   Output
}

// Run runs Argv + args and waits. It returns an error when the command
// could not start, was cancelled (ctx: the whole process group gets
// SIGTERM, then SIGKILL after KillGrace), exited non-zero (for
// `migrations list`, exits 3, 4 and 5 report state and are not errors),
// or printed Kong's "aborted: another node is performing database changes"
// (which Kong does with exit 0). The Result is filled in every case in
// which the process ran. Whether repeating is safe depends on the
// subcommand: Kong's migrations up/finish are idempotent, reset is not.
func (c Command) Run(ctx context.Context, args ...string) (Result, error) {
	if len(c.Argv) == 0 {
		return Result{}, &Error{Op: "kong", Err: errors.New("no kong command configured")}
	}
	argv := make([]string, 0, len(c.Argv)+len(args))
	for _, a := range c.Argv {
		argv = append(argv, c.substitute(a))
	}
	argv = append(argv, args...)
	op := "kong " + strings.Join(args, " ")
	res := Result{Args: argv}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), c.DB.Env()...)
	cmd.Env = append(cmd.Env, c.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &limitedWriter{w: &stdout, n: 4 << 20}, &limitedWriter{w: &stderr, n: 4 << 20}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, &Error{Op: op, Target: c.DB.Database, Err: err}
	}
	if c.Started != nil {
		c.Started(cmd.Process.Pid)
	}
	done := make(chan struct{})
	var killed bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		killed = true
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		grace := c.KillGrace
		if grace <= 0 {
			grace = 5 * time.Second
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}()
	waitErr := cmd.Wait()
	close(done)
	wg.Wait()
	// A cancelled runner's children (if any outlived it) go too.
	if killed {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}

	res.Duration = time.Since(start)
	res.Stdout, res.Stderr = stdout.String(), stderr.String()
	res.ExitCode = cmd.ProcessState.ExitCode()
	res.Output = ParseOutput(res.Stdout, res.Stderr)

	switch {
	case killed:
		return res, &Error{Op: op, Target: c.DB.Database, Err: fmt.Errorf("cancelled: %w", context.Cause(ctx))}
	case waitErr != nil && res.ExitCode < 0:
		return res, &Error{Op: op, Target: c.DB.Database, Err: waitErr}
	case res.Output.LockAborted:
		return res, &Error{Op: op, Target: c.DB.Database, Err: errors.New("aborted: another node is performing database changes (the migrations lock is held)")}
	case res.ExitCode != 0 && !(isList(args) && (res.ExitCode == 3 || res.ExitCode == 4 || res.ExitCode == 5)):
		msg := res.Output.Error
		if msg == "" {
			msg = lastLine(res.Stderr)
		}
		return res, &Error{Op: op, Target: c.DB.Database, Err: fmt.Errorf("exit %d: %s", res.ExitCode, msg)}
	}
	return res, nil
}

func isList(args []string) bool {
	return len(args) >= 2 && args[0] == "migrations" && args[1] == "list"
}

func (c Command) substitute(a string) string {
	return strings.NewReplacer(
		"{pg_host}", c.DB.Host,
		"{pg_port}", strconv.Itoa(c.DB.Port),
		"{pg_database}", c.DB.Database,
		"{pg_user}", c.DB.User,
	).Replace(a)
}

// Output is what a `kong migrations ...` run printed, parsed from Kong's
// messages (kong-facts §3.3, §3.4).
type Output struct {
	// LockAborted: "aborted: another node is performing database changes".
	LockAborted bool
	// Processed, Executed, Pending are "N migrations processed",
	// "N executed", "N pending"; -1 when not printed.
	Processed, Executed, Pending int
	// Migrated lists "<subsystem> migrated up to: <name> (executed|pending)".
	Migrated            []MigratedLine
	UpToDate            bool   // "Database is up-to-date" / "Database is already up-to-date"
	AlreadyBootstrapped bool   // "Database already bootstrapped"
	NeedsBootstrap      bool   // "Database needs bootstrapping ..."
	PendingLeft         bool   // "Database has pending migrations; run 'kong migrations finish' ..."
	NewAvailable        bool   // "New migrations available; run 'kong migrations up' ..."
	NoPending           bool   // "No pending migrations to finish"
	Error               string // the text after "Error: " on stderr, if any
}

// MigratedLine is one "<subsystem> migrated up to: <name> (<state>)" line.
type MigratedLine struct{ Subsystem, Name, State string }

var (
	reCount    = regexp.MustCompile(`(?m)^(\d+) (migrations? processed|executed|pending)\s*$`)
	reMigrated = regexp.MustCompile(`(?m)^(\S+) migrated up to: (\S+) \((executed|pending)\)\s*$`)
	reError    = regexp.MustCompile(`(?m)^Error: (.*)$`)
)

// ParseOutput reads a `kong` run's stdout and stderr.
func ParseOutput(stdout, stderr string) Output {
	all := stdout + "\n" + stderr
	o := Output{Processed: -1, Executed: -1, Pending: -1}
	o.LockAborted = strings.Contains(all, "aborted: another node is performing database changes")
	for _, m := range reCount.FindAllStringSubmatch(stdout, -1) {
		n, _ := strconv.Atoi(m[1])
		switch {
		case strings.Contains(m[2], "processed"):
			o.Processed = n
		case m[2] == "executed":
			o.Executed = n
		case m[2] == "pending":
			o.Pending = n
		}
	}
	for _, m := range reMigrated.FindAllStringSubmatch(stdout, -1) {
		o.Migrated = append(o.Migrated, MigratedLine{Subsystem: m[1], Name: m[2], State: m[3]})
	}
	o.UpToDate = strings.Contains(all, "Database is up-to-date") || strings.Contains(all, "Database is already up-to-date")
	o.AlreadyBootstrapped = strings.Contains(all, "Database already bootstrapped")
	o.NeedsBootstrap = strings.Contains(all, "Database needs bootstrapping")
	o.PendingLeft = strings.Contains(all, "Database has pending migrations")
	o.NewAvailable = strings.Contains(all, "New migrations available")
	o.NoPending = strings.Contains(all, "No pending migrations to finish")
	if m := reError.FindStringSubmatch(stderr); m != nil {
		o.Error = strings.TrimSpace(m[1])
	}
	return o
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// limitedWriter keeps the first n bytes and discards the rest, so a
// chatty command cannot exhaust memory.
type limitedWriter struct {
	w *bytes.Buffer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		if len(p) > room {
			l.w.Write(p[:room])
		} else {
			l.w.Write(p)
		}
	}
	return len(p), nil
}
