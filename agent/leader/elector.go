package leader

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// maxBackoff caps the wait between failed connection attempts.
const maxBackoff = 30 * time.Second

// ErrLeadReturned is the lead context's cause when lead returned by itself
// (Run then unlocks and stays a follower).
var ErrLeadReturned = errors.New("leader election: the lead function returned")

// Elector stands for election on one database. Its methods are safe for
// concurrent use; Run runs at most once at a time.
type Elector struct {
	cfg   Config
	base  *pgx.ConnConfig // parsed once; copied per connection
	scrub scrubber
	log   *slog.Logger

	leader      atomic.Bool
	transitions atomic.Int64
	running     atomic.Bool
	tries       atomic.Int64 // pg_try_advisory_lock calls answered (tests wait on it)
}

// New checks cfg, fills its defaults and parses the DSN (reading
// PGPASSWORD or the pgpass file now). It does not connect.
func New(cfg Config) (*Elector, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cc, err := parseDSN(cfg.DSN)
	if err != nil {
		return nil, err
	}
	cfg.DSN = "" // not kept: it may hold the password
	e := &Elector{cfg: cfg, base: cc, scrub: newScrubber(&cc.Config)}
	e.log = cfg.Logger.With("agent", cfg.ID, "database", e.scrub.target)
	return e, nil
}

// Run is New followed by Elector.Run.
func Run(ctx context.Context, cfg Config, lead func(leaderCtx context.Context)) error {
	e, err := New(cfg)
	if err != nil {
		return err
	}
	return e.Run(ctx, lead)
}

// ID is this agent's name as the others see it.
func (e *Elector) ID() string { return e.cfg.ID }

// IsLeader reports whether this agent leads now: true from just before
// lead is called until just before its context is cancelled.
func (e *Elector) IsLeader() bool { return e.leader.Load() }

// Transitions counts changes of IsLeader (becoming leader and ceasing to
// be), for /metrics; it is odd exactly while leading.
func (e *Elector) Transitions() int64 { return e.transitions.Load() }

func (e *Elector) setLeader(v bool) {
	if e.leader.Swap(v) != v {
		e.transitions.Add(1)
	}
}

// Run stands for election until ctx ends, then returns nil. It returns an
// error only for what retrying cannot fix: a second concurrent Run, or a
// server that refuses the role, password, database or session settings
// (SQLSTATE class 28, 3D000, 42704, 22023). Other failures are logged and
// retried: a connection after a backoff that starts at Check and doubles
// up to 30 s, the lock every Check. After leading, it waits 2 to 2.5×Check
// before trying again, so that a follower takes over first.
//
// On winning the lock Run calls lead(leaderCtx) in a new goroutine and
// cancels leaderCtx at once when the lock connection is terminated, fails
// or times out a ping, or ctx ends; context.Cause(leaderCtx) says which
// (an *Error for the connection, ctx's own cause when it ended). Run then
// waits for lead to return before anything else: then it closes the
// connection (the server releases the lock), or, when lead returned on its
// own (cause ErrLeadReturned), unlocks and stays connected as a follower.
func (e *Elector) Run(ctx context.Context, lead func(leaderCtx context.Context)) error {
	if lead == nil {
		return &Error{Op: "run", Err: errors.New("no lead function")}
	}
	if !e.running.CompareAndSwap(false, true) {
		return &Error{Op: "run", Err: errors.New("this elector is already running")}
	}
	defer e.running.Store(false)

	backoff := e.cfg.Check
	for {
		if ctx.Err() != nil {
			return nil
		}
		conn, err := e.connect(ctx, AppNamePrefix+e.cfg.ID)
		led := false
		if err == nil {
			backoff = e.cfg.Check
			led, err = e.session(ctx, conn, lead)
			e.close(conn)
		}
		if ctx.Err() != nil {
			return nil
		}
		var le *Error
		if errors.As(err, &le) && le.fatal() {
			e.log.Error("leader election: giving up", "err", err)
			return err
		}
		wait := backoff/2 + rand.N(backoff/2+1) // jitter, so agents cut off together do not return in step
		if led {
			wait = e.afterLeading()
		}
		e.log.Warn("leader election: no usable connection; retrying", "err", err, "in", wait)
		if !sleep(ctx, wait) {
			return nil
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// connect opens a dedicated connection named app.
func (e *Elector) connect(ctx context.Context, app string) (*pgx.Conn, error) {
	cc := e.base.Copy()
	cc.RuntimeParams["application_name"] = app
	if cc.ConnectTimeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, connectTimeout)
		defer cancel()
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, e.scrub.wrap("connect", err)
	}
	return conn, nil
}

// close closes conn, which releases any lock it holds.
func (e *Elector) close(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Check)
	defer cancel()
	_ = conn.Close(ctx) // a broken connection is closed either way
}

