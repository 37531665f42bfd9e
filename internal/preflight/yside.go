package preflight

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/preflight/rules"
)

// ruleYPlugin: a plugin in use is not in Y's plugins.available_on_server.
// It cannot be acknowledged: acknowledging PFX-1 says the plugin is
// installed on Y another way, and this is where that is seen.
const ruleYPlugin = "PFR-5"

// ySide are the rules whose findings depend on Y or on what the plan
// checks on Y; RunY evaluates these alone (the rest read X and ran
// before anything changed).
var ySide = map[string]bool{"PF35-20": true, "PF36-20": true, "PF38-20": true}

// YOptions is the Y side of a preflight, once Y answers (the engine runs
// it before its checks).
type YOptions struct {
	Plan string
	// Y is the Admin API of Y (of a rolling side's first node).
	Y           *kong.Client
	From        kongrelease.Version
	To          kongrelease.Version
	Checks      []rules.Check
	InUseOnX    []string // plugin names the X-side report saw in use
	Acknowledge []string
}

// RunY reads Y alone: the version it answers against to.version, its
// plugins.available_on_server against the plugins in use (in Y's own
// dump, which holds X's configuration by now, and those the X-side
// report saw), and the rules on the plan's checks. Y not answering is an
// error here: Y was started before.
func RunY(ctx context.Context, o YOptions) (*Report, error) {
	r := &Report{Plan: o.Plan, Mode: rules.ModeDB, X: Identity{Planned: o.From.String()}, Y: Identity{Planned: o.To.String()},
		Path: fmt.Sprintf("%s → %s", o.From, o.To), Plugins: Plugins{InUse: map[string]int{}}}
	var fs []rules.Finding
	add := func(id string, summary, detail, fix string) {
		fs = append(fs, rules.Finding{Rule: id, Severity: rules.Error, Summary: summary, Detail: detail, Fix: fix, Source: "preflight report"})
	}
	in := &rules.Input{From: o.From, To: o.To, Mode: rules.ModeDB, Checks: o.Checks, Content: rules.FromMap(map[string]any{})}
	if o.Y == nil {
		add(ruleUnread, "Y has no Admin API in the plan", "", "Give to.admin_url: preflight reads Y's version and plugins through it.")
	} else if root, err := o.Y.GoKong().Root(ctx); err != nil {
		r.Y.Error = err.Error()
		add(ruleUnread, "Y does not answer", err.Error(), "Y was started: check to.admin_url and Y's logs.")
	} else {
		in.YConf, _ = root["configuration"].(map[string]any)
		r.Y.Answered, _ = root["version"].(string)
		r.Y.Role, r.Y.Database = str(in.YConf["role"]), str(in.YConf["database"])
		if r.Y.Database == "off" {
			r.Mode, in.Mode = rules.ModeDBLess, rules.ModeDBLess
		}
		if v, err := kongrelease.Parse(r.Y.Answered); err != nil || v != o.To {
			add(ruleIdentity, "Y answers another version than to.version", fmt.Sprintf("Y answers %q; the plan says %s", r.Y.Answered, o.To), "Install to.version on Y, or fix to.version.")
		}
		in.YPlugins = map[string]bool{}
		pl, _ := root["plugins"].(map[string]any)
		av, ok := pl["available_on_server"].(map[string]any)
		if !ok {
			add(ruleUnread, "Y's plugins.available_on_server cannot be read", "GET / has no plugins.available_on_server", "")
		}
		for n := range av {
			in.YPlugins[n] = true
			r.Plugins.YAvailable = append(r.Plugins.YAvailable, n)
		}
		sort.Strings(r.Plugins.YAvailable)
		if d, err := dumpX(ctx, o.Y); err != nil {
			add(ruleUnread, "Y's configuration could not be dumped", err.Error(), "Check the Admin API token's rights (read access to every entity).")
		} else if c, err := dumpContent(d); err != nil {
			add(ruleUnread, "Y's dump could not be read", err.Error(), "")
		} else {
			in.Content = c
			r.Plugins.InUse = c.PluginCounts()
			r.Sizes.Entities = c.Entities()
		}
		if ok {
			var missing []string
			for _, n := range inUse(r.Plugins.InUse, o.InUseOnX) {
				if !in.YPlugins[n] {
					missing = append(missing, n)
				}
			}
			if len(missing) > 0 {
				add(ruleYPlugin, "Y does not offer plugins in use", strings.Join(missing, ", ")+" not in Y's plugins.available_on_server",
					"Install the plugins on Y and enable them (kong.conf plugins = bundled,NAME), then check GET / on Y: a plan cannot acknowledge this.")
			}
		}
	}
	ack := map[string]bool{}
	for _, a := range o.Acknowledge {
		ack[a] = true
	}
	for _, f := range rules.Evaluate(in, ack) {
		if ySide[f.Rule] {
			fs = append(fs, f)
		}
	}
	r.Findings = sortFindings(fs)
	r.Counts = rules.Count(r.Findings)
	r.Clean = r.Counts[rules.Error] == 0
	r.NotChecked = NotChecked
	return r, nil
}

// inUse is the sorted union of the names in counts and extra.
func inUse(counts map[string]int, extra []string) []string {
	set := map[string]bool{}
	for n := range counts {
		set[n] = true
	}
	for _, n := range extra {
		set[n] = true
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Errors are the report's error findings.
func (r *Report) Errors() []rules.Finding {
	var out []rules.Finding
	for _, f := range r.Findings {
		if f.Severity == rules.Error {
			out = append(out, f)
		}
	}
	return out
}

// Digest identifies the report's content (its JSON form): the journal
// records which report a run passed.
func (r *Report) Digest() string {
	b, err := json.Marshal(r)
	if err != nil {
		return ""
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:6])
}

// Unread reports whether every error finding is about what could not be
// read (PFR-1): the world may be fine, it was not seen.
func (r *Report) Unread() bool {
	es := r.Errors()
	for _, f := range es {
		if f.Rule != ruleUnread {
			return false
		}
	}
	return len(es) > 0
}

// Blocking sums up the error findings for a stall message: one line per
// rule, with its places and its fix, at most max rules.
func (r *Report) Blocking(max int) string {
	type group struct {
		f      rules.Finding
		places []string
	}
	var order []string
	groups := map[string]*group{}
	for _, f := range r.Errors() {
		g := groups[f.Rule]
		if g == nil {
			g = &group{f: f}
			groups[f.Rule] = g
			order = append(order, f.Rule)
		}
		if p := f.Place(); p != "" {
			g.places = append(g.places, p)
		} else if f.Detail != "" {
			g.places = append(g.places, f.Detail)
		}
	}
	var parts []string
	for i, id := range order {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more rules", len(order)-max))
			break
		}
		g := groups[id]
		s := id + " " + g.f.Summary
		if n := len(g.places); n > 3 {
			s += " (" + strings.Join(g.places[:3], ", ") + fmt.Sprintf(" and %d more)", n-3)
		} else if n > 0 {
			s += " (" + strings.Join(g.places, ", ") + ")"
		}
		if g.f.Fix != "" {
			s += ". Fix: " + g.f.Fix
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
