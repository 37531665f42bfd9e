package render

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/hashicorp/hcl/v2"

	"github.com/upshift-dev/upshift/schema"
)

// jsonOutput is the shape of `terraform validate -json`, with "info_count"
// and per-diagnostic "rule" (and "acknowledged") added. Field order and
// names are a stable interface.
type jsonOutput struct {
	FormatVersion string           `json:"format_version"`
	Valid         bool             `json:"valid"`
	ErrorCount    int              `json:"error_count"`
	WarningCount  int              `json:"warning_count"`
	InfoCount     int              `json:"info_count"`
	Diagnostics   []jsonDiagnostic `json:"diagnostics"`
}

type jsonDiagnostic struct {
	Severity     string       `json:"severity"` // error, warning, info
	Summary      string       `json:"summary"`
	Detail       string       `json:"detail"`
	Rule         string       `json:"rule"` // UPnnn, or "HCL" for parser diagnostics
	Acknowledged bool         `json:"acknowledged,omitempty"`
	Range        *jsonRange   `json:"range,omitempty"`
	Snippet      *jsonSnippet `json:"snippet,omitempty"`
}

type jsonRange struct {
	Filename string  `json:"filename"`
	Start    jsonPos `json:"start"`
	End      jsonPos `json:"end"`
}

type jsonPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// jsonSnippet is Terraform's snippet: the source lines of the range, the
// line number of the first, and the highlighted part as byte offsets into
// Code. Values is always empty (Upshift does not evaluate expressions in
// lint), kept for tools written against Terraform's shape.
type jsonSnippet struct {
	Context              *string `json:"context"`
	Code                 string  `json:"code"`
	StartLine            int     `json:"start_line"`
	HighlightStartOffset int     `json:"highlight_start_offset"`
	HighlightEndOffset   int     `json:"highlight_end_offset"`
	Values               []any   `json:"values"`
}

// JSONFormatVersion is the format_version written in json output; it
// changes only when a field is removed or changes meaning.
const JSONFormatVersion = "1.0"

func writeJSON(w io.Writer, diags hcl.Diagnostics, opts Options) error {
	c := Count(diags)
	out := jsonOutput{
		FormatVersion: JSONFormatVersion,
		Valid:         c.Errors == 0,
		ErrorCount:    c.Errors,
		WarningCount:  c.Warnings,
		InfoCount:     c.Infos,
		Diagnostics:   make([]jsonDiagnostic, 0, len(diags)),
	}
	for _, d := range diags {
		jd := jsonDiagnostic{
			Severity: schema.SeverityOf(d).String(),
			Summary:  schema.MaskSecrets(d.Summary),
			Detail:   schema.MaskSecrets(d.Detail),
			Rule:     ruleID(d),
		}
		if f := schema.FindingOf(d); f != nil {
			jd.Acknowledged = f.Acknowledged
		}
		if rng := subject(d); rng != nil {
			jd.Range = &jsonRange{
				Filename: rng.Filename,
				Start:    jsonPos{rng.Start.Line, rng.Start.Column, rng.Start.Byte},
				End:      jsonPos{rng.End.Line, rng.End.Column, rng.End.Byte},
			}
			jd.Snippet = snippetOf(opts.Files, rng)
		}
		out.Diagnostics = append(out.Diagnostics, jd)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// snippetOf returns the lines rng covers, or nil without source.
func snippetOf(files map[string]*hcl.File, rng *hcl.Range) *jsonSnippet {
	src := source(files, rng)
	if src == nil || rng.Start.Byte < 0 || rng.Start.Byte > len(src) {
		return nil
	}
	end := min(max(rng.End.Byte, rng.Start.Byte), len(src))
	first := bytes.LastIndexByte(src[:rng.Start.Byte], '\n') + 1
	last := bytes.IndexByte(src[end:], '\n')
	if end > rng.Start.Byte && src[end-1] == '\n' {
		end-- // the range ends just after a newline: stop at that line
		last = end
	} else if last < 0 {
		last = len(src)
	} else {
		last += end
	}
	code := string(src[first:last])
	spans := schema.SecretSpans(code) // the code is shown masked; offsets follow
	sn := &jsonSnippet{
		Code:                 schema.MaskSecrets(code),
		StartLine:            rng.Start.Line,
		HighlightStartOffset: schema.MaskOffset(spans, rng.Start.Byte-first),
		HighlightEndOffset:   schema.MaskOffset(spans, end-first),
		Values:               []any{},
	}
	if c := contextString(files, rng); c != "" {
		sn.Context = &c
	}
	return sn
}
