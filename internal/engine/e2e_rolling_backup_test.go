package engine

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

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

// TestRollingLoadsOnlyTheVerifiedArchive: the backup's archive changes on
// disk after it was verified (a route dropped): the first Y node is not
// loaded with it, and the plan stops before any traffic moves.
func TestRollingLoadsOnlyTheVerifiedArchive(t *testing.T) {
	t.Parallel()
	w := newRollingWorld(t)
	ctx := context.Background()
	e := engineFor(t, lintedPlan(t, w.planSrc("")), w.sim, w.store, func(c *Config) {
		c.Retries = 1
		orig := c.Drivers.Hooks
		c.Drivers.Hooks = hookFunc(func(ctx context.Context, argv []string) (string, error) {
			if strings.Join(argv, " ") == "sim start y1" {
				if err := dropHealthRoute(ctx, c.Drivers.Backups); err != nil {
					t.Error(err)
				}
			}
			return orig.Run(ctx, argv)
		})
	})
	out, err := e.Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Condition.Reason != ReasonPreconditionFail || !strings.Contains(out.Condition.Message, "not the file backed up") {
		t.Fatalf("apply: %+v ran %v", out.Condition, out.Ran)
	}
	pv, _ := e.Preview(ctx)
	if tr := pv.Observed.Traffic; tr == nil || tr.From != 100 {
		t.Fatalf("traffic moved: %+v", tr)
	}
}

// dropHealthRoute rewrites the latest backup's archive without the route
// named health (the checks do not use it), leaving its manifest as it was.
func dropHealthRoute(ctx context.Context, b Backups) error {
	m, err := b.Latest(ctx)
	if err != nil || m == nil {
		return fmt.Errorf("latest backup: %v %v", m, err)
	}
	raw, err := os.ReadFile(m.ArchivePath())
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return err
	}
	routes, _ := doc["routes"].([]any)
	keep := []any{}
	for _, r := range routes {
		if r.(map[string]any)["name"] != "health" {
			keep = append(keep, r)
		}
	}
	if len(keep) == len(routes) {
		return fmt.Errorf("the backup has no route named health: %s", raw)
	}
	doc["routes"] = keep
	if raw, err = yaml.Marshal(doc); err != nil {
		return err
	}
	return os.WriteFile(m.ArchivePath(), raw, 0o600)
}
