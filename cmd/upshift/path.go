package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/preflight/rules"
	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
)

const pathUsage = `Usage: upshift path FROM TO [--edition oss|enterprise] [--mode db|dbless|hybrid]
                   [--format text|json] [--write DIR --template PLAN.hcl]

Splits the upgrade FROM → TO into the hops Kong guarantees (patch to
patch, a series to the next, an LTS to the next LTS: the knowledge behind
lint's UP004), refusing a version Kong never released in the edition
(UP033: open source ends with 3.9.x), a downgrade and an edition change.
A stop in between is its series' first release (3.5.0, or 3.5.0.0 for
Enterprise); any later patch of that series will do. In hybrid mode an
Enterprise 3.1.0.x–3.1.1.2 stops at 3.1.1.3 first (UP015).

For each hop it lists the strategies lint accepts in the mode, with the
rules a plan using each trips (blue_green: UP006–UP008; in_place: UP019),
and the preflight rules (docs/preflight.md) that run on the hop, with
their severity in the mode.

Flags:
  --edition E        oss or enterprise; defaults to the versions' form
                     (3 parts open source, 4 parts Enterprise), and must
                     agree with it
  --mode M           db (traditional; default), dbless, or hybrid
                     (hybrid_cp for the control plane, hybrid_dp for the
                     data planes)
  --format FORMAT    text (default) or json
  --write DIR        write one plan file per hop into DIR, made from
                     --template: the template's upgrade block with the
                     hop's versions, named NAME-<n>-<to>, each after the
                     previous one (depends_on). Written only if every
                     plan of the chain lints without errors; an existing
                     file is never overwritten.
  --template PLAN    the plan file (one upgrade block) the chain is made
                     from; required with --write

Exit codes: 0 a path exists (and the chain was written), 1 no path (an
unknown version, one never released for the edition, a downgrade, an
edition change) or a chain plan with lint errors, 2 usage error.
`

var pathCommand = &command{
	Name:     "path",
	Synopsis: "Split an upgrade into Kong's guaranteed hops, with strategies and rules per hop",
	Usage:    pathUsage,
	Run:      runPath,
}

// pathModes maps --mode to the plan modes whose strategies apply and the
// preflight mode of the rules (a hybrid control plane keeps its
// configuration in PostgreSQL, where Kong's migrations rewrite it).
var pathModes = map[string]struct {
	plan  []string
	rules rules.Mode
}{
	"db":     {[]string{"traditional"}, rules.ModeDB},
	"dbless": {[]string{"dbless"}, rules.ModeDBLess},
	"hybrid": {[]string{"hybrid_cp", "hybrid_dp"}, rules.ModeDB},
}

type pathOptions struct {
	from, to        kongrelease.Version
	edition, mode   string
	format          string
	write, template string
}

func runPath(_ context.Context, args []string, s *streams) int {
	fs := newFlagSet("path")
	edition := fs.String("edition", "", "")
	mode := fs.String("mode", "db", "")
	format := fs.String("format", "text", "")
	write := fs.String("write", "", "")
	template := fs.String("template", "", "")
	pos, err := parseFlags(fs, args)
	var o pathOptions
	if err == nil {
		o, err = pathArgs(pos, *edition, *mode, *format, *write, *template)
	}
	if err != nil {
		return handleParseError("path", pathUsage, err, s)
	}
	hops, err := kongrelease.Chain(o.from, o.to, o.mode == "hybrid")
	if errors.Is(err, kongrelease.ErrSameVersion) {
		fmt.Fprintf(s.Out, "%s → %s: nothing to upgrade.\n", o.from, o.to)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(s.Err, "upshift path: %v\n", err)
		if !o.to.Enterprise && !o.to.Series().OpenSource() {
			// Kong documents LTS hops to 3.10 and later, which open source
			// never reached (Kong/kong #13787).
			fmt.Fprintf(s.Err, "The furthest open-source upgrade is to the latest %s.x: upshift path %s %s.0 (or its latest patch); Enterprise: upshift path with 4-part versions.\n", kongrelease.LastOpenSource, o.from, kongrelease.LastOpenSource)
		}
		return exitFail
	}
	r := pathReport(o, hops)
	var files []chainFile
	if o.write != "" {
		files, err = chainPlans(o, hops)
		if err != nil {
			fmt.Fprintf(s.Err, "upshift path: --template %s: %v\n", o.template, err)
			return exitFail
		}
		if bad := lintChain(files); len(bad) > 0 {
			fmt.Fprintf(s.Err, "upshift path: nothing written: the chain made from %s does not lint clean:\n", o.template)
			for _, l := range bad {
				fmt.Fprintf(s.Err, "  %s\n", l)
			}
			return exitFail
		}
	}
	if o.format == "json" {
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		err = enc.Encode(r)
	} else {
		err = r.writeText(s.Out)
	}
	if err != nil {
		fmt.Fprintf(s.Err, "upshift path: write: %v\n", err)
		return exitFail
	}
	if len(files) > 0 {
		if err := writeChain(o.write, files); err != nil {
			fmt.Fprintf(s.Err, "upshift path: --write: %v\n", err)
			return exitFail
		}
		if o.format != "json" {
			fmt.Fprintf(s.Out, "\nWrote %d plan files to %s (each lints clean; apply them in this order):\n", len(files), o.write)
			for _, f := range files {
				fmt.Fprintf(s.Out, "  %s  %s\n", f.name, filepath.Base(f.path))
			}
		}
		for _, w := range staleVersions(o.template, files) {
			fmt.Fprintf(s.Err, "upshift path: warning: %s\n", w)
		}
	}
	return exitOK
}

