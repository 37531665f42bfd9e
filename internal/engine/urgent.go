package engine

import (
	"context"
	"time"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// urgentYRead bounds the reads of Y's side in the observation that picks
// a rollback's first step (after a failed gate, or a plan that requests
// the rollback), instead of the observer's PartTimeout (15 s): a sick Y
// whose Admin or Status API hangs would otherwise hold traffic on it that
// long. Those steps (X ready, all traffic to X) read X and the load
// balancer only, which keep their full timeout; a Y read cut short is an
// unreachable Y, and the next pass observes it again in full.
const urgentYRead = time.Second

// urgentObserver is the observer for the pass that starts a rollback:
// Y's reads bounded by urgentYRead. Not used when the rollback's first
// step is stopping Y (after blue-green's finish or in-place migrations),
// where an unanswered Y must not pass for a stopped one.
func (e *Engine) urgentObserver(h *history) *Observer {
	t, _ := e.rollbackTable(h)
	if len(t) == 0 || t[0].name == "rollback_stop_to" {
		return e.drv.Observer
	}
	o := *e.drv.Observer
	// One deadline for every Y read of the pass: a node's read is several
	// requests (GET /, then readiness).
	d := time.Now().Add(urgentYRead)
	if o.To != nil {
		o.To = boundedNode{o.To, d}
	}
	if len(o.ToNodes) > 0 {
		nodes := make([]NamedNode, len(o.ToNodes))
		for i, n := range o.ToNodes {
			nodes[i] = NamedNode{Name: n.Name, Reader: boundedNode{n.Reader, d}}
		}
		o.ToNodes = nodes
	}
	if o.ToDB != nil {
		if db, ok := o.ToDB.(DatabaseReader); ok {
			o.ToDB = boundedDatabase{boundedSchema{o.ToDB, d}, db}
		} else {
			o.ToDB = boundedSchema{o.ToDB, d}
		}
	}
	return &o
}

type boundedNode struct {
	r NodeReader
	d time.Time
}

// AdminURL is the wrapped node's, for what a slow read waits for.
func (b boundedNode) AdminURL() string {
	if a, ok := b.r.(interface{ AdminURL() string }); ok {
		return a.AdminURL()
	}
	return ""
}

func (b boundedNode) Info(ctx context.Context) (kong.NodeInfo, error) {
	ctx, cancel := context.WithDeadline(ctx, b.d)
	defer cancel()
	return b.r.Info(ctx)
}

func (b boundedNode) Ready(ctx context.Context, v kongrelease.Version) (kong.Readiness, error) {
	ctx, cancel := context.WithDeadline(ctx, b.d)
	defer cancel()
	return b.r.Ready(ctx, v)
}

type boundedSchema struct {
	r SchemaReader
	d time.Time
}

func (b boundedSchema) ReadSchema(ctx context.Context) (kong.SchemaState, error) {
	ctx, cancel := context.WithDeadline(ctx, b.d)
	defer cancel()
	return b.r.ReadSchema(ctx)
}

type boundedDatabase struct {
	boundedSchema
	db DatabaseReader
}

func (b boundedDatabase) ReadDatabase(ctx context.Context) (DatabaseRead, error) {
	ctx, cancel := context.WithDeadline(ctx, b.d)
	defer cancel()
	return b.db.ReadDatabase(ctx)
}
