package engine

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeClock is the directory store's clock in tests: leases expire when the
// test says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openDirT(t *testing.T, root string, clk *fakeClock) *DirStore {
	t.Helper()
	s, err := OpenDir(root, DirOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newDirHarness(t *testing.T) *storeHarness {
	root := filepath.Join(t.TempDir(), "journal")
	clk := newFakeClock()
	return &storeHarness{
		open:    func(t *testing.T) Store { return openDirT(t, root, clk) },
		ttl:     time.Hour,
		advance: func(_ *testing.T, d time.Duration) { clk.Add(d) },
	}
}

func TestDirStoreConformance(t *testing.T) {
	t.Parallel()
	testStoreConformance(t, newDirHarness)
}

// TestDirStoreTornWrite writes a partial last line by hand, as a crash in
// the middle of an append leaves it: readers ignore it, the next append cuts
// it off and continues the sequence.
func TestDirStoreTornWrite(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	clk := newFakeClock()
	s := openDirT(t, root, clk)
	for range 3 {
		mustAppend(t, s, Record{Plan: "p", Kind: KindEvent, Event: "e"})
	}
	path := filepath.Join(root, "p", journalFile)
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	next := Record{Plan: "p", Seq: 4, Kind: KindEvent, Event: "torn", Time: clk.Now()}
	line, err := frame(&next)
	if err != nil {
		t.Fatal(err)
	}
	for _, torn := range [][]byte{
		line[:len(line)/2], // cut in the JSON
		line[:len(line)-1], // everything but the newline
		line[:5],           // cut in the checksum
		append(bytes.Repeat([]byte{0}, 700), '\n'), // zeros from a lost block, then a newline
		append([]byte("00000000 "), line[9:]...),   // whole line, wrong checksum
	} {
		if err := os.WriteFile(path, append(append([]byte{}, whole...), torn...), 0o640); err != nil {
			t.Fatal(err)
		}
		s2 := openDirT(t, root, clk) // a restarted process
		if recs := mustRecords(t, s2, "p", 0); len(recs) != 3 {
			t.Fatalf("torn %q: read %d records, want 3", torn, len(recs))
		}
		got := mustAppend(t, s2, Record{Plan: "p", Kind: KindEvent, Event: "after"})
		if got.Seq != 4 {
			t.Fatalf("torn %q: next seq %d, want 4", torn, got.Seq)
		}
		data, _ := os.ReadFile(path)
		if !bytes.HasPrefix(data, whole) || bytes.Count(data, []byte("\n")) != 4 || bytes.Contains(data, torn) {
			t.Fatalf("torn %q: journal not repaired:\n%s", torn, data)
		}
		if recs := mustRecords(t, s2, "p", 0); len(recs) != 4 || recs[3].Event != "after" {
			t.Fatalf("torn %q: after repair %+v", torn, recs)
		}
		whole = whole[:len(whole):len(whole)]
		if err := os.WriteFile(path, whole, 0o640); err != nil { // back to three records
			t.Fatal(err)
		}
	}
	// The original handle's cache noticed the file shrank and grew again.
	if got := mustAppend(t, s, Record{Plan: "p", Kind: KindEvent, Event: "old handle"}); got.Seq != 4 {
		t.Errorf("old handle appended seq %d, want 4", got.Seq)
	}
}

// TestDirStoreCorruptMiddle: a bad line followed by good ones is not a torn
// write; every operation refuses rather than guess.
func TestDirStoreCorruptMiddle(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	clk := newFakeClock()
	s := openDirT(t, root, clk)
	for range 3 {
		mustAppend(t, s, Record{Plan: "p", Kind: KindEvent, Event: "event"})
	}
	path := filepath.Join(root, "p", journalFile)
	data, _ := os.ReadFile(path)
	bad := bytes.Replace(data, []byte(`"event":"event"`), []byte(`"event":"EVENT"`), 1) // checksum no longer matches
	if err := os.WriteFile(path, bad, 0o640); err != nil {
		t.Fatal(err)
	}
	s2 := openDirT(t, root, clk)
	if _, err := s2.Records(ctxT(t), "p", 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Records = %v, want ErrCorrupt", err)
	}
	if _, err := s2.Append(ctxT(t), Record{Plan: "p", Kind: KindEvent, Event: "x"}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Append = %v, want ErrCorrupt", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, bad) {
		t.Error("a corrupt journal was modified")
	}
	// A record out of sequence is corruption too.
	rec := Record{Plan: "p", Seq: 9, Kind: KindEvent, Event: "x", Time: clk.Now()}
	line, _ := frame(&rec)
	if err := os.WriteFile(path, append(append(append([]byte{}, data...), line...), line...), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Records(ctxT(t), "p", 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Records with a gap = %v, want ErrCorrupt", err)
	}
}

// TestDirStoreLeaseFileLost: tokens keep increasing from the journal's
// highest when lease.json is gone, so a stale holder stays fenced.
func TestDirStoreLeaseFileLost(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	clk := newFakeClock()
	s := openDirT(t, root, clk)
	var last *Lease
	for range 3 {
		l := mustAcquire(t, s, "p", "a", time.Hour)
		mustAppend(t, s, intent("p", "s", l))
		if err := l.Release(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		last = l
	}
	if err := os.Remove(filepath.Join(root, "p", leaseFile)); err != nil {
		t.Fatal(err)
	}
	l := mustAcquire(t, s, "p", "b", time.Hour)
	if l.Token <= last.Token {
		t.Fatalf("token %d after losing lease.json, want > %d", l.Token, last.Token)
	}
}

// TestDirStoreFilesDurable checks the on-disk layout other tools (and a
// person debugging) rely on.
func TestDirStoreFilesDurable(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "nested", "journal")
	clk := newFakeClock()
	s := openDirT(t, root, clk)
	l := mustAcquire(t, s, "plan-1", "me", time.Hour)
	mustAppend(t, s, intent("plan-1", "s", l))
	for _, f := range []string{lockFile, journalFile, leaseFile} {
		if _, err := os.Stat(filepath.Join(root, "plan-1", f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "plan-1", leaseFile+".tmp")); err == nil {
		t.Error("lease.json.tmp left behind")
	}
	data, _ := os.ReadFile(filepath.Join(root, "plan-1", journalFile))
	if len(data) < 10 || data[8] != ' ' || data[len(data)-1] != '\n' {
		t.Errorf("journal line not framed: %q", data)
	}
}