// pathArgs checks the arguments; every error is a usage error (exit 2).
func pathArgs(pos []string, edition, mode, format, write, template string) (pathOptions, error) {
	o := pathOptions{edition: edition, mode: mode, format: format, write: write, template: template}
	if len(pos) != 2 {
		return o, usageErrorf("takes FROM and TO versions")
	}
	var err error
	if o.from, err = kongrelease.Parse(pos[0]); err != nil {
		return o, usageErrorf("FROM: %v", err)
	}
	if o.to, err = kongrelease.Parse(pos[1]); err != nil {
		return o, usageErrorf("TO: %v", err)
	}
	switch edition {
	case "":
		o.edition = "oss"
		if o.from.Enterprise {
			o.edition = "enterprise"
		}
	case "oss", "enterprise":
		for _, v := range []kongrelease.Version{o.from, o.to} {
			if v.Enterprise != (edition == "enterprise") {
				return o, usageErrorf("--edition %s: %s is not an %s version (open source has 3 parts, Enterprise 4)", edition, v, map[bool]string{true: "Enterprise", false: "open-source"}[edition == "enterprise"])
			}
		}
	default:
		return o, usageErrorf("--edition: unknown edition %q (want oss or enterprise)", edition)
	}
	if _, ok := pathModes[mode]; !ok {
		return o, usageErrorf("--mode: unknown mode %q (want db, dbless or hybrid)", mode)
	}
	if format != "text" && format != "json" {
		return o, usageErrorf("--format: unknown format %q (want text or json)", format)
	}
	if (write == "") != (template == "") {
		return o, usageErrorf("--write DIR and --template PLAN go together")
	}
	return o, nil
}

// The report, as JSON and text show it.
type pathResult struct {
	From    string    `json:"from"`
	To      string    `json:"to"`
	Edition string    `json:"edition"`
	Mode    string    `json:"mode"`
	Hops    []pathHop `json:"hops"`
}

type pathHop struct {
	From       string         `json:"from"`
	To         string         `json:"to"`
	Kind       string         `json:"kind"`
	Skipped    []string       `json:"skipped,omitempty"` // an LTS hop's series in between (UP044)
	Strategies []pathStrategy `json:"strategies"`
	Preflight  []pathRule     `json:"preflight"`
}

type pathStrategy struct {
	Strategy string `json:"strategy"`
	Mode     string `json:"mode"`
	Allowed  bool   `json:"allowed"`
	// Acknowledge lists the errors a plan must acknowledge to use it.
	Acknowledge []string   `json:"acknowledge,omitempty"`
	Rules       []pathRule `json:"rules,omitempty"`
}

type pathRule struct {
	ID              string `json:"id"`
	Severity        string `json:"severity"`
	Acknowledgeable bool   `json:"acknowledgeable,omitempty"`
	Summary         string `json:"summary"`
}

