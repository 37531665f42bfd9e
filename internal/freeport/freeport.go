// Package freeport picks loopback TCP ports for servers that must know
// their address before they start (tests, the sandbox's emulated Kong
// nodes). A port from the kernel's ephemeral range (what listening on port
// 0 returns) can be taken a moment later as the local port of any outgoing
// connection, which is frequent on a busy test machine; so ports are picked
// at random below that range, checked free by binding, and never handed
// out twice by this process.
//
// Nor twice on this host while the process that took it lives: several
// test binaries (and their nginx, PostgreSQL, kongsim fleets) pick ports
// from the same range at once, and a port checked free here could be
// bound by another process between the check and this process's own bind
// (a fleet node binds its ports minutes later, at its start hook). Each
// port handed out is reserved by a write lock on its byte of one lock
// file (LockPath); the kernel drops the locks when the process exits,
// killed or not. A process that does not use this package can still take
// a port, but nothing else picks in this range.
package freeport

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// LockPath is the host-wide reservation file: a fixed path, not
// os.TempDir, so processes run with different TMPDIRs share it.
const LockPath = "/tmp/upshift-freeport.lock"

var (
	mu     sync.Mutex
	handed = map[int]bool{}
	lockF  *os.File // open for the process's life: closing it drops its locks
	lockE  error
)

// reserve takes port p host-wide: false when another live process holds
// it. Without the lock file (unwritable /tmp) it reserves nothing and
// says yes: the in-process check still holds.
func reserve(p int) bool {
	if lockF == nil && lockE == nil {
		lockF, lockE = os.OpenFile(LockPath, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o666)
		if lockE == nil {
			_ = lockF.Chmod(0o666) // other users' test runs share it
		}
	}
	if lockE != nil {
		return true
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: io.SeekStart, Start: int64(p), Len: 1}
	return syscall.FcntlFlock(lockF.Fd(), syscall.F_SETLK, &lk) == nil
}

// lowEphemeral is the first port of the kernel's ephemeral range.
func lowEphemeral() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 12000 {
				return n
			}
		}
	}
	return 32768
}

// Get returns a loopback port that was free a moment ago.
func Get() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	lo, hi := 10000, lowEphemeral()
	for range 200 {
		p := lo + rand.IntN(hi-lo)
		if handed[p] || !reserve(p) {
			continue
		}
		// Reserved from here on (a failed check keeps its lock: the port
		// is someone else's anyway).
		handed[p] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		_ = l.Close()
		return p, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Addr is Get as "127.0.0.1:PORT".
func Addr() (string, error) {
	p, err := Get()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(p), nil
}
