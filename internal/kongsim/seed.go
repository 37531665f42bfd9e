package kongsim

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/migrations"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/plugins"
	"github.com/upshift-dev/upshift/internal/kongsim/internal/store"
)

// SeedSpec says how many services, routes, consumers, key-auth
// credentials and rate-limiting plugins Seed writes (see store.SeedSpec).
type SeedSpec = store.SeedSpec

// Seed fills the database at dsn, bootstrapped for Kong version, with
// spec's entities quickly (COPY into Kong's tables, one transaction), as a
// node of that version would have stored them through its Admin API:
// defaults, the version's plugin config shape, ws_id, cache_key,
// timestamps, unique names. It refuses a database a node of that version
// would refuse to start on (not bootstrapped, new migrations). It returns
// the rows written per table. Nodes already running see the entities at
// their next poll of the database.
func Seed(ctx context.Context, dsn, version string, spec SeedSpec) (map[string]int, error) {
	v, err := kongrelease.Parse(version)
	if err != nil {
		return nil, err
	}
	if err := spec.Check(); err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("seed: parse DSN: %w", err)
	}
	defer pool.Close()
	st, err := migrations.Inspect(ctx, pool, v)
	if err != nil {
		return nil, fmt.Errorf("seed: read the migration state: %w", err)
	}
	if err := st.StartError(); err != nil {
		return nil, fmt.Errorf("seed: database not ready for Kong %s: %w", v, err)
	}
	offer := plugins.NewOffer(v, []string{"bundled"})
	s := &store.Store{Reg: store.NewRegistry(v), Plugin: offer.Validate, PluginTop: offer, Backend: &store.PG{Pool: pool}}
	return s.Seed(ctx, spec)
}
