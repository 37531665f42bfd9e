package traffic

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// This file reads and edits the upstream file of the nginx driver. The
// reader is a small tokenizer for nginx's configuration syntax (words,
// quoted strings, '{', '}', ';', '#' comments to the end of the line), not
// a full nginx parser: it finds one upstream block by name, reads its
// server directives' addresses and their weight=, down and backup
// parameters, and refuses what would make the weights something other
// than a split of requests (docs/traffic.md). The editor changes only the
// weight= and down parameters of X's and Y's servers, in place: every
// other byte of the file (directives, parameters, comments, layout) stays.

type token struct {
	text       string
	line       int
	punc       bool // one of { } ;
	start, end int  // byte offsets in the source, quotes included
}

// syntaxError is a parse error at a line of the file; parseUpstream
// prefixes the file name.
type syntaxError struct {
	line int
	msg  string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

func errAt(line int, format string, a ...any) error {
	return &syntaxError{line, fmt.Sprintf(format, a...)}
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
			toks = append(toks, token{string(c), line, true, i, i + 1})
			i++
		case c == '"' || c == '\'':
			start, at := line, i
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
				return nil, errAt(start, "unterminated quoted string")
			}
			i++
			toks = append(toks, token{b.String(), start, false, at, i})
		default:
			j := i
			for j < len(src) && !strings.ContainsRune(" \t\r\n{};#\"'", rune(src[j])) {
				j++
			}
			toks = append(toks, token{src[i:j], line, false, i, j})
			i = j
		}
	}
	return toks, nil
}

// directive is one statement: its words and, for a block, its body.
type directive struct {
	args  []string // args[0] is the name
	toks  []token  // the tokens of args
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
				return nil, pos, errAt(t.line, "unexpected }")
			}
			return out, pos + 1, nil
		}
		d := directive{line: t.line}
		for pos < len(toks) && !toks[pos].punc {
			d.args = append(d.args, toks[pos].text)
			d.toks = append(d.toks, toks[pos])
			pos++
		}
		if pos >= len(toks) {
			return nil, pos, errAt(d.line, "directive %q does not end with ; or {", strings.Join(d.args, " "))
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
			return nil, pos, errAt(d.line, "directive %q does not end with ;", strings.Join(d.args, " "))
		}
		if len(d.args) == 0 {
			return nil, pos, errAt(d.line, "empty directive")
		}
		out = append(out, d)
	}
	if nested {
		return nil, pos, errAt(lastLine(toks), "unexpected end of file: missing }")
	}
	return out, pos, nil
}

func lastLine(toks []token) int {
	if len(toks) == 0 {
		return 1
	}
	return toks[len(toks)-1].line
}

// upstreamServer is one server directive of the upstream block.
type upstreamServer struct {
	addr   string
	line   int
	weight int // 1 when not given
	down   bool
	backup bool
	// side is "from" or "to" for X's and Y's servers (set by the driver),
	// "" for another server.
	side string
	// addrEnd is the offset after the address; owned are the weight= and
	// down parameters, the only ones the driver rewrites.
	addrEnd int
	owned   []token
}

// upstreamBlock is what the driver reads from the file.
type upstreamBlock struct {
	servers []*upstreamServer
}

// refusedBalancers are balancing methods under which the weights are not
// a split of requests: the choice follows a key (the client's address, a
// hash of the request, a session cookie), so all the requests of one key
// go to one side and a shift moves keys, not a share of requests.
var refusedBalancers = map[string]string{
	"ip_hash": "requests are balanced by client address",
	"hash":    "requests are balanced by a hash of the key it names",
	"sticky":  "a session keeps going to the server that first answered it",
}

// parseUpstream finds `upstream NAME { ... }` in src (at the top level or
// in a block such as http or stream) and reads its servers. Errors name
// file:line and the directive.
func parseUpstream(file, src, name string) (*upstreamBlock, error) {
	ub, err := parseUpstreamLines(src, name)
	if se, ok := err.(*syntaxError); ok {
		return nil, fmt.Errorf("%s:%d: %s", file, se.line, se.msg)
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return ub, nil
}

func parseUpstreamLines(src, name string) (*upstreamBlock, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	ds, _, err := parseDirectives(toks, 0, false)
	if err != nil {
		return nil, err
	}
	var found *directive
	var find func(ds []directive) error
	find = func(ds []directive) error {
		for i := range ds {
			d := &ds[i]
			if d.isBlk && d.args[0] == "upstream" && len(d.args) == 2 && d.args[1] == name {
				if found != nil {
					return errAt(d.line, "a second upstream %q block (the first is at line %d)", name, found.line)
				}
				found = d
				continue
			}
			if err := find(d.block); err != nil {
				return err
			}
		}
		return nil
	}
	if err := find(ds); err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("no upstream %q block", name)
	}
	ub := &upstreamBlock{}
	for _, d := range found.block {
		if why, ok := refusedBalancers[d.args[0]]; ok {
			return nil, errAt(d.line, "upstream %q: %s: %s, so the weights do not split requests (one client's requests all go to one side): Upshift does not shift traffic through it; remove %s from this upstream, or use traffic \"command\"",
				name, d.args[0], why, d.args[0])
		}
		switch d.args[0] {
		case "include":
			return nil, errAt(d.line, "upstream %q: include: the servers it may add are not in this file, so Upshift can neither read nor set their weights; list the servers in the upstream block itself", name)
		case "server":
		default:
			continue // zone, least_conn, random, keepalive, ...: kept as written
		}
		if d.isBlk || len(d.args) < 2 {
			return nil, errAt(d.line, "malformed server directive")
		}
		s := &upstreamServer{addr: d.args[1], line: d.line, weight: 1, addrEnd: d.toks[1].end}
		weights := 0
		for i, p := range d.args[2:] {
			switch {
			case p == "down":
				s.down = true
				s.owned = append(s.owned, d.toks[2+i])
			case p == "backup":
				s.backup = true
			case strings.HasPrefix(p, "weight="):
				w, err := strconv.Atoi(strings.TrimPrefix(p, "weight="))
				if err != nil || w < 1 {
					return nil, errAt(d.line, "server %s: invalid %q", s.addr, p)
				}
				if weights++; weights > 1 {
					return nil, errAt(d.line, "server %s: weight= given twice", s.addr)
				}
				s.weight = w
				s.owned = append(s.owned, d.toks[2+i])
			}
		}
		ub.servers = append(ub.servers, s)
	}
	return ub, nil
}

