package render

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/upshift-dev/upshift/schema"
)

// writeGitHub writes one GitHub Actions workflow command per diagnostic:
//
//	::error file=plans/a.upshift.hcl,line=12,col=5,endLine=12,endColumn=9,title=UP012 Summary::Detail
//
// error → ::error, warning → ::warning, info → ::notice. The title is the
// rule ID and summary; the message is the detail (the summary when there is
// none). Values are escaped as GitHub's toolkit does: %, \r and \n in the
// message; also , and : in properties. endLine/endColumn are written only
// for a range on one line that has a width (GitHub's annotations accept a
// column range only within one line).
func writeGitHub(w io.Writer, diags hcl.Diagnostics, opts Options) error {
	bw := bufio.NewWriter(w)
	for _, d := range diags {
		cmd := "error"
		switch schema.SeverityOf(d) {
		case schema.SeverityWarning:
			cmd = "warning"
		case schema.SeverityInfo:
			cmd = "notice"
		}
		var props []string
		if rng := subject(d); rng != nil {
			props = append(props,
				"file="+escapeProperty(relPath(rng.Filename, opts.BaseDir)),
				fmt.Sprintf("line=%d", rng.Start.Line),
				fmt.Sprintf("col=%d", rng.Start.Column))
			switch {
			case rng.End.Line > rng.Start.Line:
				props = append(props, fmt.Sprintf("endLine=%d", rng.End.Line))
			case rng.End.Column > rng.Start.Column:
				props = append(props, fmt.Sprintf("endLine=%d", rng.End.Line), fmt.Sprintf("endColumn=%d", rng.End.Column))
			}
		}
		title := schema.MaskSecrets(d.Summary)
		if id := schema.RuleID(d); id != "" {
			title = id + " " + title
		}
		props = append(props, "title="+escapeProperty(title))
		msg := schema.MaskSecrets(strings.TrimSpace(d.Detail))
		if msg == "" {
			msg = schema.MaskSecrets(d.Summary)
		}
		fmt.Fprintf(bw, "::%s %s::%s\n", cmd, strings.Join(props, ","), escapeData(msg))
	}
	return bw.Flush()
}

// escapeData escapes a workflow command's message.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a workflow command's property value.
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
