package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// DirStore is the default Store: a directory with one subdirectory per
// plan holding
//
//	lock           empty; flock(2)ed around every operation on the plan
//	journal.jsonl  the records, one framed JSON line each, append-only
//	lease.json     the lease: holder, token, expiry (replaced atomically)
//
// Why one append-only file per plan rather than one file per record: an
// append is one write plus one fsync (a new file per record would also need
// the directory fsync'd each time), reads are one sequential read, and the
// record count of a plan (tens to hundreds) never makes the file large.
//
// Framing: each line is "CCCCCCCC {json}\n" where CCCCCCCC is the CRC-32C
// of the JSON in hex. A line counts only when it ends in '\n' and its
// checksum matches, so a write torn by a crash is never misread: an invalid
// last line is ignored by readers and cut off by the next writer (under the
// exclusive lock); an invalid line followed by valid ones is corruption and
// every operation on the plan fails with ErrCorrupt until a person looks.
//
// Locking: every operation takes flock on the plan's lock file, shared for
// reads and exclusive for writes, so several processes (and several
// DirStores in one process) may share a directory. flock does not work
// across NFS; the directory must be local. The lease (lease.go) is what
// keeps two runs of a plan apart over time; flock only makes each append and
// each lease change atomic.
//
// Durability: every append and lease change is fsync'd before it returns,
// and so is the directory when a file is created or replaced.
type DirStore struct {
	root string
	now  func() time.Time

	mu    sync.Mutex
	plans map[string]*dirPlan
}

// DirOptions configures a DirStore; the zero value is ready to use.
type DirOptions struct {
	// Now is the clock that judges lease expiry; nil means time.Now. Tests
	// pass a fake clock to expire leases without waiting.
	Now func() time.Time
}

// dirPlan serialises one plan's operations within the process (flock does
// it between processes) and caches where its journal ends.
type dirPlan struct {
	mu sync.Mutex
	journalTail
}

// journalTail is where a plan's journal file ends, as last read.
type journalTail struct {
	ino      uint64 // journal file the cache describes
	end      int64  // bytes of valid records
	lastSeq  int64
	maxToken int64
}

var _ Store = (*DirStore)(nil)

// OpenDir opens (creating it if needed) the journal directory root.
func OpenDir(root string, opts DirOptions) (*DirStore, error) {
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, fmt.Errorf("journal directory: %w", err)
	}
	if err := syncDir(filepath.Dir(root)); err != nil {
		return nil, fmt.Errorf("journal directory: %w", err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &DirStore{root: root, now: now, plans: map[string]*dirPlan{}}, nil
}

// Root is the directory the store lives in.
func (s *DirStore) Root() string { return s.root }

// Close does nothing: every operation opens and closes its own files.
func (s *DirStore) Close() error { return nil }

const (
	journalFile = "journal.jsonl"
	leaseFile   = "lease.json"
	lockFile    = "lock"
)

// withPlan runs fn holding the plan's in-process mutex and its flock
// (exclusive or shared). A read of a plan that has no directory runs fn
// with dir == "" and takes no lock.
func (s *DirStore) withPlan(plan string, exclusive bool, fn func(dir string, p *dirPlan) error) error {
	if err := validPlanName(plan); err != nil {
		return err
	}
	s.mu.Lock()
	p := s.plans[plan]
	if p == nil {
		p = &dirPlan{}
		s.plans[plan] = p
	}
	s.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()

	dir := filepath.Join(s.root, plan)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if !exclusive {
			return fn("", p)
		}
		if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("plan %q: %w", plan, err)
		}
		if err := syncDir(s.root); err != nil {
			return fmt.Errorf("plan %q: %w", plan, err)
		}
	} else if err != nil {
		return fmt.Errorf("plan %q: %w", plan, err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("plan %q: open lock: %w", plan, err)
	}
	defer lf.Close()
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(lf.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("plan %q: flock: %w", plan, err)
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing the file unlocks too
	return fn(dir, p)
}

// Append implements Store.
func (s *DirStore) Append(ctx context.Context, rec Record) (Record, error) {
	if err := checkRecord(&rec); err != nil {
		return Record{}, err
	}
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	err := s.withPlan(rec.Plan, true, func(dir string, p *dirPlan) error {
		f, created, err := openJournal(dir)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := p.catchUp(f, rec.Plan, true); err != nil {
			return err
		}
		st, err := readLease(dir)
		if err != nil {
			return err
		}
		cur := max(st.Token, p.maxToken)
		if err := fence(&rec, cur, st.Holder != "" && s.now().Before(st.Expires)); err != nil {
			return err
		}
		if err := p.write(f, &rec, s.now()); err != nil {
			return err
		}
		if created {
			return syncDir(dir)
		}
		return nil
	})
	if err != nil {
		return Record{}, fmt.Errorf("append %s to journal: %w", rec.Kind, err)
	}
	return rec, nil
}

// write gives rec the next Seq and appends it durably at p.end; on failure
// it cuts the file back so nothing partial stays.
func (p *dirPlan) write(f *os.File, rec *Record, now time.Time) error {
	rec.Seq = p.lastSeq + 1
	if rec.Time.IsZero() {
		rec.Time = now
	}
	rec.Time = rec.Time.UTC()
	line, err := frame(rec)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(line, p.end); err != nil {
		_ = f.Truncate(p.end)
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		// The page cache may hold the line while the disk does not; cut it
		// so a later success cannot make it look durable.
		_ = f.Truncate(p.end)
		return fmt.Errorf("fsync %s: %w", f.Name(), err)
	}
	p.end += int64(len(line))
	p.lastSeq = rec.Seq
	p.maxToken = max(p.maxToken, rec.Token)
	return nil
}

// openJournal opens dir's journal for reading and writing, creating it.
func openJournal(dir string) (f *os.File, created bool, err error) {
	path := filepath.Join(dir, journalFile)
	f, err = os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
		created = true
	}
	if err != nil {
		return nil, false, fmt.Errorf("open journal: %w", err)
	}
	return f, created, nil
}

