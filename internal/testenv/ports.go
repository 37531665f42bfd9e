package testenv

import (
	"fmt"
	"slices"
	"testing"

	"github.com/upshift-dev/upshift/internal/freeport"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago
// (internal/freeport: below the ephemeral range, never handed out twice by
// this process nor by another live one using internal/freeport).
// A process that does not may take the port before the caller binds it, so servers
// started on such a port are started through [retryPorts], which picks a new
// port and tries again when the server fails to start.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return p
}

// freePort picks below the kernel's ephemeral range (internal/freeport):
// a port from that range may be taken by any outgoing connection.
func freePort() (int, error) { return freeport.Get() }

// portAttempts bounds how often a server start is retried on a new port.
const portAttempts = 5

// retryPorts calls start with n fresh free ports until it succeeds, at most
// portAttempts times; start must clean up after itself when it fails. It
// returns the last error when every attempt failed.
func retryPorts(n int, start func(ports []int) error) error {
	var err error
	for range portAttempts {
		ports := make([]int, 0, n)
		for len(ports) < n {
			p, perr := freePort()
			if perr != nil {
				return perr
			}
			if !slices.Contains(ports, p) {
				ports = append(ports, p)
			}
		}
		if err = start(ports); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%d attempts on fresh ports failed, last: %w", portAttempts, err)
}
