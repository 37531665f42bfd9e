package leader

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultKey is the advisory lock key agents elect on when Config.Key is
// zero: the bytes of "upshift" followed by 0x02. (The engine creates its
// tables under "upshift" followed by 0x01; advisory locks share one key
// space, so the two must differ.)
const DefaultKey int64 = 0x7570736869667402

// DefaultCheck is the ping and retry interval when Config.Check is zero.
const DefaultCheck = 2 * time.Second

// MaxCheck bounds Config.Check so that a cut-off leader steps down (within
// 2×Check) long before the server's keepalive settings let it release the
// lock (about 25 s): see the package documentation.
const MaxCheck = 5 * time.Second

// AppNamePrefix starts the application_name of every lock connection; the
// agent's ID follows it. Leader reads it back from the lock holder.
const AppNamePrefix = "upshift-agent:"

// statusAppPrefix names the short-lived connections Leader opens.
const statusAppPrefix = "upshift-status:"

// maxAppName is PostgreSQL's limit on application_name (NAMEDATALEN-1);
// longer names are truncated by the server.
const maxAppName = 63

// connectTimeout bounds one connection attempt when the DSN sets no
// connect_timeout.
const connectTimeout = 10 * time.Second

// keepalive are the session settings of the lock connection (libraries.md
// §4): the server notices a vanished client after about 10 + 3×5 s, or
// 25 s of unacknowledged data. Values in the DSN take precedence.
var keepalive = map[string]string{
	"tcp_keepalives_idle":     "10",
	"tcp_keepalives_interval": "5",
	"tcp_keepalives_count":    "3",
	"tcp_user_timeout":        "25000",
}

// Config says where and as whom to stand for election. Only DSN is
// required.
type Config struct {
	// DSN is a PostgreSQL URL or key=value string of the database the
	// agents share. Keep the password out of it (PGPASSWORD or a pgpass
	// file); it is read once, by New.
	DSN string
	// Key is the advisory lock key; 0 means DefaultKey. Agents that should
	// elect one leader among themselves use the same Key.
	Key int64
	// ID names this agent to the others (application_name
	// "upshift-agent:<ID>"): printable ASCII, at most 48 bytes. Empty means
	// "<hostname>-<pid>".
	ID string
	// Check is how often a follower tries the lock and a leader pings its
	// connection, and the ping's timeout; 0 means DefaultCheck. At most
	// MaxCheck.
	Check time.Duration
	// Logger receives leadership changes (Info) and connection failures
	// (Warn); nil discards them.
	Logger *slog.Logger
}

// withDefaults fills the zero fields and checks the others.
func (c Config) withDefaults() (Config, error) {
	if c.DSN == "" {
		return c, &Error{Op: "configure", Err: errors.New("no DSN given")}
	}
	if c.Key == 0 {
		c.Key = DefaultKey
	}
	if c.Check == 0 {
		c.Check = DefaultCheck
	}
	if c.Check < 0 || c.Check > MaxCheck {
		return c, &Error{Op: "configure", Err: fmt.Errorf("check interval %v: want more than 0 and at most %v", c.Check, MaxCheck)}
	}
	if c.ID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "agent"
		}
		c.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
		if max := maxAppName - len(statusAppPrefix); len(c.ID) > max {
			c.ID = c.ID[len(c.ID)-max:] // keep the pid
		}
	}
	if err := validID(c.ID); err != nil {
		return c, &Error{Op: "configure", Err: err}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// validID accepts what PostgreSQL keeps verbatim in application_name.
func validID(id string) error {
	if max := maxAppName - len(statusAppPrefix); len(id) > max {
		return fmt.Errorf("agent ID %q is longer than %d bytes", id, max)
	}
	for _, r := range id {
		if r < 0x20 || r > 0x7e {
			return fmt.Errorf("agent ID %q: only printable ASCII survives in application_name", id)
		}
	}
	return nil
}

// parseDSN parses dsn (reading PGPASSWORD and the pgpass file as libpq
// does) and adds the keepalive settings and a keepalive dialer. The parse
// error is replaced by a fixed text: pgx quotes the connection string in
// it, and its redaction of malformed strings is best effort.
func parseDSN(dsn string) (*pgx.ConnConfig, error) {
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, &Error{Op: "parse DSN", Err: errors.New("cannot parse the connection string (its text is not repeated here because it may hold a password)")}
	}
	for k, v := range keepalive {
		if _, set := cc.RuntimeParams[k]; !set {
			cc.RuntimeParams[k] = v
		}
	}
	d := &net.Dialer{
		Timeout:         cc.ConnectTimeout, // 0: none beyond the context's
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 10 * time.Second, Interval: 5 * time.Second, Count: 3},
	}
	cc.DialFunc = d.DialContext
	return cc, nil
}