func pathReport(o pathOptions, hops []kongrelease.Hop) pathResult {
	m := pathModes[o.mode]
	r := pathResult{From: o.from.String(), To: o.to.String(), Edition: o.edition, Mode: o.mode}
	for _, h := range hops {
		ph := pathHop{From: h.From.String(), To: h.To.String(), Kind: h.Kind.String(), Strategies: []pathStrategy{}, Preflight: []pathRule{}}
		if h.Kind == kongrelease.PathLTS {
			for _, s := range kongrelease.Skipped(h.From.Series(), h.To.Series()) {
				ph.Skipped = append(ph.Skipped, s.String())
			}
		}
		for _, pm := range m.plan {
			for _, f := range schema.Strategies(pm, h.From, h.To) {
				ps := pathStrategy{Strategy: f.Strategy, Mode: f.Mode, Allowed: f.Allowed()}
				for _, rule := range f.Rules {
					ps.Rules = append(ps.Rules, pathRule{ID: rule.ID, Severity: rule.Severity.String(), Acknowledgeable: rule.Acknowledgeable, Summary: rule.Summary})
					if ps.Allowed && rule.Severity == schema.SeverityError {
						ps.Acknowledge = append(ps.Acknowledge, rule.ID)
					}
				}
				ph.Strategies = append(ph.Strategies, ps)
			}
		}
		for _, rule := range rules.Table {
			if sev, ok := rule.Severity[m.rules]; ok && rule.Applies(h.From, h.To) {
				ph.Preflight = append(ph.Preflight, pathRule{ID: rule.ID, Severity: string(sev), Acknowledgeable: rule.Acknowledgeable, Summary: rule.Summary})
			}
		}
		r.Hops = append(r.Hops, ph)
	}
	return r
}

