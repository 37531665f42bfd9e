package kongrelease

import (
	"sort"
)

// This file is Kong's catalogue of database migrations: which migrations a
// Kong version knows, per subsystem and in order, and which of them have a
// teardown step (so that `kong migrations up` records them "pending" and
// `kong migrations finish` completes them). Classify applies Kong's rules
// (K: kong/db/migrations/state.lua) to what schema_meta holds.
//
// Sources:
//   - Core lists: kong-facts §3.5 (K: kong/db/migrations/core/init.lua at each
//     tag 2.8.x–3.9.x and HEAD 3.10.0).
//   - Plugin lists at 3.10 and 2.8.5: kong-facts §3.5 (K:
//     kong/plugins/<name>/migrations/init.lua). For the versions in between,
//     each plugin migration's first version is DERIVED from its name: a
//     migration NNN_AAA_to_BBB first ships in version BBB (006_350_to_360 in
//     3.6.0, 003_330_to_3100 in 3.10.0, 001_331_to_332 in 3.3.2, which in the
//     open-source line means 3.4.0). Both end points (2.8.5 and 3.10) agree
//     with kong-facts.
//   - Teardown steps: kong-facts §3.2 (written from HEAD), keyed by the
//     version that runs the migration where the file changed: the 3.6 redis
//     moves (acme 003, rate-limiting 006, response-ratelimiting 001, all
//     *_350_to_360) have no teardown at tags 3.6.0 and 3.6.1, whose `up`
//     drops the old fields itself; the teardown split came in 3.7.0 (K:
//     Kong/kong 4724af0 "split redis migrations into up and teardown",
//     7525cd4 "make redis schema migrations reentrant"; tag 3.6.1 =
//     4e006aa, 3.7.0 = f16a64f).
//   - Subsystem order: core first, then plugins sorted by name (K:
//     state.lua load_subsystems sorts loaded_plugins; subsystems.lua puts
//     core first).
//
// Enterprise versions (4-part) are given the open-source subsystems of the
// same major.minor.patch (3.10.x.x gets the 3.10 lists). Kong Enterprise has
// more subsystems (enterprise core and enterprise plugins) that this
// catalogue does NOT hold; Classify ignores their schema_meta rows, as an
// open-source node would.

// Migration is one named migration of a subsystem.
type Migration struct {
	Name string
	// Teardown is true when the migration has a teardown step: `up` records
	// it pending and `finish` runs the teardown (kong-facts §3.2).
	Teardown bool
}

// Subsystem is a schema_meta subsystem ("core" or a plugin name) with the
// migrations a version knows, in Kong's order.
type Subsystem struct {
	Name string
	// Namespace is the Lua module namespace Kong reports in
	// `kong migrations status` ("kong.db.migrations.core",
	// "kong.plugins.acl.migrations").
	Namespace  string
	Migrations []Migration
}

// catalogueEntry is one migration with the first version that ships it.
type catalogueEntry struct {
	name     string
	since    Version
	teardown bool
}

// teardownSince holds, for the migrations whose teardown came later than
// the migration, the first version whose file has it (see the file
// comment): a 3.6.x node runs the redis moves whole at `up`.
var teardownSince = map[string]Version{
	"acme/003_350_to_360":                  v3(3, 7, 0),
	"rate-limiting/006_350_to_360":         v3(3, 7, 0),
	"response-ratelimiting/001_350_to_360": v3(3, 7, 0),
}

func v3(major, minor, patch int) Version { return Version{Major: major, Minor: minor, Patch: patch} }

var base = Version{} // present in every version this catalogue covers (2.8.x and later)

// coreCatalogue: kong-facts §3.5.
var coreCatalogue = []catalogueEntry{
	{"000_base", base, false},
	{"003_100_to_110", base, false},
	{"004_110_to_120", base, false},
	{"005_120_to_130", base, false},
	{"006_130_to_140", base, false},
	{"007_140_to_150", base, false},
	{"008_150_to_200", base, false},
	{"009_200_to_210", base, false},
	{"010_210_to_211", base, false},
	{"011_212_to_213", base, false},
	{"012_213_to_220", base, false},
	{"013_220_to_230", base, false},
	{"014_230_to_270", base, false},
	{"015_270_to_280", base, false},
	{"016_280_to_300", v3(3, 0, 0), true},
	{"017_300_to_310", v3(3, 1, 0), false},
	{"018_310_to_320", v3(3, 2, 0), false},
	{"019_320_to_330", v3(3, 3, 0), false},
	{"020_330_to_340", v3(3, 4, 0), false},
	{"021_340_to_350", v3(3, 5, 0), false},
	{"022_350_to_360", v3(3, 6, 0), false},
	{"023_360_to_370", v3(3, 7, 0), false},
	// 3.8: none.
	{"024_380_to_390", v3(3, 9, 0), false},
	{"025_390_to_3100", v3(3, 10, 0), false},
}

