package preflight

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/upshift-dev/upshift/internal/preflight/rules"
)

// WriteJSON writes the report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report: identity, path, migrations, plugins, sizes,
// then the findings grouped by severity, and the verdict.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	if r.Plan != "" {
		fmt.Fprintf(&b, "preflight of plan %q (mode %s)\n", r.Plan, r.Mode)
	}
	for _, s := range []struct {
		name string
		id   Identity
	}{{"X", r.X}, {"Y", r.Y}} {
		fmt.Fprintf(&b, "%s: %s\n", s.name, s.id.text())
	}
	fmt.Fprintf(&b, "path: %s\n", r.Path)
	if m := r.Migrations; m != nil {
		fmt.Fprintf(&b, "migrations: for X %s; for Y %s; %d lock rows\n", summary(m.ForX.New, m.ForX.Pending), summary(m.ForY.New, m.ForY.Pending), len(m.Locks))
	} else {
		b.WriteString("migrations: not read (no from.database)\n")
	}
	fmt.Fprintf(&b, "plugins in use: %s\n", counts(r.Plugins.InUse))
	if len(r.Plugins.Custom) > 0 {
		fmt.Fprintf(&b, "custom plugins (must be installed on Y): %s\n", strings.Join(r.Plugins.Custom, ", "))
	}
	fmt.Fprintf(&b, "sizes: %d entities", r.Sizes.Entities)
	if len(r.Sizes.Tables) > 0 {
		fmt.Fprintf(&b, "; largest tables (pg_class.reltuples): %s", counts64(r.Sizes.Tables))
	}
	b.WriteString("\n\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if err := rules.WriteText(w, r.Findings); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s\nnot checked: see --format json (not_checked) or docs/preflight.md\n", r.verdict())
	return err
}

// WriteMarkdown writes the report for a commit or pull-request comment.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### Upshift preflight: %s\n\n", r.verdict())
	if r.Plan != "" {
		fmt.Fprintf(&b, "Plan `%s`, mode %s.\n\n", r.Plan, r.Mode)
	}
	fmt.Fprintf(&b, "- **X**: %s\n- **Y**: %s\n- **path**: %s\n", r.X.text(), r.Y.text(), r.Path)
	if m := r.Migrations; m != nil {
		fmt.Fprintf(&b, "- **migrations**: for X %s; for Y %s; %d lock rows\n", summary(m.ForX.New, m.ForX.Pending), summary(m.ForY.New, m.ForY.Pending), len(m.Locks))
	}
	fmt.Fprintf(&b, "- **plugins in use**: %s\n", counts(r.Plugins.InUse))
	fmt.Fprintf(&b, "- **sizes**: %d entities", r.Sizes.Entities)
	if len(r.Sizes.Tables) > 0 {
		fmt.Fprintf(&b, "; %s", counts64(r.Sizes.Tables))
	}
	b.WriteString("\n\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if len(r.Findings) > 0 {
		if err := rules.WriteMarkdown(w, r.Findings); err != nil {
			return err
		}
	}
	var nc strings.Builder
	nc.WriteString("\n<details><summary>Not checked</summary>\n\n")
	for _, n := range r.NotChecked {
		fmt.Fprintf(&nc, "- %s\n", n)
	}
	nc.WriteString("</details>\n")
	_, err := io.WriteString(w, nc.String())
	return err
}

func (r *Report) verdict() string {
	c := r.Counts
	v := "clean"
	if !r.Clean {
		v = "NOT clean"
	}
	return fmt.Sprintf("%s: %d errors, %d warnings, %d info", v, c[rules.Error], c[rules.Warning], c[rules.Info])
}

func (id Identity) text() string {
	switch {
	case id.Error != "":
		return fmt.Sprintf("planned %s, not read (%s)", id.Planned, id.Error)
	case id.Answered == "":
		return fmt.Sprintf("planned %s, not read", id.Planned)
	}
	s := fmt.Sprintf("planned %s, answers %s", id.Planned, id.Answered)
	if id.Role != "" {
		s += ", role " + id.Role
	}
	if id.Database != "" {
		s += ", database " + id.Database
	}
	return s
}

func summary(newM, pending map[string][]string) string {
	n, p := 0, 0
	for _, l := range newM {
		n += len(l)
	}
	for _, l := range pending {
		p += len(l)
	}
	return fmt.Sprintf("%d to run (up), %d pending (finish)", n, p)
}

func counts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func counts64(m map[string]int64) string {
	c := make(map[string]int, len(m))
	for k, v := range m {
		c[k] = int(v)
	}
	return counts(c)
}
