package leader

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// partitionProxy forwards TCP from 127.0.0.1 to a server. Freeze plays a
// network partition: bytes in both directions are dropped while both
// sockets stay open (the client's writes vanish and no reply comes; the
// server sees a live, idle session), and new connections are refused.
// Cut closes everything, as the server's keepalive eventually would.
type partitionProxy struct {
	addr   string
	frozen atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
	ln    net.Listener
	wg    sync.WaitGroup
}

func startPartitionProxy(t *testing.T, target string) *partitionProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &partitionProxy{addr: ln.Addr().String(), ln: ln}
	t.Cleanup(func() { p.Cut(); p.wg.Wait() })
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.frozen.Load() {
				c.Close()
				continue
			}
			s, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			p.wg.Go(func() { p.pump(s, c) })
			p.wg.Go(func() { p.pump(c, s) })
		}
	})
	return p
}

// pump copies src to dst, dropping what it reads while frozen.
func (p *partitionProxy) pump(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *partitionProxy) Freeze() { p.frozen.Store(true) }

// Cut closes the listener and every forwarded connection.
func (p *partitionProxy) Cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}

func TestPartitionedLeaderStepsDown(t *testing.T) {
	pg := testenv.Postgres(t)
	dsn := pg.NewDatabase(t)
	admin := adminConn(t, dsn)
	proxy := startPartitionProxy(t, fmt.Sprintf("127.0.0.1:%d", pg.Port))
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = proxy.addr
	const check = 200 * time.Millisecond
	a := startAgent(t, u.String(), "a", check, nil)
	lctx := a.nextLead(t, 10*time.Second)
	b := startAgent(t, dsn, "b", fast, nil)
	waitFor(t, 10*time.Second, "b to try the lock", func() bool { return b.e.tries.Load() >= 1 })

	proxy.Freeze()
	took := waitDone(t, lctx, 5*time.Second, "after the partition")
	t.Logf("partitioned leader stepped down after %v (Check %v)", took, check)
	var le *Error
	if err := context.Cause(lctx); !errors.As(err, &le) || le.Op != "ping lock connection" {
		t.Errorf("cause = %v, want a failed ping", err)
	}
	if a.e.IsLeader() {
		t.Error("a still reports IsLeader")
	}
	// The server has not noticed: the lock is still held by a's session, so
	// b must not lead yet. This is the window the keepalive settings bound.
	n := b.e.tries.Load()
	waitFor(t, 10*time.Second, "three more attempts by b", func() bool { return b.e.tries.Load() >= n+3 })
	if b.e.IsLeader() {
		t.Fatal("b leads while the server still holds a's lock")
	}
	if got := holders(t, admin, DefaultKey); !slices.Equal(got, []string{AppNamePrefix + "a"}) {
		t.Errorf("holders during the partition = %q, want a's session", got)
	}

	proxy.Cut() // the server's side of a's session goes away
	b.nextLead(t, 10*time.Second)
}
