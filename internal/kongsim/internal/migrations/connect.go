package migrations

import (
	"context"
	"errors"
	"net"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// Connector returns a connect function for New that behaves like Kong's
// PostgreSQL client (pgmoon) when a call times out: the client stops
// waiting and drops its socket, and never sends PostgreSQL a cancel
// request, so the server finishes (and may COMMIT) the statement on its
// own (kong-upgrade-failures.md §1). pgx would otherwise send a cancel
// request when it closes a timed-out connection; each connection therefore
// gets a dialer that dials once, for the connection itself.
//
// application_name defaults to "pgmoon", which is what pg_stat_activity
// shows for a real Kong.
func Connector(cfg *pgx.ConnConfig) func(ctx context.Context) (*pgx.Conn, error) {
	return func(ctx context.Context) (*pgx.Conn, error) {
		c := cfg.Copy()
		if _, ok := c.RuntimeParams["application_name"]; !ok {
			c.RuntimeParams["application_name"] = "pgmoon"
		}
		dial := c.DialFunc
		if dial == nil {
			dial = (&net.Dialer{}).DialContext
		}
		var dialed atomic.Bool
		c.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if dialed.Swap(true) {
				return nil, errors.New("kongsim: no cancel requests (pgmoon sends none)")
			}
			return dial(ctx, network, addr)
		}
		c.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.DeadlineContextWatcherHandler{Conn: pc.Conn()}
		}
		return pgx.ConnectConfig(ctx, c)
	}
}
