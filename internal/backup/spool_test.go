package backup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"
)

// TestSpool: writes up to max do not wait for the reader; the reader gets
// the bytes in order, then the close's error; a write past max waits
// until the reader takes some; after stop, writes are dropped.
func TestSpool(t *testing.T) {
	s := newSpool(8)
	for _, w := range []string{"abc", "defgh"} { // 8 bytes held, no reader yet
		if n, err := s.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w, n, err)
		}
	}
	wrote := make(chan struct{})
	go func() {
		s.Write([]byte("ij"))
		close(wrote)
	}()
	// The write either ends (wrong) or is seen waiting (right).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		select {
		case <-wrote:
			t.Fatal("a write past max did not wait for the reader")
		default:
		}
		s.mu.Lock()
		waiting := s.waiting
		s.mu.Unlock()
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the write past max neither ended nor waited within 10 s")
		}
	}
	p := make([]byte, 2)
	if n, _ := s.Read(p); string(p[:n]) != "ab" {
		t.Fatalf("first read %q, want ab", p[:n])
	}
	<-wrote // the reader took 2 bytes: the blocked write goes on
	boom := errors.New("pg_dump failed")
	s.CloseWithError(boom)
	rest, err := io.ReadAll(s)
	if !errors.Is(err, boom) || string(rest) != "cdefghij" {
		t.Fatalf("rest %q, %v; want cdefghij, %v", rest, err, boom)
	}

	s = newSpool(4)
	s.stop()
	dropped := make(chan error, 1)
	go func() {
		for i := 0; i < 2; i++ { // the second would wait if the first were held
			if n, err := s.Write(bytes.Repeat([]byte("x"), 10)); n != 10 || err != nil {
				dropped <- fmt.Errorf("write after stop = %d, %v", n, err)
				return
			}
		}
		dropped <- nil
	}()
	select {
	case err := <-dropped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writes after stop waited for a reader that is gone")
	}
}

// TestSpoolReusesNothingUnread: with buffers going round, what the reader
// gets is exactly what was written, in order, read in pieces of another
// size than written.
func TestSpoolReusesNothingUnread(t *testing.T) {
	s := newSpool(1 << 14)
	var want bytes.Buffer
	chunks := make([][]byte, 2000)
	for i := range chunks {
		chunks[i] = bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 1+i%1500)
		want.Write(chunks[i])
	}
	go func() {
		for _, c := range chunks {
			s.Write(c)
		}
		s.CloseWithError(nil)
	}()
	var got bytes.Buffer
	p := make([]byte, 777)
	for {
		n, err := s.Read(p)
		got.Write(p[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("read %d bytes, not the %d written", got.Len(), want.Len())
	}
	if len(s.free) == 0 {
		t.Fatal("no buffer went back to the free list")
	}
}
