package schema

import (
	"bytes"
	"fmt"
	"strings"
)

// RulesMarkdown renders the rule table as schema/RULES.md (go generate
// writes it; TestRulesMarkdownCurrent fails when the file is stale).
func RulesMarkdown() []byte {
	var b bytes.Buffer
	b.WriteString("# Upshift lint rules\n\n")
	b.WriteString("<!-- Generated from schema.Rules() by `go generate ./schema`; do not edit. -->\n\n")
	b.WriteString("Each rule has a stable ID. A plan may accept an acknowledgeable rule's findings on purpose with\n")
	b.WriteString("`acknowledge = [\"UPxxx\"]`: they are then reported as info, marked \"(acknowledged)\". Safety rules\n")
	b.WriteString("can never be acknowledged (UP030). Errors in the HCL itself (syntax, types, unknown or missing\n")
	b.WriteString("attributes and blocks) come from the parser and carry no rule ID.\n\n")
	b.WriteString("| ID | Severity | Acknowledgeable | Summary |\n|---|---|---|---|\n")
	for _, r := range Rules() {
		ack := "no"
		if r.Acknowledgeable {
			ack = "yes"
		}
		fmt.Fprintf(&b, "| [%s](#%s) | %s | %s | %s |\n", r.ID, strings.ToLower(r.ID), r.Severity, ack, r.Summary)
	}
	for _, r := range Rules() {
		fmt.Fprintf(&b, "\n## %s\n\n**%s** (%s", r.ID, r.Summary, r.Severity)
		if r.Acknowledgeable {
			b.WriteString(", acknowledgeable")
		}
		fmt.Fprintf(&b, ")\n\n%s\n", r.Fix)
	}
	b.WriteString("\n## What each strategy needs (UP009, UP010, UP011)\n\n")
	b.WriteString(strategyTable)
	return b.Bytes()
}

const strategyTable = `✓ required, - must be absent, ○ optional.

| | dual_cluster | blue_green | in_place | rolling |
|---|---|---|---|---|
| mode | traditional, hybrid_cp | traditional, hybrid_cp | traditional, hybrid_cp | dbless, hybrid_dp |
| from/to admin_url | ✓ | ✓ | ✓ | - (per node) |
| from/to node blocks | - | - | - | ✓ |
| from.database | ✓ | ✓ | ✓ | - |
| to.database | ✓ (≠ from's, UP012) | - (shared) | - (shared) | - |
| to.kong | ✓ | ✓ | ✓ | - |
| traffic + rollout | ✓ (○ for hybrid_cp) | ✓ (○ for hybrid_cp) | - | ✓ |
| backup | ✓ | ✓ | ✓ | ✓ |
| backup.verify_dsn | ✓ with verify = true | ✓ with verify = true | ✓ with verify = true | - (the declarative backup is verified without a database) |
| control_plane | only hybrid_dp (✓ there) | | | |
| max_downtime | - | - | ○ | - |
| approve items | decommission | finish, decommission | stop_current, decommission | decommission |

proxy_url (on the side, or on every node for rolling) is required on the side a check's request
targets, and on both sides with traffic "nginx", which writes the addresses into its upstream.
`
