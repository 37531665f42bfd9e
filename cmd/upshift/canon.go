package main

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// canonical returns src in Upshift's canonical layout. src must parse
// (callers check with hclsyntax first: hclwrite formats broken files too).
//
// The layout is hclwrite.Format's (indentation, aligned "=" in runs of
// attributes, spacing around operators) plus three normalisations that
// only touch whitespace between tokens, never inside strings or heredocs:
//   - no blank lines at the start of the file;
//   - at most one blank line in a row, and none just inside braces
//     (after a "{" line, before a "}");
//   - exactly one newline at the end (none for an empty file).
//
// A file whose first line ends in CRLF comes back with CRLF on every line
// (hclwrite alone keeps some and writes LF for the lines it adds).
//
// canonical is idempotent: canonical(canonical(x)) == canonical(x).
func canonical(src []byte) []byte { return canonicalPass(src, false) }

// canonicalPass is canonical; force runs the token pass even when
// needsBlankLinePass says it is not needed (tests compare both).
func canonicalPass(src []byte, force bool) []byte {
	isCRLF := crlf(src)
	if isCRLF {
		src = bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))
	}
	if force || needsBlankLinePass(src) {
		src = dropBlankLines(src)
	}
	out := hclwrite.Format(src)
	out = bytes.TrimRight(out, " \t\r\n")
	if len(out) == 0 {
		return []byte{}
	}
	out = append(out, '\n')
	if isCRLF {
		out = bytes.ReplaceAll(out, []byte("\n"), []byte("\r\n"))
	}
	return out
}

// crlf reports whether src's first line ends in CRLF: the file's line
// ending, which canonical keeps.
func crlf(src []byte) bool {
	i := bytes.IndexByte(src, '\n')
	return i > 0 && src[i-1] == '\r'
}

// needsBlankLinePass reports whether src may hold a blank line that
// dropBlankLines removes: one at the start, after another blank line, after
// a line ending in "{", or before a line starting with "}". A false "yes"
// only costs time; a "no" must never change canonical's result (checked by
// the tests and FuzzCanonical).
func needsBlankLinePass(src []byte) bool {
	prevBlank, prevOpen := true, false // the start of the file counts as a blank line
	for len(src) > 0 {
		line := src
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i], src[i+1:]
		} else {
			src = nil
		}
		t := bytes.TrimSpace(line)
		blank := len(t) == 0
		if blank && (prevBlank || prevOpen) {
			return true
		}
		if !blank && prevBlank && t[0] == '}' {
			return true
		}
		prevBlank, prevOpen = blank, !blank && t[len(t)-1] == '{'
	}
	return false
}

// dropBlankLines removes the blank lines canonical does not keep. It works
// on hclsyntax's tokens (a heredoc's or a string's content is one token, so
// it is never touched) and copies everything else byte for byte.
func dropBlankLines(src []byte) []byte {
	tokens, diags := hclsyntax.LexConfig(src, "", hcl.InitialPos)
	if diags.HasErrors() {
		return src
	}
	// piece is a token with the whitespace before it.
	type piece struct {
		text    []byte // whitespace + token bytes
		newline bool   // a newline token, or a line comment (which ends in one)
		tokNL   bool   // a newline token
	}
	kept := make([]piece, 0, len(tokens))
	trim := func() { // drop the newline tokens that end kept and make a blank line
		for n := len(kept); n >= 2 && kept[n-1].tokNL && kept[n-2].newline; n = len(kept) {
			kept = kept[:n-1]
		}
	}
	prevEnd := 0
	newlines := 2 // as if after a blank line: drops leading blank lines
	limit := 2    // newlines allowed in a row here: 2 keeps one blank line
	for _, t := range tokens {
		text := src[prevEnd:t.Range.End.Byte]
		prevEnd = t.Range.End.Byte
		p := piece{text: text}
		switch {
		case t.Type == hclsyntax.TokenNewline:
			if newlines >= limit {
				continue
			}
			newlines++
			p.newline, p.tokNL = true, true
		case t.Type == hclsyntax.TokenEOF:
		case t.Type == hclsyntax.TokenComment && bytes.HasSuffix(t.Bytes, []byte("\n")):
			newlines, limit = 1, 2 // a line comment carries its own newline
			p.newline = true
		case t.Type == hclsyntax.TokenOBrace:
			newlines, limit = 0, 1
		case t.Type == hclsyntax.TokenCBrace:
			trim()
			newlines, limit = 0, 2
		default:
			newlines, limit = 0, 2
		}
		kept = append(kept, p)
	}
	out := make([]byte, 0, len(src))
	for _, p := range kept {
		out = append(out, p.text...)
	}
	return append(out, src[prevEnd:]...)
}
