package migrations

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// Messages Kong prints (K: kong/cmd/utils/migrations.lua, kong/cmd/migrations.lua).
const (
	mutexKey          = "migrations"
	notLeaderMsg      = "aborted: another node is performing database changes"
	needsBootstrapMsg = "Database needs bootstrapping or is older than Kong 1.0.\n\n" +
		"To start a new installation from scratch, run 'kong migrations bootstrap'.\n\n" +
		"To migrate from a version older than 1.0, migrated to Kong 1.5.0 first. \n" +
		"If you still have 'apis' entities, you can convert them to Routes and Services\n" +
		"using the 'kong migrations migrate-apis' command in Kong 1.5.0.\n\n"
	verboseHint = "\n  Run with --v (verbose) or --vv (debug) for more details\n"
	// timeoutMsg is what pgmoon reports when a read hits pg_timeout.
	timeoutMsg = "receive_message: failed to get type: timeout"
	// ExitKilled is what Run returns when a KillAfterCommit fault fired and
	// Options.Kill did not end the process (128 + SIGKILL, as a shell shows it).
	ExitKilled = 137
)

// DefaultLockTimeout is `--lock-timeout`'s default (60 s).
const DefaultLockTimeout = 60 * time.Second

// Faults are field failures on demand (kong-upgrade-failures.md scenarios
// 1-4). A migration is named "name" (any subsystem) or "subsystem/name".
type Faults struct {
	// Slow adds a server-side pg_sleep of the given duration inside the
	// named migration's up (and teardown) transaction, before its SQL.
	Slow map[string]time.Duration
	// KillAfterCommit: once the named migration's step has committed, the
	// runner dies (Options.Kill) before schema_meta records the step, as a
	// runner killed between Kong's run_up_migration and record_migration
	// would. The lock row stays behind.
	KillAfterCommit string
	// ClientTimeout: the named migration's step runs and commits on the
	// server, then the runner reports Kong's client timeout
	// ("receive_message: failed to get type: timeout") without recording
	// it, exactly as if pg_timeout had expired just before the COMMIT's
	// answer arrived.
	ClientTimeout string
}

func (f Faults) match(key, subsystem, name string) bool {
	return key != "" && (key == name || key == subsystem+"/"+name)
}

func (f Faults) slow(subsystem, name string) time.Duration {
	if d, ok := f.Slow[subsystem+"/"+name]; ok {
		return d
	}
	return f.Slow[name]
}

// Options configure a Runner. The zero value of each field is usable except
// Version.
type Options struct {
	Version kongrelease.Version
	// Database is pg_database as printed in "migrating core on database
	// 'kong'..."; empty means the connection's database.
	Database       string
	Stdout, Stderr io.Writer
	// Stdin and IsTTY serve `reset`'s confirmation prompt.
	Stdin io.Reader
	IsTTY bool
	// Force is -f/--force, Yes is -y/--yes, Quiet is -q/--quiet.
	Force, Yes, Quiet bool
	// Verbosity: 0 normal, 1 --v, 2 --vv.
	Verbosity int
	// LockTimeout is --lock-timeout (default 60 s): the lock row's TTL and
	// how long `up` waits for another runner's lock.
	LockTimeout time.Duration
	// DBTimeout bounds each database call (Kong's pg_timeout, which
	// --db-timeout overrides); 0 means no bound.
	DBTimeout time.Duration
	// Owner is the lock owner written to locks.owner; default a random UUID
	// (Kong's CLI uses an ephemeral node id too).
	Owner  string
	Faults Faults
	// Kill ends the process for Faults.KillAfterCommit. The kong binary
	// sends itself SIGKILL. When nil, Run stops at once and returns
	// ExitKilled without touching the database again.
	Kill func()
	// Now is the clock for log prefixes; default time.Now.
	Now func() time.Time
}

// Runner runs `kong migrations` commands against one PostgreSQL database.
type Runner struct {
	opts    Options
	connect func(ctx context.Context) (*pgx.Conn, error)
	conn    *pgx.Conn
	log     *logger
	// afterQuery, when set (tests), is called after each query of a
	// migration's Lua function part (funcs.go).
	afterQuery func()
}

