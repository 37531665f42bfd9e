package leader

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Error is every error the package returns, and what it logs and gives as
// the cause of a lost leadership (context.Cause of the lead context).
// Its text never holds the password: Err's text has every known password
// (from the DSN, PGPASSWORD or the pgpass file) and anything shaped like a
// URL password replaced, and Err does not unwrap to the original error, so
// errors.As cannot reach an unscrubbed pgx error. errors.Is still sees the
// sentinels of the original chain (context.Canceled, io.EOF, ...).
type Error struct {
	Op     string // what was being done: "connect", "try lock", "ping", "read leader", ...
	Target string // user@host:port/database, never a password; "" before the DSN was parsed
	Code   string // the server's SQLSTATE when it refused ("28P01", "57P01"), else ""
	Err    error
}

func (e *Error) Error() string {
	if e.Target == "" {
		return fmt.Sprintf("leader election: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("leader election: %s %s: %v", e.Op, e.Target, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// fatal reports errors that retrying cannot fix: the server refused the
// role, the password, the database or a session setting.
func (e *Error) fatal() bool {
	return strings.HasPrefix(e.Code, "28") || // invalid authorization
		e.Code == "3D000" || // no such database
		e.Code == "42704" || // unrecognized configuration parameter
		e.Code == "22023" // invalid parameter value
}

// scrubbed is an error's text with the secrets removed; Is consults the
// original chain so that sentinels still match.
type scrubbed struct {
	msg  string
	orig error
}

func (s *scrubbed) Error() string        { return s.msg }
func (s *scrubbed) Is(target error) bool { return errors.Is(s.orig, target) }

// redacted replaces secrets in error and log texts.
const redacted = "[REDACTED]"

// urlPassword matches the password part of scheme://user:password@.
var urlPassword = regexp.MustCompile(`(://[^:/@\s]*:)[^@\s]*@`)

// scrubber removes one configuration's passwords from error texts.
type scrubber struct {
	secrets []string
	target  string
}

// newScrubber knows the passwords cc will send and names its server.
func newScrubber(cfg *pgconn.Config) scrubber {
	s := scrubber{target: fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)}
	if cfg.Password != "" {
		s.secrets = append(s.secrets, cfg.Password)
	}
	return s
}

// text returns msg without the secrets.
func (s scrubber) text(msg string) string {
	for _, sec := range s.secrets {
		msg = strings.ReplaceAll(msg, sec, redacted)
	}
	return urlPassword.ReplaceAllString(msg, "${1}"+redacted+"@")
}

// wrap builds the Error for op failing with err (nil stays nil).
func (s scrubber) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Target: s.text(s.target), Err: &scrubbed{msg: s.text(err.Error()), orig: err}}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		e.Code = pgErr.Code
	}
	return e
}