// catchUp brings p's cache to the end of f's valid records, reading only
// what other writers added since. With repair (exclusive lock held) a torn
// last line is cut off.
func (p *dirPlan) catchUp(f *os.File, plan string, repair bool) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat journal: %w", err)
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino
	if ino != p.ino || fi.Size() < p.end {
		p.journalTail = journalTail{ino: ino}
	}
	if fi.Size() == p.end {
		return nil
	}
	data := make([]byte, fi.Size()-p.end)
	if _, err := f.ReadAt(data, p.end); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read journal: %w", err)
	}
	recs, good, err := parseJournal(data, plan, p.lastSeq)
	if err != nil {
		return fmt.Errorf("%s at byte %d: %w", f.Name(), p.end+int64(good), err)
	}
	for _, r := range recs {
		p.maxToken = max(p.maxToken, r.Token)
	}
	if n := len(recs); n > 0 {
		p.lastSeq = recs[n-1].Seq
	}
	p.end += int64(good)
	if good < len(data) && repair {
		slog.Warn("journal: cutting off a torn last record", "plan", plan, "file", f.Name(), "offset", p.end, "bytes", len(data)-good)
		if err := f.Truncate(p.end); err != nil {
			return fmt.Errorf("cut torn record: %w", err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("cut torn record: fsync: %w", err)
		}
	}
	return nil
}

// Records implements Store.
func (s *DirStore) Records(ctx context.Context, plan string, since int64) ([]Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Record
	err := s.withPlan(plan, false, func(dir string, _ *dirPlan) error {
		if dir == "" {
			return nil
		}
		data, err := os.ReadFile(filepath.Join(dir, journalFile))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read journal: %w", err)
		}
		recs, good, err := parseJournal(data, plan, 0)
		if err != nil {
			return fmt.Errorf("%s at byte %d: %w", filepath.Join(dir, journalFile), good, err)
		}
		for _, r := range recs {
			if r.Seq > since {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read journal of plan %q: %w", plan, err)
	}
	return out, nil
}

// Plans implements Store.
func (s *DirStore) Plans(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("list plans: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && validPlanName(e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frame renders rec as one journal line.
func frame(rec *Record) ([]byte, error) {
	js, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	line := make([]byte, 0, len(js)+10)
	line = fmt.Appendf(line, "%08x ", crc32.Checksum(js, castagnoli))
	line = append(line, js...)
	return append(line, '\n'), nil
}

// parseJournal decodes framed lines of plan whose first Seq must be
// prevSeq+1. It returns the records and the number of bytes they span. An
// invalid or unterminated last line is left out (a torn write); an invalid
// line followed by more data is ErrCorrupt.
func parseJournal(data []byte, plan string, prevSeq int64) ([]Record, int, error) {
	var recs []Record
	good := 0
	for good < len(data) {
		nl := bytes.IndexByte(data[good:], '\n')
		if nl < 0 {
			return recs, good, nil // unterminated: torn
		}
		line := data[good : good+nl]
		rec, err := unframe(line)
		if err == nil && (rec.Plan != plan || rec.Seq != prevSeq+1) {
			err = fmt.Errorf("record seq %d of plan %q where seq %d of plan %q belongs", rec.Seq, rec.Plan, prevSeq+1, plan)
		}
		if err != nil {
			if good+nl+1 == len(data) {
				return recs, good, nil // the last line: torn
			}
			return recs, good, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		recs = append(recs, rec)
		prevSeq = rec.Seq
		good += nl + 1
	}
	return recs, good, nil
}

func unframe(line []byte) (Record, error) {
	var rec Record
	if len(line) < 10 || line[8] != ' ' {
		return rec, errors.New("no checksum")
	}
	want, err := strconv.ParseUint(string(line[:8]), 16, 32)
	if err != nil {
		return rec, errors.New("bad checksum field")
	}
	js := line[9:]
	if crc32.Checksum(js, castagnoli) != uint32(want) {
		return rec, errors.New("checksum mismatch")
	}
	if err := json.Unmarshal(js, &rec); err != nil {
		return rec, fmt.Errorf("decode: %v", err)
	}
	return rec, nil
}

// syncDir fsyncs a directory so that a file created or renamed in it
// survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
