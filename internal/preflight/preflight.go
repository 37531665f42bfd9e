// Package preflight reports, before anything changes, what an upgrade of
// X (from.version) to Y (to.version) will meet: who answers on each side,
// the migration state in schema_meta and the locks table, the plugins in
// use against Y's, the breaking-change rules (package rules) on a decK
// dump of X and GET /'s configuration, and the sizes that predict slow
// migrations. It only reads: GET /, decK's dump (list endpoints), and
// SELECTs on schema_meta, locks and pg_class.
package preflight

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/kong/go-database-reconciler/pkg/file"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/preflight/rules"
)

// Side is one cluster to read: its Admin API (nil when the plan gives
// none), its database (DSN "" when none), and the version the plan says
// it runs.
type Side struct {
	Client  *kong.Client
	DSN     string
	Version kongrelease.Version
}

// Options is one preflight.
type Options struct {
	Plan string
	X, Y Side
	// Checks are the plan's checks on Y, for the rules on what they expect.
	Checks []rules.Check
	// Acknowledge lists the plan's acknowledge entries; preflight rules
	// that allow it are reported as acknowledged info.
	Acknowledge []string
	// Strategy is the plan's strategy (rules.Input.Strategy).
	Strategy string
}

// Report is a preflight's result. Clean means no error finding.
type Report struct {
	Plan       string                 `json:"plan,omitempty"`
	Mode       rules.Mode             `json:"mode"`
	X          Identity               `json:"x"`
	Y          Identity               `json:"y"`
	Path       string                 `json:"path"`
	Migrations *Migrations            `json:"migrations,omitempty"`
	Plugins    Plugins                `json:"plugins"`
	Sizes      Sizes                  `json:"sizes"`
	Findings   []rules.Finding        `json:"findings"`
	Counts     map[rules.Severity]int `json:"counts"`
	Clean      bool                   `json:"clean"`
	// NotChecked names what the report cannot see (kong-breaking-changes
	// rows that are runtime-only, Enterprise-only or need Y's own files).
	NotChecked []string `json:"not_checked"`
}

// Identity is what one side answers at GET /.
type Identity struct {
	Planned  string `json:"planned"`
	Answered string `json:"answered,omitempty"` // the version GET / reports
	Role     string `json:"role,omitempty"`
	Database string `json:"database,omitempty"`
	Error    string `json:"error,omitempty"` // why it was not read
}

// Migrations is X's database: schema_meta classified for X's and Y's
// versions, and the locks table.
type Migrations struct {
	NeedsBootstrap bool         `json:"needs_bootstrap"`
	ForX           kong.Summary `json:"for_x"`
	ForY           kong.Summary `json:"for_y"`
	Locks          []kong.Lock  `json:"locks,omitempty"`
}

// Plugins are the plugins in use on X and what Y offers.
type Plugins struct {
	InUse         map[string]int `json:"in_use"`                  // rows per plugin name in X's dump
	Custom        []string       `json:"custom,omitempty"`        // in use or enabled on X, not bundled with Y
	YAvailable    []string       `json:"y_available,omitempty"`   // Y's plugins.available_on_server
	Reprioritized []string       `json:"reprioritized,omitempty"` // bundled on both, PRIORITY changed
}

// Sizes predict slow migrations.
type Sizes struct {
	Entities int              `json:"entities"`
	Tables   map[string]int64 `json:"tables,omitempty"` // pg_class.reltuples of X's largest tables
}

// report-level rules: what the report itself finds (identity, path,
// migration state). They are not on the decK dump, have no fixtures in
// rules/testdata, and cannot be acknowledged.
const (
	ruleUnread   = "PFR-1" // a side or its database could not be read
	ruleIdentity = "PFR-2" // a side answers another version than the plan says
	rulePath     = "PFR-3" // the observed versions make no supported path
	ruleState    = "PFR-4" // migration state: leftovers, a lock row
)

// Timeout bounds one preflight pass, as upshift preflight, the agent's
// pull-request preflight and the engine's preflight step run it: decK's
// dump of a large X is most of it.
const Timeout = 5 * time.Minute

