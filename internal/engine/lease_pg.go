package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Acquire implements Store: in one transaction, lock the plan's lease row,
// refuse while it is live by the database's now(), and set holder, a token
// greater than any the plan has seen, and expires_at = now() + ttl
// (compare-and-set on the token read under the lock).
func (s *PGStore) Acquire(ctx context.Context, plan, holder string, ttl time.Duration) (*Lease, error) {
	if err := validPlanName(plan); err != nil {
		return nil, err
	}
	if holder == "" || ttl <= 0 {
		return nil, fmt.Errorf("acquire lease of plan %q: need a holder and a positive ttl", plan)
	}
	start := time.Now()
	var token int64
	var expires time.Time
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		l, err := lockLease(ctx, tx, plan)
		if err != nil {
			return err
		}
		if l.live {
			st := l.state(plan)
			var dead procID
			if l.proc != nil {
				dead = *l.proc
			}
			gone, why := holderGone(dead)
			if !gone {
				return &LeaseHeldError{Plan: plan, Holder: st.Holder, Token: st.Token, Expires: st.Expires}
			}
			ev := takeoverEvent(plan, holder, why, st, dead)
			if err := insertRecord(ctx, tx, &ev, l.now); err != nil {
				return err
			}
		}
		var journalMax int64
		if err := tx.QueryRow(ctx, `select coalesce(max(token), 0) from upshift_journal where plan = $1`, plan).Scan(&journalMax); err != nil {
			return fmt.Errorf("journal tokens: %w", err)
		}
		token = max(l.token, journalMax) + 1
		return tx.QueryRow(ctx, `
			update upshift_leases
			set holder = $2, token = $3, expires_at = now() + $4 * interval '1 microsecond',
			    acquired_at = now(), broken_by = null, broken_reason = null, holder_proc = $6
			where plan = $1 and token = $5
			returning expires_at`,
			plan, holder, token, ttl.Microseconds(), l.token, selfProc()).Scan(&expires)
	})
	if err != nil {
		return nil, fmt.Errorf("acquire lease of plan %q: %w", plan, err)
	}
	return newLease(pgLeaseBackend{s}, plan, holder, token, ttl, expires.UTC(), start), nil
}

// LeaseState implements Store.
func (s *PGStore) LeaseState(ctx context.Context, plan string) (LeaseState, error) {
	if err := validPlanName(plan); err != nil {
		return LeaseState{}, err
	}
	r, err := scanLease(s.pool.QueryRow(ctx, `select `+pgLeaseCols+` from upshift_leases where plan = $1`, plan))
	if errors.Is(err, pgx.ErrNoRows) {
		return LeaseState{Plan: plan}, nil
	}
	if err != nil {
		return LeaseState{}, fmt.Errorf("lease of plan %q: %w", plan, err)
	}
	return r.state(plan), nil
}

// Break implements Store: the token advances, the holder is cleared and the
// event is appended in one transaction.
func (s *PGStore) Break(ctx context.Context, plan, who, reason string) (LeaseState, error) {
	if err := validPlanName(plan); err != nil {
		return LeaseState{}, err
	}
	if who == "" {
		return LeaseState{}, fmt.Errorf("break lease of plan %q: say who breaks it", plan)
	}
	var before LeaseState
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		l, err := lockLease(ctx, tx, plan)
		if err != nil {
			return err
		}
		before = l.state(plan)
		_, err = tx.Exec(ctx, `
			update upshift_leases
			set holder = null, expires_at = null, broken_by = $2, broken_reason = $3,
			    token = greatest(token, (select coalesce(max(token), 0) from upshift_journal where plan = $1)) + 1
			where plan = $1`, plan, who, reason)
		if err != nil {
			return err
		}
		ev := breakEvent(plan, who, reason, before)
		return insertRecord(ctx, tx, &ev, l.now)
	})
	if err != nil {
		return LeaseState{}, fmt.Errorf("break lease of plan %q: %w", plan, err)
	}
	return before, nil
}

// pgLeaseBackend implements leaseBackend on a PGStore; each call is one
// statement judged by the database's now().
type pgLeaseBackend struct{ s *PGStore }

func (b pgLeaseBackend) renew(ctx context.Context, plan string, token int64, ttl time.Duration) (time.Time, error) {
	var exp time.Time
	err := b.s.pool.QueryRow(ctx, `
		update upshift_leases set expires_at = now() + $3 * interval '1 microsecond'
		where plan = $1 and token = $2 and holder is not null and expires_at > now()
		returning expires_at`, plan, token, ttl.Microseconds()).Scan(&exp)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, b.lost(ctx, plan, token)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("renew lease of plan %q: %w", plan, err)
	}
	return exp.UTC(), nil
}

func (b pgLeaseBackend) check(ctx context.Context, plan string, token int64) (time.Time, error) {
	st, err := b.s.LeaseState(ctx, plan)
	if err != nil {
		return time.Time{}, err
	}
	if err := lostReason(plan, token, st); err != nil {
		return time.Time{}, err
	}
	return st.Expires, nil
}

func (b pgLeaseBackend) release(ctx context.Context, plan string, token int64) error {
	_, err := b.s.pool.Exec(ctx, `
		update upshift_leases set holder = null, expires_at = null
		where plan = $1 and token = $2 and holder is not null`, plan, token)
	if err != nil {
		return fmt.Errorf("release lease of plan %q: %w", plan, err)
	}
	return nil
}

// lost explains why a renewal matched no row.
func (b pgLeaseBackend) lost(ctx context.Context, plan string, token int64) error {
	st, err := b.s.LeaseState(ctx, plan)
	if err != nil {
		return err
	}
	if err := lostReason(plan, token, st); err != nil {
		return err
	}
	// Live with our token now, but it was not a moment ago: cannot happen
	// (a lease never comes back to life); say so rather than guess.
	return &LeaseLostError{Plan: plan, Token: token, Reason: "renewal matched no lease row"}
}
