package analysis

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/internal/kong"
)

// DataPlaneLister lists a control plane's data planes; *kong.Client
// implements it (GET /clustering/data-planes).
type DataPlaneLister interface {
	DataPlanes(ctx context.Context) ([]kong.DataPlane, error)
}

// DataPlaneSyncConfig is the hybrid check: the new data planes are
// connected to the control plane and run one configuration.
type DataPlaneSyncConfig struct {
	Name         string
	ControlPlane DataPlaneLister
	Target       string // the control plane's admin URL, for reasons and errors
	// Version selects the new data planes: those whose reported version
	// is Version or starts with Version + "." ("3.9" matches 3.9.1).
	// Empty: every listed data plane.
	Version string
	// MinDataPlanes is how many selected data planes must be there; default 1.
	MinDataPlanes int
	// MaxLastSeen: a data plane whose last_seen is older is not connected;
	// default 90s (Kong's data planes ping every 30s).
	MaxLastSeen time.Duration
	// Stable is the time between the two observations that must agree
	// on the configuration hash; default 30s.
	Stable time.Duration
	// Now is the clock last_seen is compared with; default time.Now.
	Now func() time.Time
}

// DataPlaneSync is a Gate over a control plane's data-plane list. Kong
// exposes no control-plane hash to compare with, so the check is that
// every selected data plane reports sync_status "normal" and one non-zero
// config_hash, the same in two observations Stable apart.
type DataPlaneSync struct {
	cfg DataPlaneSyncConfig
}

// emptyHash is the config_hash of a data plane with no configuration.
const emptyHash = kong.EmptyConfigHash

// NewDataPlaneSync checks cfg; it contacts nothing.
func NewDataPlaneSync(cfg DataPlaneSyncConfig) (*DataPlaneSync, error) {
	if cfg.ControlPlane == nil {
		return nil, &Error{Op: "configure check " + cfg.Name, Target: cfg.Target, Err: errors.New("no control plane")}
	}
	if cfg.MinDataPlanes <= 0 {
		cfg.MinDataPlanes = 1
	}
	if cfg.MaxLastSeen <= 0 {
		cfg.MaxLastSeen = 90 * time.Second
	}
	if cfg.Stable <= 0 {
		cfg.Stable = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &DataPlaneSync{cfg: cfg}, nil
}

// Name is the check's name.
func (d *DataPlaneSync) Name() string { return d.cfg.Name }

// Measure observes the data planes, and when they look synced, waits
// Stable and observes again; the hash and the set of data planes must not
// have changed. It takes at least Stable when it passes. Read-only, safe
// to repeat; the error is non-nil only when ctx ended.
func (d *DataPlaneSync) Measure(ctx context.Context) (Result, error) {
	first, res, err := d.observe(ctx)
	if err != nil || res != nil {
		return deref(res), err
	}
	t := time.NewTimer(d.cfg.Stable)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return Result{}, ctx.Err()
	case <-t.C:
	}
	second, res, err := d.observe(ctx)
	if err != nil || res != nil {
		return deref(res), err
	}
	value := fmt.Sprintf("%d data planes, config_hash %s", len(second.ids), second.hash)
	if second.hash != first.hash {
		return failed(d.cfg.Name, value, fmt.Sprintf("the data planes' config_hash changed between two observations %v apart (%s → %s): configuration still moving", d.cfg.Stable, first.hash, second.hash)), nil
	}
	if a, b := strings.Join(first.ids, ","), strings.Join(second.ids, ","); a != b {
		return failed(d.cfg.Name, value, fmt.Sprintf("the set of data planes changed between two observations %v apart (%s → %s)", d.cfg.Stable, a, b)), nil
	}
	return passed(d.cfg.Name, value, fmt.Sprintf("%d data planes%s connected with sync_status normal and config_hash %s, stable over %v",
		len(second.ids), d.versionText(), second.hash, d.cfg.Stable)), nil
}

func deref(r *Result) Result {
	if r == nil {
		return Result{}
	}
	return *r
}

func (d *DataPlaneSync) versionText() string {
	if d.cfg.Version == "" {
		return ""
	}
	return " of version " + d.cfg.Version
}

type dpObservation struct {
	ids  []string // sorted
	hash string
}

// observe lists the data planes and judges one observation; a non-nil
// Result means the check is decided (failed or inconclusive).
func (d *DataPlaneSync) observe(ctx context.Context) (dpObservation, *Result, error) {
	dps, err := d.cfg.ControlPlane.DataPlanes(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return dpObservation{}, nil, ctx.Err()
		}
		e := &Error{Op: "GET /clustering/data-planes", Target: d.cfg.Target, Err: err}
		r := inconclusive(d.cfg.Name, "cannot list the data planes: "+err.Error(), e)
		return dpObservation{}, &r, nil
	}
	now := d.cfg.Now()
	var sel []kong.DataPlane
	var others []string
	for _, dp := range dps {
		if d.cfg.Version == "" || dp.Version == d.cfg.Version || strings.HasPrefix(dp.Version, d.cfg.Version+".") {
			sel = append(sel, dp)
		} else {
			others = append(others, dpName(dp)+" "+dp.Version)
		}
	}
	fail := func(value, reason string) (dpObservation, *Result, error) {
		r := failed(d.cfg.Name, value, reason)
		return dpObservation{}, &r, nil
	}
	value := fmt.Sprintf("%d data planes%s", len(sel), d.versionText())
	if len(sel) < d.cfg.MinDataPlanes {
		reason := fmt.Sprintf("%d data planes%s listed by %s, want at least %d", len(sel), d.versionText(), d.cfg.Target, d.cfg.MinDataPlanes)
		if len(others) > 0 {
			reason += " (others: " + strings.Join(others, ", ") + ")"
		}
		return fail(value, reason)
	}
	var problems []string
	hashes := map[string][]string{}
	var obs dpObservation
	for _, dp := range sel {
		name := dpName(dp)
		obs.ids = append(obs.ids, dp.ID)
		if age := now.Sub(time.Unix(dp.LastSeen, 0)); age > d.cfg.MaxLastSeen {
			problems = append(problems, fmt.Sprintf("%s last seen %v ago (more than %v: not connected)", name, age.Round(time.Second), d.cfg.MaxLastSeen))
		}
		if dp.SyncStatus != "normal" {
			problems = append(problems, fmt.Sprintf("%s has sync_status %q", name, dp.SyncStatus))
		}
		switch dp.ConfigHash {
		case "", emptyHash:
			problems = append(problems, fmt.Sprintf("%s reports config_hash %q (no configuration)", name, dp.ConfigHash))
		default:
			hashes[dp.ConfigHash] = append(hashes[dp.ConfigHash], name)
		}
	}
	if len(hashes) > 1 {
		var parts []string
		for h, names := range hashes {
			parts = append(parts, fmt.Sprintf("%s on %s", h, strings.Join(names, ", ")))
		}
		sort.Strings(parts)
		problems = append(problems, "the data planes report different config_hash values: "+strings.Join(parts, "; "))
	}
	if len(problems) > 0 {
		return fail(value, strings.Join(problems, "; "))
	}
	for h := range hashes {
		obs.hash = h
	}
	sort.Strings(obs.ids)
	return obs, nil, nil
}

func dpName(dp kong.DataPlane) string {
	if dp.Hostname != "" {
		return fmt.Sprintf("data plane %s (%s)", dp.Hostname, dp.ID)
	}
	return "data plane " + dp.ID
}
