// Package leader elects one leader among several Upshift agents that share
// a PostgreSQL database: the agent that holds a session advisory lock
// (pg_try_advisory_lock on [Config.Key]) on its own dedicated connection
// acts; the others serve status and try again every [Config.Check].
//
// Start reading at [Elector.Run]. It connects, tries the lock, and when it
// wins calls the caller's lead function with a context that is cancelled
// at once when leadership is lost: the lock connection is terminated (the
// server's FATAL message is read as soon as it arrives), a ping of the
// connection fails or times out, or the caller's context ends. Run waits
// for lead to return before it tries again, so a leader's child processes,
// started with exec.CommandContext under that context, are dead before this
// agent can lead again; an agent that has just stopped leading waits
// 2×Check before trying again, so that a follower takes over first.
// [Elector.IsLeader], [Elector.Leader] (who holds the
// lock, read from the holder's application_name "upshift-agent:<ID>") and
// [Elector.Transitions] are for /readyz, the status API and /metrics.
//
// Timing contract: a leader cut off from the database (half-open TCP, a
// network partition) steps down within 2×Check (one Check of silence, then a
// ping bounded by Check). The server releases the lock only when it notices
// the client is gone, which the lock connection's session settings bound at
// about 25 s (tcp_keepalives_idle=10, tcp_keepalives_interval=5,
// tcp_keepalives_count=3, tcp_user_timeout=25000 ms; the connection string
// may override them). Check is therefore limited to 5 s, so the old leader
// always stops well before a new one can start. Losing leadership is not a
// fence by itself: a step already past its last lease check may still be
// finishing while its process is killed. Irreversible steps are fenced by
// the engine's per-plan leases, which this package does not touch.
//
// Passwords: the DSN should carry none (PGPASSWORD or a pgpass file
// instead), but wherever the password comes from, it is removed from the
// text of every error this package returns or logs ([Error]).
//
// What it does not do: it does not run or fence plans, does not pool
// connections, and does not work through a transaction-mode pooler
// (pgbouncer pool_mode=transaction breaks session advisory locks): point it
// at PostgreSQL directly or at a session-mode pooler. Servers older than
// PostgreSQL 12 refuse tcp_user_timeout.
package leader
