// Package form decodes form-encoded and multipart Admin API bodies the way
// Kong's Admin API does before any entity code sees them:
//
//   - the body's arguments as OpenResty reads them (ngx.req.get_post_args:
//     a repeated key gives the list of its values, a key without "=" is
//     true, more than 1000 arguments is "Too many arguments"), or for
//     multipart the parts as Lapis reads them (the last part of a name
//     wins; a file part gives its content);
//   - each argument name decoded into a nested table (K: kong/api/arguments.lua
//     decode_arg up to 3.7; kong/api/arguments_decoder.lua from 3.8, which
//     adds map keys in brackets, `headers[x-a]=1`): `config.minute=5`,
//     `paths[]=/x`, `protocols[1]=http`, `service.id=…`;
//   - the tables of all arguments merged (arguments.lua combine);
//   - values coerced by the entity's schema (arguments.lua infer/infer_value,
//     see Infer).
package form

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// MaxArgs is Kong's max_post_args (K: kong/api/arguments.lua defaults).
const MaxArgs = 1000

// ErrTooMany is answered 400 {"message":"Too many arguments"} by Kong.
var ErrTooMany = errors.New("Too many arguments")

// Options select the decoder of a Kong version.
type Options struct {
	// Brackets is Kong ≥3.8's decoder: `a[key]` is a map key (on POST, PUT
	// and PATCH), dots inside brackets do not split, %5B/%5D are brackets.
	Brackets bool
	Method   string
}

// IsForm reports whether a Content-Type is one Parse decodes.
func IsForm(contentType string) bool {
	ct := strings.ToLower(contentType)
	return strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.HasPrefix(ct, "multipart/form-data")
}

// Parse decodes a form-encoded or multipart body into nested JSON-like
// values (map[string]any, []any, string, bool), before schema coercion.
// A multipart body that cannot be read decodes as empty, as Kong logs the
// error and carries on with no arguments.
func Parse(contentType string, body []byte, opt Options) (map[string]any, error) {
	var names []string
	vals := map[string]any{}
	add := func(k string, v any) {
		prev, seen := vals[k]
		switch {
		case !seen:
			names = append(names, k)
			vals[k] = v
		case isTab(prev):
			t := prev.(*tab)
			t.set(t.len()+1, v)
		default:
			t := newTab()
			t.set(1, prev)
			t.set(2, v)
			vals[k] = t
		}
	}
	if strings.HasPrefix(strings.ToLower(contentType), "multipart/form-data") {
		_, params, err := mime.ParseMediaType(contentType)
		if err == nil && params["boundary"] != "" {
			mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				name := p.FormName()
				content, err := io.ReadAll(p)
				if err != nil {
					break
				}
				if name == "" {
					continue
				}
				if _, seen := vals[name]; !seen {
					names = append(names, name)
				}
				vals[name] = string(content) // Lapis keeps the last part of a name
			}
		}
	} else {
		n := 0
		for _, seg := range strings.Split(string(body), "&") {
			if seg == "" {
				continue
			}
			n++
			if n > MaxArgs {
				return nil, ErrTooMany
			}
			k, v, hasEq := strings.Cut(seg, "=")
			k = unescape(k)
			if k == "" {
				continue
			}
			if hasEq {
				add(k, unescape(v))
			} else {
				add(k, true)
			}
		}
	}
	to := newTab()
	for _, name := range names {
		combineArg(to, decodeArg(name, vals[name], opt))
	}
	out, _ := toJSON(to).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	return out, nil
}

// unescape is ngx_unescape_uri for arguments: '+' is a space, a bad %
// sequence stays as it is.
func unescape(s string) string {
	s = strings.ReplaceAll(s, "+", " ")
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if x, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(x))
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// tab is a Lua table: integer keys and string keys are distinct.
type tab struct {
	ints  map[int]any
	strs  map[string]any
	order []string
}

func newTab() *tab { return &tab{ints: map[int]any{}, strs: map[string]any{}} }

func isTab(v any) bool { _, ok := v.(*tab); return ok }

func (t *tab) get(k any) any {
	switch k := k.(type) {
	case int:
		return t.ints[k]
	case string:
		return t.strs[k]
	}
	return nil
}

