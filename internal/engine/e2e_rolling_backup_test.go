package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/backup"
	"github.com/upshift-dev/upshift/internal/kong"
)

// changedAfterBackup is the plan's real backup driver, except that X's
// configuration changes right after the backup is taken and the backup is
// then verified again (backup.VerifyDeclarative), as if X had been written
// to between GET /config and the verification.
type changedAfterBackup struct {
	Backups
	x *kong.Client
}

func (c changedAfterBackup) Backup(ctx context.Context) (*backup.Manifest, error) {
	m, err := c.Backups.Backup(ctx)
	if err != nil {
		return m, err
	}
	if err := c.x.PostConfig(ctx, []byte(`{"_format_version":"3.0","services":[{"name":"late","host":"late.internal"}]}`)); err != nil {
		return m, err
	}
	_, err = backup.VerifyDeclarative(ctx, m, c.x)
	return m, err
}

// TestRollingRefusesUnverifiedBackup: a rolling plan on DB-less nodes
// stops at the backup step when its declarative backup fails verification
// (here X no longer serves the backed-up configuration): no Y node is
// started and traffic stays on X.
func TestRollingRefusesUnverifiedBackup(t *testing.T) {
	t.Parallel()
	w := newRollingWorld(t)
	ctx := context.Background()
	x1, err := kong.New(kong.Options{AdminURL: w.sim.node("x1").AdminURL()})
	if err != nil {
		t.Fatal(err)
	}
	e := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store, func(c *Config) {
		c.Drivers.Backups = changedAfterBackup{Backups: c.Drivers.Backups, x: x1}
	})
	out, err := e.Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Condition.Reason != ReasonPreconditionFail || !strings.Contains(out.Condition.Message, "X serves another configuration") {
		t.Fatalf("apply: %+v ran %v", out.Condition, out.Ran)
	}
	if strings.Contains(strings.Join(out.Ran, " "), "start_to") || w.sim.node("y1") != nil || w.sim.node("y2") != nil {
		t.Fatalf("a Y node was started on an unverified backup: ran %v", out.Ran)
	}
	pv, _ := e.Preview(ctx)
	if tr := pv.Observed.Traffic; tr == nil || tr.From != 100 {
		t.Fatalf("traffic moved: %+v", tr)
	}
}