// Run reads X and Y and evaluates every rule. It returns an error only
// when it cannot produce a report at all; what it cannot read is an error
// finding (unknown never passes as clean).
func Run(ctx context.Context, o Options) (*Report, error) {
	r := &Report{Plan: o.Plan, Mode: rules.ModeDB, X: Identity{Planned: o.X.Version.String()}, Y: Identity{Planned: o.Y.Version.String()}}
	var extra []rules.Finding
	add := func(id string, sev rules.Severity, summary, detail, fix string) {
		extra = append(extra, rules.Finding{Rule: id, Severity: sev, Summary: summary, Detail: detail, Fix: fix, Source: "preflight report"})
	}
	in := &rules.Input{From: o.X.Version, To: o.Y.Version, Checks: o.Checks, Strategy: o.Strategy}

	// X: GET /, then its dump.
	from := o.X.Version
	var content *rules.Content
	if o.X.Client == nil {
		add(ruleUnread, rules.Error, "X has no Admin API in the plan", "", "Give from.admin_url: preflight reads X's configuration through it.")
	} else if root, err := o.X.Client.GoKong().Root(ctx); err != nil {
		r.X.Error = err.Error()
		add(ruleUnread, rules.Error, "X does not answer", err.Error(), "Check from.admin_url and that X runs.")
	} else {
		in.XConf, _ = root["configuration"].(map[string]any)
		r.X.Answered, _ = root["version"].(string)
		r.X.Role, r.X.Database = str(in.XConf["role"]), str(in.XConf["database"])
		if r.X.Database == "off" {
			r.Mode = rules.ModeDBLess
		}
		if v, err := kongrelease.Parse(r.X.Answered); err != nil {
			add(ruleUnread, rules.Error, "X's version does not parse", r.X.Answered, "")
		} else {
			if v != o.X.Version {
				add(ruleIdentity, rules.Error, "X answers another version than from.version", fmt.Sprintf("X answers %s; the plan says %s", v, o.X.Version), "Set from.version to what X runs, or point from at the right cluster.")
			}
			from = v // the path and the hops are evaluated on what X runs
		}
		d, err := dumpX(ctx, o.X.Client)
		if err != nil {
			add(ruleUnread, rules.Error, "X's configuration could not be dumped", err.Error(), "Check the Admin API token's rights (read access to every entity).")
		} else if content, err = dumpContent(d); err != nil {
			add(ruleUnread, rules.Error, "X's dump could not be read", err.Error(), "")
		}
	}
	in.From, in.Mode = from, r.Mode

	// Y: GET / when it answers; not answering is normal before Y is
	// started (dual_cluster), so it is a note, and the rules that need Y
	// assume its defaults.
	if o.Y.Client != nil {
		if root, err := o.Y.Client.GoKong().Root(ctx); err != nil {
			r.Y.Error = err.Error()
			add(ruleUnread, rules.Info, "Y does not answer yet", err.Error(), "Y's own checks (its version, plugins.available_on_server, its configuration) run once Y answers: run preflight again then.")
		} else {
			in.YConf, _ = root["configuration"].(map[string]any)
			r.Y.Answered, _ = root["version"].(string)
			r.Y.Role, r.Y.Database = str(in.YConf["role"]), str(in.YConf["database"])
			if v, err := kongrelease.Parse(r.Y.Answered); err != nil || v != o.Y.Version {
				add(ruleIdentity, rules.Error, "Y answers another version than to.version", fmt.Sprintf("Y answers %q; the plan says %s", r.Y.Answered, o.Y.Version), "Install to.version on Y, or fix to.version.")
			}
			in.YPlugins = map[string]bool{}
			if pl, ok := root["plugins"].(map[string]any); ok {
				if av, ok := pl["available_on_server"].(map[string]any); ok {
					for n := range av {
						in.YPlugins[n] = true
						r.Plugins.YAvailable = append(r.Plugins.YAvailable, n)
					}
				}
			}
			sort.Strings(r.Plugins.YAvailable)
		}
	}

	pr := kongrelease.UpgradePath(from, o.Y.Version)
	r.Path = fmt.Sprintf("%s → %s: %s", from, o.Y.Version, pathText(pr))
	if !pr.Guaranteed() {
		add(rulePath, rules.Error, "No supported upgrade path between the observed versions", r.Path, "Plan the hops kongrelease names (upshift lint shows them as UP004).")
	}

	// X's database: schema_meta, locks, table sizes.
	if o.X.DSN != "" {
		m, sizes, err := readDatabase(ctx, o.X.DSN, from, o.Y.Version)
		if err != nil {
			add(ruleUnread, rules.Error, "X's database could not be read", err.Error(), "Check from.database's DSN and the user's rights (SELECT on schema_meta and locks).")
		} else {
			r.Migrations, r.Sizes.Tables = m, sizes
			stateFindings(m, from, add)
		}
	}

	if content != nil {
		in.Content = content
		r.Plugins.InUse = content.PluginCounts()
		r.Sizes.Entities = content.Entities()
	}
	if r.Plugins.InUse == nil {
		r.Plugins.InUse = map[string]int{}
	}
	b := kongrelease.BundledPlugins(o.Y.Version)
	for n := range r.Plugins.InUse {
		if _, ok := b[n]; !ok {
			r.Plugins.Custom = append(r.Plugins.Custom, n)
		}
	}
	sort.Strings(r.Plugins.Custom)
	r.Plugins.Reprioritized = kongrelease.Reprioritized(from, o.Y.Version)

	ack := map[string]bool{}
	for _, a := range o.Acknowledge {
		ack[a] = true
	}
	if content != nil || in.XConf != nil || len(in.Checks) > 0 {
		if in.Content == nil {
			in.Content = rules.FromMap(map[string]any{})
		}
		r.Findings = rules.Evaluate(in, ack)
	}
	r.Findings = sortFindings(append(extra, r.Findings...))
	r.Counts = rules.Count(r.Findings)
	r.Clean = r.Counts[rules.Error] == 0
	r.NotChecked = NotChecked
	return r, nil
}

