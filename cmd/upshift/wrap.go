package main

import (
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"golang.org/x/term"
)

// defaultWidth is where output wraps when it does not go to a terminal
// (CI, a log file, a pipe).
const defaultWidth = 100

// outputWidth is the width long lines wrap at on w: the terminal's, or
// defaultWidth.
func outputWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols >= 40 {
			return cols
		}
	}
	return defaultWidth
}

// uniqueLines drops each line of s that repeats the one before it
// (spacing aside): pgx words its TLS and plain attempts the same.
func uniqueLines(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	prev := "\x00"
	for _, l := range lines {
		norm := strings.Join(strings.Fields(l), " ")
		if norm == prev {
			continue
		}
		prev = norm
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// wrap lays out head followed by text in lines at most width columns
// wide, breaking at spaces, each continuation line indented by indent
// spaces. Nothing is cut: a word longer than a line gets a line of its
// own. Each line of a multi-line text (a command's output, a pgx error
// with one line per attempt) starts a new line at indent, tabs and
// runs of spaces collapsed; a line that repeats the one before it is
// left out (pgx reports the TLS and the plain attempt with the same
// words). The result has no trailing newline.
func wrap(head, text string, indent, width int) string {
	if width < indent+20 {
		width = indent + 20
	}
	pad := strings.Repeat(" ", indent)
	var b strings.Builder
	b.WriteString(head)
	col := utf8.RuneCountInString(head)
	// atStart: nothing written after the indent (or the head) yet.
	atStart := true
	prev := ""
	first := true
	for _, line := range strings.Split(text, "\n") {
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		norm := strings.Join(words, " ")
		if norm == prev {
			continue
		}
		prev = norm
		if !first {
			b.WriteString("\n" + pad)
			col, atStart = indent, true
		}
		first = false
		for _, w := range words {
			n := utf8.RuneCountInString(w)
			switch {
			case atStart:
			case col+1+n > width:
				b.WriteString("\n" + pad)
				col = indent
			default:
				b.WriteByte(' ')
				col++
			}
			b.WriteString(w)
			col += n
			atStart = false
		}
	}
	return b.String()
}
