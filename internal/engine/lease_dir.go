package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// dirLease is lease.json. It is replaced atomically (write, fsync, rename,
// fsync the directory) under the plan's exclusive flock.
type dirLease struct {
	Holder   string    `json:"holder,omitempty"`
	Token    int64     `json:"token"`
	Expires  time.Time `json:"expires,omitzero"`
	Acquired time.Time `json:"acquired,omitzero"`
	BrokenBy string    `json:"broken_by,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	// Proc is the holding process (lease_proc.go): a holder on this host
	// that no longer exists is taken over at once.
	Proc procID `json:"proc,omitzero"`
}

func readLease(dir string) (dirLease, error) {
	var st dirLease
	if dir == "" {
		return st, nil
	}
	data, err := os.ReadFile(filepath.Join(dir, leaseFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read lease: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("read lease %s: %w: %v", filepath.Join(dir, leaseFile), ErrCorrupt, err)
	}
	return st, nil
}

func writeLease(dir string, st dirLease) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode lease: %w", err)
	}
	tmp := filepath.Join(dir, leaseFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("write lease: %w", err)
	}
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, leaseFile))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("write lease: %w", err)
	}
	return nil
}

func (s *DirStore) state(plan string, st dirLease) LeaseState {
	return LeaseState{
		Plan: plan, Holder: st.Holder, Token: st.Token, Expires: st.Expires,
		Live:     st.Holder != "" && s.now().Before(st.Expires),
		BrokenBy: st.BrokenBy, Reason: st.Reason,
	}
}

// currentToken is the greatest token the plan has seen: the lease file's
// or, should it have been lost, the journal's.
func (s *DirStore) currentToken(dir string, p *dirPlan, plan string, st dirLease) (int64, error) {
	f, err := os.Open(filepath.Join(dir, journalFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st.Token, nil
	}
	if err != nil {
		return 0, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	if err := p.catchUp(f, plan, false); err != nil {
		return 0, err
	}
	return max(st.Token, p.maxToken), nil
}

// Acquire implements Store.
func (s *DirStore) Acquire(ctx context.Context, plan, holder string, ttl time.Duration) (*Lease, error) {
	if holder == "" || ttl <= 0 {
		return nil, fmt.Errorf("acquire lease of plan %q: need a holder and a positive ttl", plan)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	var l *Lease
	err := s.withPlan(plan, true, func(dir string, p *dirPlan) error {
		st, err := readLease(dir)
		if err != nil {
			return err
		}
		now := s.now()
		if st.Holder != "" && now.Before(st.Expires) {
			gone, why := holderGone(st.Proc)
			if !gone {
				return &LeaseHeldError{Plan: plan, Holder: st.Holder, Token: st.Token, Expires: st.Expires}
			}
			// Journaled before the lease changes: a crash in between
			// leaves the dead lease, taken over (and journaled) again.
			if err := s.appendLocked(dir, p, takeoverEvent(plan, holder, why, s.state(plan, st), st.Proc)); err != nil {
				return err
			}
		}
		cur, err := s.currentToken(dir, p, plan, st)
		if err != nil {
			return err
		}
		st = dirLease{Holder: holder, Token: cur + 1, Expires: now.Add(ttl).UTC(), Acquired: now.UTC(), Proc: selfProc()}
		if err := writeLease(dir, st); err != nil {
			return err
		}
		l = newLease(dirLeaseBackend{s}, plan, holder, st.Token, ttl, st.Expires, start)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("acquire lease of plan %q: %w", plan, err)
	}
	return l, nil
}

// LeaseState implements Store.
func (s *DirStore) LeaseState(ctx context.Context, plan string) (LeaseState, error) {
	var out LeaseState
	err := s.withPlan(plan, false, func(dir string, _ *dirPlan) error {
		st, err := readLease(dir)
		out = s.state(plan, st)
		return err
	})
	if err != nil {
		return LeaseState{}, fmt.Errorf("lease of plan %q: %w", plan, err)
	}
	return out, nil
}

// Break implements Store.
func (s *DirStore) Break(ctx context.Context, plan, who, reason string) (LeaseState, error) {
	if who == "" {
		return LeaseState{}, fmt.Errorf("break lease of plan %q: say who breaks it", plan)
	}
	var before LeaseState
	err := s.withPlan(plan, true, func(dir string, p *dirPlan) error {
		st, err := readLease(dir)
		if err != nil {
			return err
		}
		before = s.state(plan, st)
		f, created, err := openJournal(dir)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := p.catchUp(f, plan, true); err != nil {
			return err
		}
		cur := max(st.Token, p.maxToken)
		if err := writeLease(dir, dirLease{Token: cur + 1, BrokenBy: who, Reason: reason}); err != nil {
			return err
		}
		ev := breakEvent(plan, who, reason, before)
		if err := p.write(f, &ev, s.now()); err != nil {
			return err
		}
		if created {
			return syncDir(dir)
		}
		return nil
	})
	if err != nil {
		return LeaseState{}, fmt.Errorf("break lease of plan %q: %w", plan, err)
	}
	return before, nil
}

// appendLocked appends ev to the plan's journal; the caller holds the
// plan's exclusive lock (withPlan).
func (s *DirStore) appendLocked(dir string, p *dirPlan, ev Record) error {
	f, created, err := openJournal(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := p.catchUp(f, ev.Plan, true); err != nil {
		return err
	}
	if err := p.write(f, &ev, s.now()); err != nil {
		return err
	}
	if created {
		return syncDir(dir)
	}
	return nil
}

// breakEvent is the record Break appends.
func breakEvent(plan, who, reason string, before LeaseState) Record {
	a := localActor()
	a.Who = who
	return Record{
		Plan: plan, Kind: KindEvent, Event: EventLeaseBroken, Actor: a,
		Details: map[string]string{
			"holder": before.Holder, "token": strconv.FormatInt(before.Token, 10),
			"live": strconv.FormatBool(before.Live), "reason": reason,
		},
	}
}

// dirLeaseBackend implements leaseBackend on a DirStore.
type dirLeaseBackend struct{ s *DirStore }

func (b dirLeaseBackend) renew(ctx context.Context, plan string, token int64, ttl time.Duration) (time.Time, error) {
	return b.update(ctx, plan, token, func(st *dirLease, now time.Time) bool {
		st.Expires = now.Add(ttl).UTC()
		return true
	})
}

func (b dirLeaseBackend) check(ctx context.Context, plan string, token int64) (time.Time, error) {
	return b.update(ctx, plan, token, func(*dirLease, time.Time) bool { return false })
}

func (b dirLeaseBackend) release(ctx context.Context, plan string, token int64) error {
	_, err := b.update(ctx, plan, token, func(st *dirLease, _ time.Time) bool {
		st.Holder, st.Expires = "", time.Time{}
		return true
	})
	if errors.Is(err, ErrLeaseLost) {
		return nil // nothing of ours to release
	}
	return err
}

// update applies change to the lease if it is held with token and live;
// otherwise it reports how it was lost.
func (b dirLeaseBackend) update(ctx context.Context, plan string, token int64, change func(*dirLease, time.Time) bool) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	var exp time.Time
	err := b.s.withPlan(plan, true, func(dir string, _ *dirPlan) error {
		st, err := readLease(dir)
		if err != nil {
			return err
		}
		if err := lostReason(plan, token, b.s.state(plan, st)); err != nil {
			return err
		}
		if change(&st, b.s.now()) {
			if err := writeLease(dir, st); err != nil {
				return err
			}
		}
		exp = st.Expires
		return nil
	})
	return exp, err
}

// lostReason is nil when st is the live lease with token, else the
// *LeaseLostError that says what happened to it.
func lostReason(plan string, token int64, st LeaseState) error {
	var reason string
	switch {
	case st.Token != token && st.BrokenBy != "" && st.Holder == "":
		reason = fmt.Sprintf("broken by %s (%s)", st.BrokenBy, st.Reason)
	case st.Token != token && st.Holder != "":
		reason = fmt.Sprintf("taken over by %s with token %d", st.Holder, st.Token)
	case st.Token != token:
		reason = fmt.Sprintf("superseded by token %d", st.Token)
	case st.Holder == "":
		reason = "released"
	case !st.Live:
		reason = "expired at " + st.Expires.UTC().Format(time.RFC3339Nano)
	default:
		return nil
	}
	return &LeaseLostError{Plan: plan, Token: token, Reason: reason}
}
