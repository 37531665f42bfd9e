package render

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"

	"github.com/upshift-dev/upshift/schema"
)

// maxSnippetLines bounds how many source lines one diagnostic shows.
const maxSnippetLines = 5

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

// writeText writes each diagnostic the way Terraform does:
//
//	Error: Dual-cluster needs Y's own database [UP012]
//
//	  on prod.upshift.hcl line 30, in upgrade "prod-eu":
//	  30:     database { dsn = env("KONG_X_DSN") }
//	                           ^^^^^^^^^^^^^^^^^
//
//	to.database must name a different database from from.database: ...
//
// followed by a blank line. Parser diagnostics have no "[ID]".
func writeText(w io.Writer, diags hcl.Diagnostics, opts Options) error {
	bw := bufio.NewWriter(w)
	for _, d := range diags {
		writeTextDiag(bw, d, opts)
	}
	return bw.Flush()
}

func writeTextDiag(w *bufio.Writer, d *hcl.Diagnostic, opts Options) {
	label, colour := "Error", ansiRed
	switch schema.SeverityOf(d) {
	case schema.SeverityWarning:
		label, colour = "Warning", ansiYellow
	case schema.SeverityInfo:
		label, colour = "Info", ansiCyan
	}
	bold := ansiBold
	if !opts.Color {
		colour, bold = "", ""
	}
	head := paint(label+":", colour+bold) + " " + paint(schema.MaskSecrets(d.Summary), bold)
	if id := schema.RuleID(d); id != "" {
		head += " [" + id + "]"
	}
	fmt.Fprintln(w, head)

	if rng := subject(d); rng != nil {
		fmt.Fprintln(w)
		where := fmt.Sprintf("  on %s line %d", rng.Filename, rng.Start.Line)
		if c := contextString(opts.Files, rng); c != "" {
			where += ", in " + c
		}
		fmt.Fprintln(w, where+":")
		writeSnippet(w, source(opts.Files, rng), *rng, colour)
	}
	if detail := strings.TrimSpace(d.Detail); detail != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, schema.MaskSecrets(detail))
	}
	fmt.Fprintln(w)
}

// writeSnippet prints the source lines rng covers, numbered, each with a
// caret line under the covered part. Nothing without source.
func writeSnippet(w *bufio.Writer, src []byte, rng hcl.Range, colour string) {
	if len(src) == 0 || rng.Start.Byte < 0 || rng.Start.Byte > len(src) {
		return
	}
	end := min(max(rng.End.Byte, rng.Start.Byte), len(src))
	lineStart := bytes.LastIndexByte(src[:rng.Start.Byte], '\n') + 1
	lastLine := rng.End.Line
	if rng.End.Line > rng.Start.Line && rng.End.Column == 1 {
		lastLine-- // the range ends at the start of a line: that line is not part of it
	}
	width := len(fmt.Sprint(max(lastLine, rng.Start.Line)))
	for n, pos := rng.Start.Line, lineStart; pos <= len(src) && n <= max(lastLine, rng.Start.Line); n++ {
		if n-rng.Start.Line == maxSnippetLines {
			fmt.Fprintf(w, "  %*s  ...\n", width, "")
			break
		}
		lineEnd := bytes.IndexByte(src[pos:], '\n')
		if lineEnd < 0 {
			lineEnd = len(src)
		} else {
			lineEnd += pos
		}
		line := strings.TrimRight(string(src[pos:lineEnd]), "\r")
		spans := schema.SecretSpans(line)
		shown := schema.MaskSecrets(line) // never echo a secret
		fmt.Fprintf(w, "  %*d: %s\n", width, n, shown)
		from, to := max(rng.Start.Byte, pos), min(end, pos+len(line))
		if n > rng.Start.Line { // continuation lines: underline from the first non-blank
			for from < to && (src[from] == ' ' || src[from] == '\t') {
				from++
			}
		}
		if to > from || (from == to && n == rng.Start.Line) {
			// The carets are placed on the shown (masked) line.
			sFrom, sTo := schema.MaskOffset(spans, from-pos), schema.MaskOffset(spans, to-pos)
			marks := strings.Repeat("^", max(1, utf8.RuneCountInString(shown[sFrom:sTo])))
			if colour != "" {
				marks = colour + marks + ansiReset
			}
			fmt.Fprintf(w, "  %*s  %s%s\n", width, "", indentLike([]byte(shown[:sFrom])), marks)
		}
		pos = lineEnd + 1
	}
}

// indentLike returns blanks as wide as prefix, keeping its tabs.
func indentLike(prefix []byte) string {
	var b strings.Builder
	for _, r := range string(prefix) {
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// paint wraps s in the ANSI code c, when c is not empty.
func paint(s, c string) string {
	if c == "" {
		return s
	}
	return c + s + ansiReset
}
