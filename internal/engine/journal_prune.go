package engine

import (
	"context"
	"fmt"

	"github.com/upshift-dev/upshift/schema"
)

// PruneBefore deletes the records of one of the agent's own journals
// (a name starting with schema.ReservedPrefix: its poll requests) whose seq
// is below before, always keeping the newest: the next seq is max(seq)+1,
// so seqs stay increasing and a reader's "since" stays valid. A plan's
// journal is never pruned: it is the run's history. Only the PostgreSQL
// journal has these records (standbys exist only with it).
func (s *PGStore) PruneBefore(ctx context.Context, plan string, before int64) (int64, error) {
	if !schema.ReservedPlanName(plan) {
		return 0, fmt.Errorf("prune journal %q: only the agent's own journals (%s…) are pruned", plan, schema.ReservedPrefix)
	}
	tag, err := s.pool.Exec(ctx, `delete from upshift_journal where plan = $1 and seq < $2
		and seq < (select max(seq) from upshift_journal where plan = $1)`, plan, before)
	if err != nil {
		return 0, fmt.Errorf("prune journal %q: %w", plan, err)
	}
	return tag.RowsAffected(), nil
}