func (r pathResult) writeText(w io.Writer) error {
	var b strings.Builder
	edition := "open source"
	if r.Edition == "enterprise" {
		edition = "Enterprise"
	}
	hops := "1 hop"
	if len(r.Hops) != 1 {
		hops = fmt.Sprintf("%d hops", len(r.Hops))
	}
	fmt.Fprintf(&b, "%s → %s (%s, mode %s): %s\n", r.From, r.To, edition, r.Mode, hops)
	for i, h := range r.Hops {
		fmt.Fprintf(&b, "\n%d. %s → %s (%s)\n", i+1, h.From, h.To, h.Kind)
		if len(h.Skipped) > 0 {
			fmt.Fprintf(&b, "   skips %s: their breaking changes all apply at once (UP044)\n", strings.Join(h.Skipped, ", "))
		}
		b.WriteString("   strategies:\n")
		for _, s := range h.Strategies {
			verdict := "allowed"
			switch {
			case !s.Allowed:
				verdict = "refused"
			case len(s.Acknowledge) > 0:
				verdict = "only with acknowledge = [\"" + strings.Join(s.Acknowledge, `", "`) + "\"]"
			}
			var notes []string
			for _, rule := range s.Rules {
				notes = append(notes, fmt.Sprintf("%s %s: %s", rule.ID, rule.Severity, rule.Summary))
			}
			fmt.Fprintf(&b, "     %-12s %-11s %s\n", s.Strategy, s.Mode, verdict)
			for _, n := range notes {
				fmt.Fprintf(&b, "       %s\n", n)
			}
		}
		fmt.Fprintf(&b, "   preflight rules (%d):\n", len(h.Preflight))
		for _, p := range h.Preflight {
			fmt.Fprintf(&b, "     %-8s %-7s %s\n", p.ID, p.Severity, p.Summary)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// chainFile is one plan of the chain --write makes.
type chainFile struct {
	name, path string
	hop        kongrelease.Hop
	src        []byte
}

// chainPlans makes one plan per hop from the template: its upgrade block
// renamed NAME-<n>-<to>, with the hop's versions (and control_plane's, for
// a hybrid_dp template: the control plane is upgraded first, UP013), each
// depending on the one before (the first keeps the template's depends_on).
func chainPlans(o pathOptions, hops []kongrelease.Hop) ([]chainFile, error) {
	src, err := os.ReadFile(o.template)
	if err != nil {
		return nil, err
	}
	if _, diags := plan.NewParser().LoadSource(o.template, src); diags.HasErrors() {
		return nil, fmt.Errorf("does not load (run 'upshift lint %s'): %s", o.template, diags.Error())
	}
	var files []chainFile
	prev := ""
	for i, h := range hops {
		f, diags := hclwrite.ParseConfig(src, o.template, hcl.InitialPos)
		if diags.HasErrors() {
			return nil, errors.New(diags.Error())
		}
		var blocks []*hclwrite.Block
		for _, b := range f.Body().Blocks() {
			if b.Type() == "upgrade" {
				blocks = append(blocks, b)
			}
		}
		if len(blocks) != 1 || len(blocks[0].Labels()) != 1 {
			return nil, fmt.Errorf("holds %d upgrade blocks: a template holds exactly one", len(blocks))
		}
		up := blocks[0]
		name := fmt.Sprintf("%s-%d-%s", up.Labels()[0], i+1, h.To)
		if !schema.ValidPlanName(name) {
			return nil, fmt.Errorf("the hop's plan name %q is not a valid plan name (UP038): shorten the template's name", name)
		}
		up.SetLabels([]string{name})
		body := up.Body()
		if prev != "" {
			body.SetAttributeValue("depends_on", cty.TupleVal([]cty.Value{cty.StringVal(prev)}))
		}
		for _, side := range []struct {
			block string
			v     kongrelease.Version
		}{{"from", h.From}, {"to", h.To}, {"control_plane", h.To}} {
			if b := body.FirstMatchingBlock(side.block, nil); b != nil {
				b.Body().SetAttributeValue("version", cty.StringVal(side.v.String()))
			} else if side.block != "control_plane" {
				return nil, fmt.Errorf("the upgrade block has no %s block", side.block)
			}
		}
		var out bytes.Buffer
		fmt.Fprintf(&out, "# Hop %d of %d of upshift path %s %s: %s → %s (%s), made from %s.\n",
			i+1, len(hops), o.from, o.to, h.From, h.To, h.Kind, filepath.Base(o.template))
		out.Write(f.Bytes())
		files = append(files, chainFile{name: name, hop: h, path: filepath.Join(o.write, name+".upshift.hcl"), src: canonical(out.Bytes())})
		prev = name
	}
	return files, nil
}

// lintChain lints the chain's plans together, in memory, and returns a
// line per error (none: every plan lints clean).
func lintChain(files []chainFile) []string {
	p := plan.NewParser()
	set := &plan.Set{}
	var diags hcl.Diagnostics
	for _, f := range files {
		plans, d := p.LoadSource(f.path, f.src)
		set.Plans = append(set.Plans, plans...)
		set.Files = append(set.Files, f.path)
		diags = append(diags, d...)
	}
	diags = append(diags, schema.Lint(set, schema.Options{})...)
	var out []string
	for _, d := range diags {
		if schema.SeverityOf(d) != schema.SeverityError {
			continue
		}
		where := ""
		if d.Subject != nil {
			where = fmt.Sprintf("%s:%d: ", filepath.Base(d.Subject.Filename), d.Subject.Start.Line)
		}
		id := ""
		if rid := schema.RuleID(d); rid != "" {
			id = " [" + rid + "]"
		}
		out = append(out, fmt.Sprintf("%s%s%s: %s", where, d.Summary, id, d.Detail))
	}
	return out
}

// staleVersions names the lines of the chain's plans, other than the
// versions path set, that still mention the template's from.version or
// to.version: Y's kong command or a start hook written for the template's
// version (["/opt/kong-3.9.1/bin/kong"]) would run the wrong release on
// every other hop. Lint cannot see that; the operator must.
func staleVersions(template string, files []chainFile) []string {
	src, err := os.ReadFile(template)
	if err != nil {
		return nil
	}
	plans, _ := plan.NewParser().LoadSource(template, src)
	if len(plans) != 1 || plans[0].From == nil || plans[0].To == nil {
		return nil
	}
	var out []string
	for _, f := range files {
		for i, line := range strings.Split(string(f.src), "\n") {
			t := strings.TrimSpace(line)
			if t == "" || t[0] == '#' || strings.HasPrefix(t, "upgrade ") || strings.HasPrefix(t, "depends_on ") {
				continue // comments, and the names path gave
			}
			for _, v := range []string{plans[0].From.Version.Value, plans[0].To.Version.Value} {
				if v != "" && v != f.hop.From.String() && v != f.hop.To.String() && strings.Contains(line, v) {
					out = append(out, fmt.Sprintf("%s:%d mentions the template's version %s: check that it fits this hop (Y's kong command, hooks): %s", filepath.Base(f.path), i+1, v, t))
					break
				}
			}
		}
	}
	return out
}

// writeChain writes the files into dir, refusing to overwrite one.
func writeChain(dir string, files []chainFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		if _, err := os.Lstat(f.path); err == nil {
			return fmt.Errorf("%s exists: nothing is overwritten (remove it, or write elsewhere)", f.path)
		}
	}
	for _, f := range files {
		h, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		_, err = h.Write(f.src)
		if cerr := h.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return nil
}