// session follows and leads on one connection until it fails (the error
// says how) or ctx ends; led says whether it ended while leading.
func (e *Elector) session(ctx context.Context, conn *pgx.Conn, lead func(context.Context)) (led bool, err error) {
	for {
		won, err := e.tryLock(ctx, conn)
		if err != nil {
			return false, err
		}
		wait := e.cfg.Check
		if won {
			if err := e.leadWhileHeld(ctx, conn, lead); err != nil || ctx.Err() != nil {
				return true, err
			}
			wait = e.afterLeading()
		}
		if !sleep(ctx, wait) {
			return false, nil
		}
	}
}

// afterLeading is how long an agent that has just stopped leading waits
// before it tries the lock again: more than Check, so that a follower
// (trying every Check) gets the first chance. The agent whose connection
// failed is the likelier one to be unhealthy.
func (e *Elector) afterLeading() time.Duration {
	return 2*e.cfg.Check + rand.N(e.cfg.Check/2+1)
}

// tryLock asks for the lock once, bounded by Check.
func (e *Elector) tryLock(ctx context.Context, conn *pgx.Conn) (bool, error) {
	qctx, cancel := context.WithTimeout(ctx, e.cfg.Check)
	defer cancel()
	var won bool
	if err := conn.QueryRow(qctx, "select pg_try_advisory_lock($1)", e.cfg.Key).Scan(&won); err != nil {
		return false, e.scrub.wrap("try lock", err)
	}
	e.tries.Add(1)
	return won, nil
}

// leadWhileHeld runs lead while the lock is held; see Run. A nil error
// means the connection is still usable and no longer holds the lock.
func (e *Elector) leadWhileHeld(ctx context.Context, conn *pgx.Conn, lead func(context.Context)) error {
	// lctx is cancelled only through lose, so IsLeader is false before
	// lctx is done, even when ctx ends.
	lctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	lose := func(cause error) {
		e.setLeader(false)
		cancel(cause) // the first cause stays
	}
	stop := context.AfterFunc(ctx, func() { lose(context.Cause(ctx)) })
	defer stop()

	done := make(chan struct{})
	e.setLeader(true)
	e.log.Info("leader election: leading")
	go func() {
		defer close(done)
		defer lose(ErrLeadReturned)
		lead(lctx)
	}()

	err := e.watch(lctx, conn)
	if err != nil {
		lose(err)
	}
	<-done
	e.log.Info("leader election: stopped leading", "cause", context.Cause(lctx))

	if err != nil || ctx.Err() != nil {
		return err // the caller closes the connection, which releases the lock
	}
	uctx, ucancel := context.WithTimeout(ctx, e.cfg.Check)
	defer ucancel()
	if _, err := conn.Exec(uctx, "select pg_advisory_unlock($1)", e.cfg.Key); err != nil {
		return e.scrub.wrap("unlock", err)
	}
	return nil
}

// watch returns nil when ctx ends, or the error that ends the lock
// connection. Between pings it reads the idle connection, so a FATAL
// message from the server (pg_terminate_backend, shutdown) or a closed
// socket is seen as soon as it arrives; every Check of silence it pings,
// bounded by Check, which catches a connection that has silently gone.
func (e *Elector) watch(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, e.cfg.Check)
		err := conn.PgConn().WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			continue // a notification: nobody listens on this connection, ignore it
		case !pgconn.Timeout(err):
			return e.scrub.wrap("watch lock connection", err)
		}
		pctx, cancel := context.WithTimeout(ctx, e.cfg.Check)
		err = conn.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return e.scrub.wrap("ping lock connection", err)
		}
	}
}

// sleep waits d or until ctx ends; false means ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