// New returns a Runner that opens connections with connect (called again
// after a connection is lost, as Kong's connector reconnects).
func New(connect func(ctx context.Context) (*pgx.Conn, error), opts Options) *Runner {
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	if opts.Stdin == nil {
		opts.Stdin = strings.NewReader("")
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.Owner == "" {
		opts.Owner = uuid.NewString()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	lvl := lvlInfo
	switch {
	case opts.Quiet:
		lvl = lvlQuiet
	case opts.Verbosity >= 2:
		lvl = lvlDebug
	case opts.Verbosity == 1:
		lvl = lvlVerbose
	}
	return &Runner{opts: opts, connect: connect, log: &logger{stdout: opts.Stdout, stderr: opts.Stderr, level: lvl, now: opts.Now}}
}

// killed is the panic value that unwinds Run when a KillAfterCommit fault
// fires without a Kill function.
type killed struct{}

// exitError carries an explicit exit status (list's 3/4/5, reset's 1).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Run runs one command (bootstrap, up, finish, list, reset, status) and
// returns the process exit status Kong would: errors are written to Stderr
// as "Error: <msg>" plus the verbose hint, status 1.
func (r *Runner) Run(ctx context.Context, command string) (code int) {
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(killed); ok {
				code = ExitKilled
				return
			}
			panic(p)
		}
	}()
	defer r.close()
	err := r.run(ctx, command)
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	}
	if r.opts.Verbosity > 0 {
		// Kong prints "Error: \n" and a Lua stack traceback; the emulator
		// prints the message in its place.
		fmt.Fprintf(r.opts.Stderr, "Error: \n%s\n", err.Error())
	} else {
		fmt.Fprintf(r.opts.Stderr, "Error: %s\n%s", err.Error(), verboseHint)
	}
	return 1
}

func (r *Runner) run(ctx context.Context, command string) error {
	switch command {
	case "bootstrap", "up", "finish", "list", "reset", "status":
	default:
		return fmt.Errorf("unknown command %q: want bootstrap, up, finish, list, reset or status", command)
	}
	if _, err := r.db(ctx); err != nil {
		return fmt.Errorf("[PostgreSQL error] failed to retrieve PostgreSQL server_version_num: %s", pgMessage(err))
	}
	st, err := r.state(ctx)
	if err != nil {
		return err
	}
	switch command {
	case "list":
		return r.list(st)
	case "status":
		b, err := statusJSON(st)
		if err != nil {
			return err
		}
		fmt.Fprintf(r.opts.Stdout, "%s\n", b)
		return nil
	case "bootstrap":
		if r.opts.Force {
			if _, err := r.reset(ctx, st); err != nil {
				return err
			}
			if st, err = r.state(ctx); err != nil {
				return err
			}
		}
		return r.bootstrap(ctx, st)
	case "reset":
		if !r.opts.Yes {
			if !r.opts.IsTTY {
				return errors.New("not a tty: invoke 'reset' non-interactively with the --yes flag")
			}
			if !st.NeedsBootstrap && !r.confirm("Are you sure? This operation is irreversible.") {
				r.log.info("cancelled")
				return nil
			}
		}
		ok, err := r.reset(ctx, st)
		if err != nil {
			return err
		}
		if !ok {
			return exitError{1}
		}
		return nil
	case "up":
		return r.up(ctx, st)
	default:
		return r.finish(ctx)
	}
}

// db returns the stored connection, connecting when there is none.
func (r *Runner) db(ctx context.Context) (*pgx.Conn, error) {
	if r.conn != nil && !r.conn.IsClosed() {
		return r.conn, nil
	}
	ctx, cancel := r.bound(ctx)
	defer cancel()
	c, err := r.connect(ctx)
	if err != nil {
		return nil, err
	}
	r.conn = c
	return c, nil
}

func (r *Runner) close() {
	if r.conn != nil {
		_ = r.conn.Close(context.Background())
		r.conn = nil
	}
}

// bound applies DBTimeout to one database call.
func (r *Runner) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if r.opts.DBTimeout > 0 {
		return context.WithTimeout(ctx, r.opts.DBTimeout)
	}
	return context.WithCancel(ctx)
}

// pgMessage words a database error as pgmoon would: a read that hit the
// timeout is "receive_message: failed to get type: timeout", a server error
// is "ERROR: <message>".
func pgMessage(err error) string {
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		return timeoutMsg
	case errors.As(err, &pe):
		return pe.Severity + ": " + pe.Message
	}
	return err.Error()
}

// state loads the schema state as Kong's DB:schema_state does.
func (r *Runner) state(ctx context.Context) (State, error) {
	conn, err := r.db(ctx)
	if err != nil {
		return State{}, fmt.Errorf("[PostgreSQL error] %s", pgMessage(err))
	}
	bctx, cancel := r.bound(ctx)
	defer cancel()
	st, err := Inspect(bctx, conn, r.opts.Version)
	if err != nil {
		return State{}, fmt.Errorf("[PostgreSQL error] failed to check schema state: %s", pgMessage(err))
	}
	return st, nil
}

func (r *Runner) confirm(q string) bool {
	in := bufio.NewReader(r.opts.Stdin)
	answers := map[string]bool{"y": true, "Y": true, "yes": true, "YES": true, "n": false, "N": false, "no": false, "NO": false}
	for range 3 {
		fmt.Fprintf(r.opts.Stdout, "> %s [y/n] ", q)
		line, err := in.ReadString('\n')
		if a, ok := answers[strings.TrimRight(line, "\r\n")]; ok {
			return a
		}
		if err != nil {
			return false
		}
	}
	return false
}
