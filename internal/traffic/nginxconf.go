package traffic

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// This file reads and writes the upstream file of the nginx driver. The
// reader is a small tokenizer for nginx's configuration syntax (words,
// quoted strings, '{', '}', ';', '#' comments to the end of the line), not
// a full nginx parser: it finds one upstream block by name and reads its
// server directives' addresses and their weight= and down parameters.

type token struct {
	text string
	line int
	punc bool // one of { } ;
}

func tokenize(src string) ([]token, error) {
	var toks []token
	line := 1
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '{' || c == '}' || c == ';':
			toks = append(toks, token{string(c), line, true})
			i++
		case c == '"' || c == '\'':
			start := line
			var b strings.Builder
			i++
			for ; i < len(src) && src[i] != c; i++ {
				if src[i] == '\\' && i+1 < len(src) {
					i++
				}
				if src[i] == '\n' {
					line++
				}
				b.WriteByte(src[i])
			}
			if i >= len(src) {
				return nil, fmt.Errorf("line %d: unterminated quoted string", start)
			}
			i++
			toks = append(toks, token{b.String(), start, false})
		default:
			j := i
			for j < len(src) && !strings.ContainsRune(" \t\r\n{};#\"'", rune(src[j])) {
				j++
			}
			toks = append(toks, token{src[i:j], line, false})
			i = j
		}
	}
	return toks, nil
}

// directive is one statement: its words and, for a block, its body.
type directive struct {
	args  []string // args[0] is the name
	line  int
	block []directive // nil for a simple directive
	isBlk bool
}

func parseDirectives(toks []token, pos int, nested bool) ([]directive, int, error) {
	var out []directive
	for pos < len(toks) {
		t := toks[pos]
		if t.punc && t.text == "}" {
			if !nested {
				return nil, pos, fmt.Errorf("line %d: unexpected }", t.line)
			}
			return out, pos + 1, nil
		}
		d := directive{line: t.line}
		for pos < len(toks) && !toks[pos].punc {
			d.args = append(d.args, toks[pos].text)
			pos++
		}
		if pos >= len(toks) {
			return nil, pos, fmt.Errorf("line %d: directive %q does not end with ; or {", d.line, strings.Join(d.args, " "))
		}
		switch toks[pos].text {
		case ";":
			pos++
		case "{":
			body, next, err := parseDirectives(toks, pos+1, true)
			if err != nil {
				return nil, next, err
			}
			d.block, d.isBlk, pos = body, true, next
		default: // "}" right after words
			return nil, pos, fmt.Errorf("line %d: directive %q does not end with ;", d.line, strings.Join(d.args, " "))
		}
		if len(d.args) == 0 {
			return nil, pos, fmt.Errorf("line %d: empty directive", d.line)
		}
		out = append(out, d)
	}
	if nested {
		return nil, pos, errors.New("unexpected end of file: missing }")
	}
	return out, pos, nil
}

// upstreamServer is one server directive of the upstream block.
type upstreamServer struct {
	addr   string
	weight int // 1 when not given
	down   bool
}

// upstreamBlock is what the driver reads from the file.
type upstreamBlock struct {
	servers []upstreamServer
	// onlyBlock: the file holds nothing but comments and this block, so
	// the driver may replace the whole file.
	onlyBlock bool
}

// parseUpstream finds `upstream NAME { ... }` in src.
func parseUpstream(src, name string) (*upstreamBlock, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	ds, _, err := parseDirectives(toks, 0, false)
	if err != nil {
		return nil, err
	}
	var found *directive
	for i := range ds {
		d := &ds[i]
		if d.isBlk && d.args[0] == "upstream" && len(d.args) == 2 && d.args[1] == name {
			if found != nil {
				return nil, fmt.Errorf("line %d: a second upstream %q block", d.line, name)
			}
			found = d
		}
	}
	if found == nil {
		return nil, fmt.Errorf("no upstream %q block", name)
	}
	ub := &upstreamBlock{onlyBlock: len(ds) == 1}
	for _, d := range found.block {
		if d.args[0] != "server" {
			continue // keepalive, zone, least_conn, ...: not weights
		}
		if d.isBlk || len(d.args) < 2 {
			return nil, fmt.Errorf("line %d: malformed server directive", d.line)
		}
		s := upstreamServer{addr: d.args[1], weight: 1}
		for _, p := range d.args[2:] {
			switch {
			case p == "down":
				s.down = true
			case strings.HasPrefix(p, "weight="):
				w, err := strconv.Atoi(strings.TrimPrefix(p, "weight="))
				if err != nil || w < 1 {
					return nil, fmt.Errorf("line %d: server %s: invalid %q", d.line, s.addr, p)
				}
				s.weight = w
			}
		}
		ub.servers = append(ub.servers, s)
	}
	return ub, nil
}

// renderUpstream writes the file the driver owns: a header comment and the
// upstream block, X's servers first. A server at weight 0 is written with
// the down flag (nginx weights are ≥ 1), which drains it: no new requests,
// in-flight ones finish in the old workers.
func renderUpstream(name string, keepalive int, w Weights, from, to []string, fw, tw int) string {
	var b strings.Builder
	b.WriteString("# Managed by Upshift (traffic driver \"nginx\"); rewritten on every weight change.\n")
	fmt.Fprintf(&b, "# Split: %s.\n", w)
	fmt.Fprintf(&b, "upstream %s {\n", name)
	line := func(addr string, weight int, side string) {
		if weight == 0 {
			fmt.Fprintf(&b, "    server %s down; # %s\n", addr, side)
			return
		}
		fmt.Fprintf(&b, "    server %s weight=%d; # %s\n", addr, weight, side)
	}
	for _, a := range from {
		line(a, fw, "from")
	}
	for _, a := range to {
		line(a, tw, "to")
	}
	if keepalive > 0 {
		fmt.Fprintf(&b, "    keepalive %d;\n", keepalive)
	}
	b.WriteString("}\n")
	return b.String()
}
