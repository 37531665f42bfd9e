// Package rules holds preflight's breaking-change rules as data: one table
// (rules.go's Table), each row an id, the release that brings the change,
// the entity it looks at, a predicate, a severity per mode, a fix and a
// source (../shared/design/kong-breaking-changes.md). They run on a decK
// file (a dump of X, or a source file kept in Git) and on GET /'s
// configuration. The package is small on purpose: lint (`upshift lint
// --deck`, and acknowledge's rule ids) uses it without the clients the
// live report needs.
package rules

import (
	"fmt"
	"sort"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// Mode is how the configuration reaches Y, which decides some severities:
// in DB mode Kong's 3.0 migration rewrites regex paths itself; in DB-less
// mode and in decK files nothing does.
type Mode string

const (
	ModeDB     Mode = "db"     // X keeps its configuration in PostgreSQL
	ModeDBLess Mode = "dbless" // X is DB-less: its dump is loaded on Y as is
	ModeFile   Mode = "file"   // a decK source file (lint --deck)
)

// Modes lists every mode.
var Modes = []Mode{ModeDB, ModeDBLess, ModeFile}

// Severity of a finding. Error: Y refuses the configuration or fails to
// start (and an error stops the upgrade); warning: Y behaves differently;
// info: a deprecation or a note.
type Severity string

const (
	Error   Severity = "error"
	Warning Severity = "warning"
	Info    Severity = "info"
)

// Rank orders severities, errors first.
func (s Severity) Rank() int {
	switch s {
	case Error:
		return 0
	case Warning:
		return 1
	}
	return 2
}

// Rule is one breaking change. Hop is the release that brings it ("3.0"):
// the rule runs on every upgrade from before Hop to Hop or later; "" runs
// on every upgrade. Severity has one entry per mode the rule applies in.
type Rule struct {
	ID       string
	Hop      string
	Entity   string
	Summary  string
	Severity map[Mode]Severity
	// Acknowledgeable: a plan may accept the rule's findings with
	// acknowledge = ["PF30-1"] (the check is a heuristic, or the fix is
	// outside what Upshift sees); the rest can only be fixed.
	Acknowledgeable bool
	Fix             string
	Source          string
	Check           func(in *Input, hit func(Hit))
}

// Input is what the rules read.
type Input struct {
	Content  *Content
	From, To kongrelease.Version
	Mode     Mode
	// XConf and YConf are GET / configuration of X and of Y (nil when not
	// read: offline, or Y not answering yet).
	XConf, YConf map[string]any
	// YPlugins is Y's plugins.available_on_server (nil when not read).
	YPlugins map[string]bool
	// Checks are the plan's checks on Y (none offline).
	Checks []Check
	// Strategy is the plan's strategy ("" offline): some changes break
	// only when X and Y share a database.
	Strategy string
}

// Check is what one of the plan's checks on Y expects of a response.
type Check struct {
	Name         string            `yaml:"name"`
	BodyContains string            `yaml:"body_contains"`
	Headers      map[string]string `yaml:"headers"`
}

// Hit is one place a rule's predicate holds.
type Hit struct {
	Entity Entity // zero for configuration findings
	Field  string
	Detail string
}

// Finding is a hit with its rule's severity, fix and source.
type Finding struct {
	Rule         string   `json:"rule"`
	Severity     Severity `json:"severity"`
	Summary      string   `json:"summary"`
	Kind         string   `json:"entity,omitempty"`
	Name         string   `json:"name,omitempty"`
	Where        string   `json:"where,omitempty"`
	Field        string   `json:"field,omitempty"`
	Detail       string   `json:"detail,omitempty"`
	Fix          string   `json:"fix"`
	Source       string   `json:"source"`
	Acknowledged bool     `json:"acknowledged,omitempty"`
}

// Applies reports whether r runs on the upgrade from → to.
func (r *Rule) Applies(from, to kongrelease.Version) bool {
	if r.Hop == "" {
		return true
	}
	h := kongrelease.MustParse(r.Hop + ".0").Series()
	return from.Series().Compare(h) < 0 && to.Series().Compare(h) >= 0
}

// Evaluate runs every rule of every hop between in.From and in.To, in
// in.Mode, and returns the findings, errors first, then by rule id and
// place. ack lists rule ids the plan acknowledges: their findings become
// info, marked acknowledged (a rule that is not Acknowledgeable ignores it).
func Evaluate(in *Input, ack map[string]bool) []Finding {
	if in.Content == nil {
		in.Content = FromMap(map[string]any{})
	}
	var out []Finding
	for _, r := range Table {
		sev, ok := r.Severity[in.Mode]
		if !ok || !r.Applies(in.From, in.To) {
			continue
		}
		r.Check(in, func(h Hit) {
			f := Finding{Rule: r.ID, Severity: sev, Summary: r.Summary, Kind: h.Entity.Kind, Name: h.Entity.Name,
				Where: h.Entity.Where, Field: h.Field, Detail: h.Detail, Fix: r.Fix, Source: r.Source}
			if ack[r.ID] && r.Acknowledgeable {
				f.Severity, f.Acknowledged = Info, true
			}
			out = append(out, f)
		})
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() < b.Severity.Rank()
		}
		return a.Rule < b.Rule
	})
	return out
}

// ByID returns the rule with id, or nil.
func ByID(id string) *Rule {
	for _, r := range Table {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// Count tallies findings by severity.
func Count(fs []Finding) map[Severity]int {
	out := map[Severity]int{}
	for _, f := range fs {
		out[f.Severity]++
	}
	return out
}

// all is the same severity in every mode.
func all(s Severity) map[Mode]Severity {
	return map[Mode]Severity{ModeDB: s, ModeDBLess: s, ModeFile: s}
}

// byMode is a severity per mode.
func byMode(db, dbless, file Severity) map[Mode]Severity {
	return map[Mode]Severity{ModeDB: db, ModeDBLess: dbless, ModeFile: file}
}

// fileOnly applies to decK source files only: a default that changed
// hits files that omit the field, while a dump holds every default.
func fileOnly(s Severity) map[Mode]Severity { return map[Mode]Severity{ModeFile: s} }

// Where names a finding's place for messages: the entity's place in the
// file, or the configuration key.
func (f Finding) Place() string {
	switch {
	case f.Where != "" && f.Field != "":
		return f.Where + "." + f.Field
	case f.Where != "":
		return f.Where
	case f.Field != "":
		return "configuration." + f.Field
	}
	return ""
}

func (f Finding) String() string {
	return fmt.Sprintf("%s %s: %s", f.Rule, f.Place(), f.Summary)
}