// pluginCatalogue: kong-facts §3.5 lists at 3.10 and 2.8.5; "since" of the
// non-base entries is derived from the name (see the file comment).
var pluginCatalogue = map[string][]catalogueEntry{
	"acl": {
		{"000_base_acl", base, false}, {"002_130_to_140", base, false},
		{"003_200_to_210", base, false}, {"004_212_to_213", base, false},
	},
	"acme": {
		{"000_base_acme", base, false}, {"001_280_to_300", v3(3, 0, 0), false},
		{"002_320_to_330", v3(3, 3, 0), false}, {"003_350_to_360", v3(3, 6, 0), true},
	},
	"ai-proxy": {{"001_360_to_370", v3(3, 7, 0), true}},
	"basic-auth": {
		{"000_base_basic_auth", base, false}, {"002_130_to_140", base, false}, {"003_200_to_210", base, false},
	},
	"bot-detection": {{"001_200_to_210", base, false}},
	"hmac-auth": {
		{"000_base_hmac_auth", base, false}, {"002_130_to_140", base, false}, {"003_200_to_210", base, false},
	},
	"http-log":       {{"001_280_to_300", v3(3, 0, 0), true}},
	"ip-restriction": {{"001_200_to_210", base, false}},
	"jwt": {
		{"000_base_jwt", base, false}, {"002_130_to_140", base, false}, {"003_200_to_210", base, false},
	},
	"key-auth": {
		{"000_base_key_auth", base, false}, {"002_130_to_140", base, false},
		{"003_200_to_210", base, false}, {"004_320_to_330", v3(3, 3, 0), false},
	},
	"oauth2": {
		{"000_base_oauth2", base, false}, {"003_130_to_140", base, false}, {"004_200_to_210", base, false},
		{"005_210_to_211", base, false}, {"006_320_to_330", v3(3, 3, 0), false}, {"007_320_to_330", v3(3, 3, 0), false},
	},
	"opentelemetry": {{"001_331_to_332", v3(3, 3, 2), true}},
	"post-function": {{"001_280_to_300", v3(3, 0, 0), true}},
	"pre-function":  {{"001_280_to_300", v3(3, 0, 0), true}},
	"rate-limiting": {
		{"000_base_rate_limiting", base, false}, {"003_10_to_112", base, false}, {"004_200_to_210", base, false},
		{"005_320_to_330", v3(3, 3, 0), false}, {"006_350_to_360", v3(3, 6, 0), true},
	},
	"response-ratelimiting": {
		{"000_base_response_rate_limiting", base, false}, {"001_350_to_360", v3(3, 6, 0), true},
	},
	"session": {
		{"000_base_session", base, false}, {"001_add_ttl_index", base, false},
		{"002_320_to_330", v3(3, 3, 0), false}, {"003_330_to_3100", v3(3, 10, 0), false},
	},
}

// Migrations returns the subsystems and migrations that Kong version v
// knows, in Kong's order: core first, then plugin subsystems sorted by name.
// A plugin subsystem appears only when v ships at least one of its
// migrations. It covers 2.8.x through 3.10.x (open source and Enterprise,
// the latter with open-source subsystems only); for older versions it
// returns the 2.8 lists, which is wrong and documented as unsupported.
func Migrations(v Version) []Subsystem {
	// Compare on major.minor.patch: the Enterprise build number does not
	// change the open-source migration set.
	at := Version{Major: v.Major, Minor: v.Minor, Patch: v.Patch}
	pick := func(subsystem string, entries []catalogueEntry) []Migration {
		var out []Migration
		for _, e := range entries {
			if at.Compare(e.since) >= 0 {
				teardown := e.teardown
				if v, ok := teardownSince[subsystem+"/"+e.name]; ok && at.Compare(v) < 0 {
					teardown = false
				}
				out = append(out, Migration{Name: e.name, Teardown: teardown})
			}
		}
		return out
	}
	subs := []Subsystem{{Name: "core", Namespace: "kong.db.migrations.core", Migrations: pick("core", coreCatalogue)}}
	names := make([]string, 0, len(pluginCatalogue))
	for name := range pluginCatalogue {
		names = append(names, name)
	}
	sort.Strings(names) // Lua's table.sort on strings is byte order, as sort.Strings.
	for _, name := range names {
		if migs := pick(name, pluginCatalogue[name]); len(migs) > 0 {
			subs = append(subs, Subsystem{Name: name, Namespace: "kong.plugins." + name + ".migrations", Migrations: migs})
		}
	}
	return subs
}

