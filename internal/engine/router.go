package engine

import (
	"context"

	"github.com/upshift-dev/upshift/internal/traffic"
)

// Weights is a split of traffic between X (From) and Y (To), in percent,
// summing to 100. It is traffic's type, so drivers need not import engine.
type Weights = traffic.Weights

// Router is what the engine needs of a load balancer: acting (SetWeights)
// split from checking (Weights). *traffic.Nginx, *traffic.HAProxy and
// *traffic.Command implement it (compile-time checks in drivers_test.go).
type Router interface {
	// SetWeights makes the load balancer send w.From percent of new
	// requests to X and w.To percent to Y. A side at 0 drains: it gets no
	// new requests, and its in-flight requests finish. Safe to repeat with
	// the same w (a no-op or an absolute re-set). Cancellation stops the
	// change where it can be stopped safely; the split may then be the old
	// one or, for drivers that set several servers one by one (HAProxy),
	// partly applied: read it back with Weights before deciding anything.
	SetWeights(ctx context.Context, w Weights) error
	// Weights reads the split back from the load balancer itself (a file
	// nginx loads, HAProxy's runtime state, the user's get command), never
	// from memory. Read-only, safe to repeat; cancellation abandons the
	// read and returns an error.
	Weights(ctx context.Context) (Weights, error)
}