func (t *tab) set(k any, v any) {
	switch k := k.(type) {
	case int:
		t.ints[k] = v
	case string:
		if _, ok := t.strs[k]; !ok {
			t.order = append(t.order, k)
		}
		t.strs[k] = v
	}
}

// len is Lua's # for the tables built here: the last n of the sequence 1..n.
func (t *tab) len() int {
	n := 0
	for t.ints[n+1] != nil {
		n++
	}
	return n
}

// insert is table.insert(t, pos, v): elements from pos up move one place.
func (t *tab) insert(pos int, v any) {
	n := t.len()
	for i := n; i >= pos; i-- {
		t.ints[i+1] = t.ints[i]
	}
	t.ints[pos] = v
}

// keys lists the table's keys: integers ascending, then strings in the
// order they were set (Lua's order is unspecified; this one is stable).
func (t *tab) keys() []any {
	var ks []int
	for k := range t.ints {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	out := make([]any, 0, len(ks)+len(t.order))
	for _, k := range ks {
		out = append(out, k)
	}
	for _, k := range t.order {
		out = append(out, k)
	}
	return out
}

// luaNumber is Lua's tonumber on a string: decimal or 0x hexadecimal,
// surrounding spaces allowed.
func luaNumber(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	neg := false
	body := s
	if body[0] == '-' || body[0] == '+' {
		neg, body = body[0] == '-', body[1:]
	}
	if len(body) > 2 && (body[:2] == "0x" || body[:2] == "0X") {
		if n, err := strconv.ParseUint(body[2:], 16, 64); err == nil {
			if neg {
				return -float64(n), true
			}
			return float64(n), true
		}
	}
	lower := strings.ToLower(body)
	if strings.Contains(lower, "inf") || strings.Contains(lower, "nan") || strings.Contains(body, "_") || strings.HasPrefix(lower, "0x") {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// seg is one step of an argument's path: a map key, or an array position
// (idx > 0) or an append ("[]", idx == 0).
type seg struct {
	key   string
	array bool
	idx   int
}

var (
	trailingIndex = regexp.MustCompile(`^(.+)\[(\d*)\]$`)
	bracketKeys   = regexp.MustCompile(`\.([^\[.]+)|\[([^\]]*)\]`)
	encBrackets   = regexp.MustCompile(`(?i)%5B(.*?)%5D`)
)

// pathOf decodes one dot-free part of an argument name into its path, or
// nil when the part is a plain key.
func pathOf(name string, opt Options) []seg {
	if !opt.Brackets {
		// arguments.lua decode_array_arg: trailing [n] or [] groups.
		var idx []seg
		search := name
		for {
			m := trailingIndex.FindStringSubmatch(search)
			if m == nil {
				break
			}
			search = m[1]
			s := seg{array: true}
			if n, err := strconv.Atoi(m[2]); err == nil {
				s.idx = n
			}
			idx = append([]seg{s}, idx...)
		}
		if len(idx) == 0 {
			return nil
		}
		return append([]seg{{key: search}}, idx...)
	}
	// arguments_decoder.lua get_param_name_and_keys: the name up to the
	// first '[' or '.' after its first character, then the keys.
	cut := strings.IndexAny(name[min(1, len(name)):], "[.")
	if cut < 0 {
		return nil
	}
	cut++
	path := []seg{toSeg(name[:cut])}
	isMap := false
	for _, m := range bracketKeys.FindAllStringSubmatchIndex(name[cut:], -1) {
		var k string
		if m[2] >= 0 {
			k = name[cut+m[2] : cut+m[3]]
		} else {
			k = name[cut+m[4] : cut+m[5]]
			if _, num := luaNumber(k); k != "" && !num {
				isMap = true
			}
		}
		path = append(path, toSeg(k))
	}
	if len(path) == 1 {
		return nil
	}
	if isMap && opt.Method != "POST" && opt.Method != "PUT" && opt.Method != "PATCH" {
		return nil
	}
	return path
}

// toSeg is nest_path's test: "" or a number is an array position.
func toSeg(k string) seg {
	if k == "" {
		return seg{array: true}
	}
	if f, ok := luaNumber(k); ok && f == float64(int(f)) && f >= 1 {
		return seg{array: true, idx: int(f)}
	}
	return seg{key: k}
}

// splitName splits an argument name on its dots: up to 3.7 every dot
// (empty parts dropped), from 3.8 not the dots inside brackets.
func splitName(name string, opt Options) []string {
	if !opt.Brackets {
		var out []string
		for _, p := range strings.Split(name, ".") {
			if p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	var out []string
	var cur strings.Builder
	for i := 0; i < len(name); {
		if name[i] == '.' {
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
			i++
			continue
		}
		cur.WriteByte(name[i])
		i++
		// A character takes the bracket groups that follow it whole.
		for i < len(name) && name[i] == '[' {
			end := strings.IndexByte(name[i:], ']')
			if end < 0 {
				break
			}
			cur.WriteString(name[i : i+end+1])
			i += end + 1
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// decodeArg turns one argument into a nested table.
func decodeArg(name string, value any, opt Options) *tab {
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		// Kong's decode_arg answers the Lua table { name = value } here.
		t := newTab()
		t.set("name", value)
		return t
	}
	if opt.Brackets {
		name = encBrackets.ReplaceAllString(name, "[$1]")
	}
	container := newTab()
	parts := splitName(name, opt)
	if len(parts) == 0 {
		decodeComplex(name, value, container, opt)
		return container
	}
	bucket := container
	for i, p := range parts {
		if i == len(parts)-1 {
			decodeComplex(p, value, bucket, opt)
			break
		}
		next, ok := decodeComplex(p, newTab(), bucket, opt).(*tab)
		if !ok {
			next = newTab() // Kong goes on with a table nobody holds
		}
		bucket = next
	}
	return container
}

func decodeComplex(name string, value any, container *tab, opt Options) any {
	path := pathOf(name, opt)
	if path == nil {
		container.set(name, value)
		return value
	}
	return nest(container, path, value)
}

// nest stores value at path in container (arguments_decoder.lua nest_path;
// arguments.lua decode_array_arg does the same for its shapes).
func nest(container *tab, path []seg, value any) any {
	for i, s := range path {
		last := i == len(path)-1
		if s.array {
			if last {
				if s.idx > 0 {
					container.insert(s.idx, value)
					return container.get(s.idx)
				}
				if vt, ok := value.(*tab); ok {
					for j := 1; vt.ints[j] != nil; j++ {
						container.insert(j, vt.ints[j])
					}
					return container
				}
				container.set(container.len()+1, value)
				return container
			}
			pos := max(s.idx, 1)
			if container.get(pos) == nil {
				t := newTab()
				container.set(pos, t)
				container = t
			}
			continue
		}
		if last {
			container.set(s.key, value)
			return value
		}
		if container.get(s.key) == nil {
			t := newTab()
			container.set(s.key, t)
			container = t
		}
	}
	return container
}

// combineArg merges one decoded argument into the arguments so far; two
// scalars under one key become a list (arguments.lua combine_arg).
func combineArg(to *tab, arg any) {
	at, ok := arg.(*tab)
	if !ok {
		to.set(to.len()+1, arg)
		return
	}
	for _, k := range at.keys() {
		v := at.get(k)
		t := to.get(k)
		switch {
		case t == nil:
			to.set(k, v)
		case isTab(t):
			combineArg(t.(*tab), v)
		default:
			nt := newTab()
			nt.set(1, t)
			to.set(k, nt)
			combineArg(nt, v)
		}
	}
}

// toJSON turns Lua tables into JSON values: a table with keys 1..n only is
// an array, any other (the empty table included) an object whose integer
// keys are written in decimal.
func toJSON(v any) any {
	t, ok := v.(*tab)
	if !ok {
		return v
	}
	if n := t.len(); n > 0 && n == len(t.ints) && len(t.strs) == 0 {
		out := make([]any, n)
		for i := range out {
			out[i] = toJSON(t.ints[i+1])
		}
		return out
	}
	out := map[string]any{}
	for k, e := range t.ints {
		out[strconv.Itoa(k)] = toJSON(e)
	}
	for k, e := range t.strs {
		out[k] = toJSON(e)
	}
	return out
}