// SchemaMetaRow is one row of Kong's schema_meta table (key='schema_meta').
type SchemaMetaRow struct {
	Subsystem    string
	LastExecuted string // "" when NULL
	Executed     []string
	Pending      []string
}

// MigrationState is how Kong classifies one known migration against the
// database (K: kong/db/migrations/state.lua).
type MigrationState string

const (
	StateExecuted MigrationState = "executed"
	StatePending  MigrationState = "pending"
	StateNew      MigrationState = "new"
	StateMissing  MigrationState = "missing"
)

// ClassifiedMigration is one known migration with its state.
type ClassifiedMigration struct {
	Migration
	State MigrationState
}

// ClassifiedSubsystem is a known subsystem with every migration classified,
// in catalogue order.
type ClassifiedSubsystem struct {
	Name       string
	Namespace  string
	Migrations []ClassifiedMigration
}

// Classification is Classify's result, in Kong's subsystem order.
type Classification []ClassifiedSubsystem

// Classify classifies every migration that version v knows against the
// schema_meta rows, exactly as Kong's state.lua does:
//   - no row for the subsystem: every migration is new;
//   - listed in executed: executed; else listed in pending: pending;
//   - else new, except the migration named by the row's last_executed,
//     which is missing. state.lua sets its "after last_executed" index
//     only when its loop reaches last_executed, so a name absent from the
//     arrays before last_executed is new too, not missing (kong-facts §3.1
//     says "before → missing"; the source says otherwise, and this follows
//     the source: K: kong/db/migrations/state.lua at 22246ef).
//
// Rows for subsystems v does not know, and names v does not know, are
// ignored (so an older node keeps running after a newer `up`). Whether the
// database needs bootstrapping (no schema_meta table) is not Classify's
// business: the caller knows whether the table exists.
func Classify(v Version, rows []SchemaMetaRow) Classification {
	byName := make(map[string]SchemaMetaRow, len(rows))
	for _, r := range rows {
		byName[r.Subsystem] = r
	}
	var out Classification
	for _, sub := range Migrations(v) {
		cs := ClassifiedSubsystem{Name: sub.Name, Namespace: sub.Namespace}
		row, ok := byName[sub.Name]
		// next mirrors state.lua's n: unset (-1) until the loop reaches
		// last_executed, then that index + 1.
		next := -1
		for i, m := range sub.Migrations {
			if ok && m.Name == row.LastExecuted {
				next = i + 1
			}
			st := StateNew
			switch {
			case !ok:
			case contains(row.Executed, m.Name):
				st = StateExecuted
			case contains(row.Pending, m.Name):
				st = StatePending
			case next >= 0 && i < next:
				st = StateMissing
			}
			cs.Migrations = append(cs.Migrations, ClassifiedMigration{Migration: m, State: st})
		}
		out = append(out, cs)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Names returns, per subsystem, the names in state st, leaving out
// subsystems with none (Kong's executed_migrations, pending_migrations, ...
// lists). The map is empty, never nil, when there are none.
func (c Classification) Names(st MigrationState) map[string][]string {
	out := map[string][]string{}
	for _, sub := range c {
		for _, m := range sub.Migrations {
			if m.State == st {
				out[sub.Name] = append(out[sub.Name], m.Name)
			}
		}
	}
	return out
}

// Filter returns the subsystems with their migrations in state st, in
// order, leaving out subsystems with none; this is the shape Kong passes to
// run_migrations and prints in `kong migrations list`.
func (c Classification) Filter(st MigrationState) Classification {
	var out Classification
	for _, sub := range c {
		f := ClassifiedSubsystem{Name: sub.Name, Namespace: sub.Namespace}
		for _, m := range sub.Migrations {
			if m.State == st {
				f.Migrations = append(f.Migrations, m)
			}
		}
		if len(f.Migrations) > 0 {
			out = append(out, f)
		}
	}
	return out
}

// Has reports whether any migration is in state st.
func (c Classification) Has(st MigrationState) bool {
	return len(c.Filter(st)) > 0
}
