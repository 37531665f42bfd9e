package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/preflight/rules"
	"github.com/upshift-dev/upshift/schema/render"
)

// checkDeckArgs checks --deck's companions: --from and --to go with it
// (and only with it), plans paths do not.
func checkDeckArgs(o lintOptions, paths []string) error {
	if o.Deck == "" {
		if o.From != "" || o.To != "" {
			return usageErrorf("--from and --to go with --deck FILE")
		}
		return nil
	}
	if o.From == "" || o.To == "" {
		return usageErrorf("--deck needs --from VERSION and --to VERSION")
	}
	for _, v := range []string{o.From, o.To} {
		if _, err := kongrelease.Parse(v); err != nil {
			return usageErrorf("--from/--to: %v", err)
		}
	}
	if len(paths) > 0 {
		return usageErrorf("--deck checks one decK file: give no plan PATH with it")
	}
	switch o.Format {
	case render.Text, render.JSON, render.GitHub:
	default:
		return usageErrorf("--deck: --format %s is not supported (text, json, github)", o.Format)
	}
	return nil
}

// runLintDeck is `upshift lint --deck FILE --from V --to V`: the preflight
// rules, offline, on a decK file in mode "file" (nothing rewrites it on
// the way to Y). Exit 1 when a finding is an error or the file cannot be
// read.
func runLintDeck(o lintOptions, s *streams) int {
	data, err := os.ReadFile(o.Deck)
	if err != nil {
		fmt.Fprintf(s.Err, "upshift lint: %v\n", err)
		return exitFail
	}
	c, err := rules.Parse(data)
	if err != nil {
		fmt.Fprintf(s.Err, "upshift lint: %s: %v\n", o.Deck, err)
		return exitFail
	}
	in := &rules.Input{Content: c, From: kongrelease.MustParse(o.From), To: kongrelease.MustParse(o.To), Mode: rules.ModeFile}
	fs := rules.Evaluate(in, nil)
	switch o.Format {
	case render.JSON:
		enc := json.NewEncoder(s.Out)
		enc.SetIndent("", "  ")
		err = enc.Encode(struct {
			File     string          `json:"file"`
			From     string          `json:"from"`
			To       string          `json:"to"`
			Findings []rules.Finding `json:"findings"`
		}{o.Deck, in.From.String(), in.To.String(), nonNil(fs)})
	case render.GitHub:
		for _, f := range fs {
			level := map[rules.Severity]string{rules.Error: "error", rules.Warning: "warning", rules.Info: "notice"}[f.Severity]
			fmt.Fprintf(s.Out, "::%s file=%s,title=%s::%s\n", level, ghEscapeProp(o.Deck), f.Rule, ghEscape(f.Place()+": "+f.Summary+". "+f.Detail+". Fix: "+f.Fix))
		}
	default:
		err = rules.WriteText(s.Out, fs)
		if err == nil {
			n := rules.Count(fs)
			_, err = fmt.Fprintf(s.Out, "%s: %d errors, %d warnings, %d info (%s → %s, %d entities)\n", o.Deck, n[rules.Error], n[rules.Warning], n[rules.Info], in.From, in.To, c.Entities())
		}
	}
	if err != nil {
		fmt.Fprintf(s.Err, "upshift lint: write findings: %v\n", err)
		return exitFail
	}
	if rules.Count(fs)[rules.Error] > 0 {
		return exitFail
	}
	return exitOK
}

func nonNil(fs []rules.Finding) []rules.Finding {
	if fs == nil {
		return []rules.Finding{}
	}
	return fs
}

// ghEscape and ghEscapeProp escape a workflow command's message and
// property value (as schema/render's github output does).
func ghEscape(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func ghEscapeProp(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