// dumpContent turns decK's dump (per workspace) into the rules' Content
// through JSON: several times faster than YAML on a large dump.
// Enterprise workspaces are checked together, each entity's place
// prefixed by its workspace.
func dumpContent(d map[string]*file.Content) (*rules.Content, error) {
	if len(d) == 1 {
		for _, c := range d {
			return contentOf(c)
		}
	}
	merged := map[string]any{}
	for ws, c := range d {
		raw, err := rawOf(c)
		if err != nil {
			return nil, err
		}
		for k, v := range raw {
			if l, ok := v.([]any); ok {
				for _, e := range l {
					if m, ok := e.(map[string]any); ok && ws != "" {
						if n, _ := m["name"].(string); n != "" && k != "plugins" {
							m["name"] = ws + ":" + n
						}
					}
				}
				prev, _ := merged[k].([]any)
				merged[k] = append(prev, l...)
			} else {
				merged[k] = v
			}
		}
	}
	return rules.FromMap(merged), nil
}

func contentOf(c any) (*rules.Content, error) {
	raw, err := rawOf(c)
	if err != nil {
		return nil, err
	}
	return rules.FromMap(raw), nil
}

func rawOf(c any) (map[string]any, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("decK dump: %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("decK dump: %w", err)
	}
	return raw, nil
}

// readDatabase reads schema_meta and locks (kong.ReadSchemaFrom, the
// engine's reading) and the row estimates of the largest tables, in one
// read-only transaction.
func readDatabase(ctx context.Context, dsn string, from, to kongrelease.Version) (*Migrations, map[string]int64, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("the DSN does not parse")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, nil, &kong.Error{Op: "connect", Target: cfg.Database, Err: err}
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, nil, &kong.Error{Op: "begin", Target: cfg.Database, Err: err}
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	st, err := kong.ReadSchemaFrom(ctx, tx)
	if err != nil {
		return nil, nil, &kong.Error{Op: "read schema_meta", Target: cfg.Database, Err: err}
	}
	m := &Migrations{NeedsBootstrap: st.NeedsBootstrap, ForX: st.Summarize(from), ForY: st.Summarize(to), Locks: st.Locks}
	rows, err := tx.Query(ctx, `SELECT c.relname, c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() ORDER BY c.reltuples DESC, c.relname LIMIT 10`)
	if err != nil {
		return nil, nil, &kong.Error{Op: "read pg_class", Target: cfg.Database, Err: err}
	}
	sizes := map[string]int64{}
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return nil, nil, &kong.Error{Op: "read pg_class", Target: cfg.Database, Err: err}
		}
		sizes[name] = n // -1: never analyzed
	}
	if err := rows.Err(); err != nil {
		return nil, nil, &kong.Error{Op: "read pg_class", Target: cfg.Database, Err: err}
	}
	return m, sizes, nil
}

// stateFindings: what schema_meta and locks say before the upgrade.
func stateFindings(m *Migrations, from kongrelease.Version, add func(id string, sev rules.Severity, summary, detail, fix string)) {
	if m.NeedsBootstrap {
		add(ruleState, rules.Error, "X's database is not bootstrapped", "schema_meta has no core row", "Point from.database at X's database.")
		return
	}
	if len(m.ForX.Pending) > 0 {
		add(ruleState, rules.Error, "Leftover pending migrations of an earlier upgrade", names(m.ForX.Pending),
			fmt.Sprintf("An earlier upgrade ran migrations up without finish: run kong migrations finish with X's release (%s) first (Kong/charts #92).", from))
	}
	if len(m.ForX.New) > 0 {
		add(ruleState, rules.Error, "X's database lacks migrations X's release has", names(m.ForX.New),
			fmt.Sprintf("The database is behind %s: check that from.database is X's and run kong migrations up with X's release.", from))
	}
	for _, l := range m.Locks {
		add(ruleState, rules.Error, "A row in Kong's locks table", fmt.Sprintf("key %s, owner %s, TTL %s", l.Key, l.Owner, l.TTL.Format("2006-01-02T15:04:05Z07:00")),
			"A migration runs, or a runner died holding the lock: wait for its TTL, or make sure nothing runs and delete the row (kong migrations reset is not the way).")
	}
}

func names(m map[string][]string) string {
	var parts []string
	for sub, ms := range m {
		parts = append(parts, sub+": "+strings.Join(ms, ", "))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func sortFindings(fs []rules.Finding) []rules.Finding {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Severity.Rank() < fs[j].Severity.Rank() })
	return fs
}

func str(v any) string { s, _ := v.(string); return s }

func pathText(pr kongrelease.PathResult) string {
	switch pr.Kind {
	case kongrelease.PathSame:
		return "same version"
	case kongrelease.PathPatch:
		return "patch upgrade"
	case kongrelease.PathMinor:
		return "next series"
	case kongrelease.PathLTS:
		return "LTS to the next LTS"
	case kongrelease.PathDowngrade:
		return "a downgrade"
	}
	via := make([]string, len(pr.Via))
	for i, s := range pr.Via {
		via[i] = s.String()
	}
	if len(via) == 0 {
		return "not a guaranteed path, and no way through is known"
	}
	return "not a guaranteed path: go through " + strings.Join(via, ", ")
}
