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
// canonical is idempotent: canonical(canonical(x)) == canonical(x).
func canonical(src []byte) []byte { return canonicalPass(src, false) }

// canonicalPass is canonical; force runs the token pass even when
// needsBlankLinePass says it is not needed (tests compare both).
func canonicalPass(src []byte, force bool) []byte {
	if force || needsBlankLinePass(src) {
		src = dropBlankLines(src)
	}
	out := hclwrite.Format(src)
	out = bytes.TrimRight(out, " \t\r\n")
	if len(out) == 0 {
		return []byte{}
	}
	return append(out, '\n')
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

// dropBlankLines removes the blank lines canonical does not keep, working
// on hclwrite's tokens so that strings and heredocs are never touched.
func dropBlankLines(src []byte) []byte {
	f, diags := hclwrite.ParseConfig(src, "", hcl.InitialPos)
	if diags.HasErrors() {
		return src
	}
	tokens := f.BuildTokens(nil)
	kept := make(hclwrite.Tokens, 0, len(tokens))
	newlines := 2 // as if after a blank line: drops leading blank lines
	limit := 2    // newlines allowed in a row here: 2 keeps one blank line
	for _, t := range tokens {
		switch {
		case t.Type == hclsyntax.TokenNewline:
			if newlines >= limit {
				continue
			}
			newlines++
		case t.Type == hclsyntax.TokenEOF:
		case t.Type == hclsyntax.TokenComment && bytes.HasSuffix(t.Bytes, []byte("\n")):
			newlines, limit = 1, 2 // a line comment carries its own newline
		case t.Type == hclsyntax.TokenOBrace:
			newlines, limit = 0, 1
		case t.Type == hclsyntax.TokenCBrace:
			kept = trimBlankLine(kept)
			newlines, limit = 0, 2
		default:
			newlines, limit = 0, 2
		}
		kept = append(kept, t)
	}
	return kept.Bytes()
}

// trimBlankLine drops the newline tokens at the end of ts that make a
// blank line (a newline after a newline or after a line comment).
func trimBlankLine(ts hclwrite.Tokens) hclwrite.Tokens {
	for n := len(ts); n >= 2 && ts[n-1].Type == hclsyntax.TokenNewline; n = len(ts) {
		prev := ts[n-2]
		if prev.Type != hclsyntax.TokenNewline &&
			!(prev.Type == hclsyntax.TokenComment && bytes.HasSuffix(prev.Bytes, []byte("\n"))) {
			break
		}
		ts = ts[:n-1]
	}
	return ts
}
