package rules

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes findings grouped by severity (errors, warnings, info),
// each with its place, rule, what was seen, the fix and the source.
func WriteText(w io.Writer, fs []Finding) error {
	var b strings.Builder
	for _, sev := range []Severity{Error, Warning, Info} {
		var group []Finding
		for _, f := range fs {
			if f.Severity == sev {
				group = append(group, f)
			}
		}
		if len(group) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s (%d):\n", map[Severity]string{Error: "ERRORS", Warning: "WARNINGS", Info: "INFO"}[sev], len(group))
		for _, f := range group {
			ack := ""
			if f.Acknowledged {
				ack = " (acknowledged)"
			}
			fmt.Fprintf(&b, "  %s %s%s\n", f.Rule, f.Summary, ack)
			if p := f.Place(); p != "" {
				fmt.Fprintf(&b, "    at:     %s\n", p)
			}
			if f.Detail != "" {
				fmt.Fprintf(&b, "    seen:   %s\n", f.Detail)
			}
			fmt.Fprintf(&b, "    fix:    %s\n    source: %s\n", f.Fix, f.Source)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes findings as a Markdown table, errors first.
func WriteMarkdown(w io.Writer, fs []Finding) error {
	var b strings.Builder
	b.WriteString("| severity | rule | where | seen | fix |\n|---|---|---|---|---|\n")
	for _, f := range fs {
		sev := string(f.Severity)
		if f.Acknowledged {
			sev += " (acknowledged)"
		}
		fmt.Fprintf(&b, "| %s | %s %s | `%s` | %s | %s |\n", sev, f.Rule, mdCell(f.Summary), mdCell(f.Place()), mdCell(f.Detail), mdCell(f.Fix))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdCell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "`", "'").Replace(s)
}
