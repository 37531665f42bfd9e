package leader

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
)

// ErrNoLeader is returned by Leader when nobody holds the lock.
var ErrNoLeader = errors.New("leader election: no agent holds the lock")

// holderSQL finds the session holding the advisory lock on a bigint key in
// the current database: pg_locks shows the key's high 32 bits as classid,
// its low 32 bits as objid, and objsubid 1 (2 is the two-int4 form).
// application_name is visible to every role in pg_stat_activity.
const holderSQL = `
select coalesce(a.application_name, '')
from pg_locks l join pg_stat_activity a on a.pid = l.pid
where l.locktype = 'advisory' and l.granted and l.objsubid = 1
  and l.database = (select oid from pg_database where datname = current_database())
  and l.classid = $1::bigint::oid and l.objid = $2::bigint::oid
limit 1`

// Leader reads who holds the lock now: the holder's ID when it is an
// agent (application_name "upshift-agent:<ID>"), its raw application_name
// otherwise, or ErrNoLeader. It opens and closes a short-lived connection
// of its own (application_name "upshift-status:<ID>"), so it works whether
// or not Run is running, and never waits for the lock connection. Read-only;
// safe to repeat.
func (e *Elector) Leader(ctx context.Context) (string, error) {
	conn, err := e.connect(ctx, statusAppPrefix+e.cfg.ID)
	if err != nil {
		return "", err
	}
	defer e.close(conn)
	key := uint64(e.cfg.Key)
	var app string
	err = conn.QueryRow(ctx, holderSQL, int64(key>>32), int64(key&0xffffffff)).Scan(&app)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNoLeader
	}
	if err != nil {
		return "", e.scrub.wrap("read leader", err)
	}
	return strings.TrimPrefix(app, AppNamePrefix), nil
}