// classify marks each server of ub as X's ("from") or Y's ("to") and
// checks the block against the contract: every address of both sides
// exactly once, no backup among them (a backup server takes requests only
// when every primary server is unavailable: its weight is no share), and
// any other server a backup or down one (it takes no share either).
func classify(file, name string, ub *upstreamBlock, from, to []string) error {
	side := map[string]string{}
	for _, a := range from {
		side[a] = "from"
	}
	for _, a := range to {
		side[a] = "to"
	}
	seen := map[string]int{}
	for _, s := range ub.servers {
		sd, ok := side[s.addr]
		switch {
		case !ok && (s.backup || s.down):
			continue // takes no share of the split: kept as written
		case !ok:
			return fmt.Errorf("%s:%d: server %s in upstream %q is neither a from nor a to address, and takes a share of requests (it is neither backup nor down): not a split this driver manages",
				file, s.line, s.addr, name)
		case s.backup:
			return fmt.Errorf("%s:%d: server %s backup: a backup server takes requests only when every other server is unavailable, so its weight is not a share of traffic; remove backup from X's and Y's servers (a backup server that is neither X's nor Y's is kept)",
				file, s.line, s.addr)
		case seen[s.addr] != 0:
			return fmt.Errorf("%s:%d: server %s is listed twice in upstream %q (first at line %d)", file, s.line, s.addr, name, seen[s.addr])
		}
		seen[s.addr] = s.line
		s.side = sd
	}
	for _, list := range [][]string{from, to} {
		for _, a := range list {
			if seen[a] == 0 {
				return fmt.Errorf("%s: %s address %s is missing from upstream %q", file, side[a], a, name)
			}
		}
	}
	return nil
}

// splitPrefix starts the one comment line the driver owns in the file: a
// note for people reading it, never read back (Weights reads the servers).
const splitPrefix = "# Split: "

func splitComment(w Weights) string {
	return splitPrefix + w.String() + " (set by Upshift; what nginx routes once reloaded)."
}

// editUpstream returns src with the weight= and down parameters of X's
// and Y's servers set for per-server weights fw and tw (0 as down, which
// nginx needs: its weights are ≥ 1), and the driver's split comment line
// (see splitPrefix) updated, or added as the first line; nothing else
// changes. A server's first owned parameter is replaced in place, a
// second one removed with the blanks before it, and a server with none
// gets the parameter right after its address.
func editUpstream(src string, ub *upstreamBlock, w Weights, fw, tw int) string {
	type edit struct {
		start, end int
		text       string
	}
	var edits []edit
	for _, s := range ub.servers {
		var sw int
		switch s.side {
		case "from":
			sw = fw
		case "to":
			sw = tw
		default:
			continue
		}
		p := "down"
		if sw > 0 {
			p = "weight=" + strconv.Itoa(sw)
		}
		if len(s.owned) == 0 {
			edits = append(edits, edit{s.addrEnd, s.addrEnd, " " + p})
			continue
		}
		edits = append(edits, edit{s.owned[0].start, s.owned[0].end, p})
		for _, t := range s.owned[1:] {
			start := t.start
			for start > 0 && (src[start-1] == ' ' || src[start-1] == '\t') {
				start--
			}
			edits = append(edits, edit{start, t.end, ""})
		}
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].start > edits[j].start })
	for _, e := range edits {
		src = src[:e.start] + e.text + src[e.end:]
	}
	return setSplitComment(src, w)
}

// setSplitComment replaces the line that starts with splitPrefix, or adds
// one at the top (with the file's line ending).
func setSplitComment(src string, w Weights) string {
	for i := 0; i < len(src); {
		end := len(src)
		if j := strings.IndexByte(src[i:], '\n'); j >= 0 {
			end = i + j
		}
		if ln := src[i:end]; strings.HasPrefix(ln, splitPrefix) {
			cr := ""
			if strings.HasSuffix(ln, "\r") {
				cr = "\r"
			}
			return src[:i] + splitComment(w) + cr + src[end:]
		}
		i = end + 1
	}
	nl := "\n"
	if strings.Contains(src, "\r\n") {
		nl = "\r\n"
	}
	return splitComment(w) + nl + src
}

// renderUpstream writes a new upstream file, when there is none: the split
// comment, a header and the upstream block, X's servers first. A server at
// weight 0 is written with the down flag, which drains it: no new
// requests, in-flight ones finish in the old workers.
func renderUpstream(name string, keepalive int, w Weights, from, to []string, fw, tw int) string {
	var b strings.Builder
	b.WriteString(splitComment(w) + "\n")
	b.WriteString("# Written by Upshift (traffic driver \"nginx\"), which from now on changes only the\n")
	b.WriteString("# line above and the weight= and down parameters of the servers below; edits\n")
	b.WriteString("# elsewhere are kept (docs/traffic.md).\n")
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
