// Package freeport picks loopback TCP ports for servers that must know
// their address before they start (tests, the sandbox's emulated Kong
// nodes). A port from the kernel's ephemeral range (what listening on port
// 0 returns) can be taken a moment later as the local port of any outgoing
// connection, which is frequent on a busy test machine; so ports are picked
// at random below that range, checked free by binding, and never handed
// out twice by this process.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

var (
	mu     sync.Mutex
	handed = map[int]bool{}
)

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
		if handed[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		_ = l.Close()
		handed[p] = true
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
