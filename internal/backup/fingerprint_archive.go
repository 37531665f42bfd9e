package backup

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
)

// The fingerprint read from the archive: Backup feeds pg_dump's output,
// as it is written, through readArchive and turns the COPY rows of the
// entity tables into the fingerprint's lines here, with the same
// definition as rowBody's SQL (each column as to_jsonb shows it, foreign
// keys as {"id": ...}, the timestamps, ws_id and cache_key left out, null
// members stripped, a top-level [] or {} left out, printed as jsonb is),
// so the fingerprint recorded describes exactly the bytes archived and
// the database is read once. A table with a column type not rendered here
// is not read from the archive: its kind is read from the snapshot with
// SQL, as FingerprintDB does. TestArchiveFingerprintEqualsLive holds the
// two equal.

// archiveFingerprint collects the lines of the entity tables of one
// schema from an archive.
type archiveFingerprint struct {
	ek     entityKinds
	schema string
	tables map[string]entityTable // readable from the archive, by name
	kinds  map[string]*kindLines  // being read, by kind
	done   map[string]bool        // tables whose data block was read to its end
	texts  map[string]readKind    // kinds read, not hashed yet (a kind before them is not read yet)
	got    map[string]bool        // kinds whose every table was read
	fh     *fingerprintHash       // the kinds read, in order, up to the first one not read
}

// kindLines holds one kind's lines as they are read, each line's id and
// body side by side in blocks of a megabyte (a few allocations per
// megabyte, not two strings per row, and no copy of everything read so
// far as one buffer grows: at 100,000 rows either cost more than the
// rest of the reader).
type kindLines struct {
	block []byte
	lines []archiveLine
}

// archiveLine is a line's id, then its body, in one of kindLines' blocks.
type archiveLine struct {
	b     []byte
	idLen int
}

// add copies the line (its id is line[:idLen]) into the current block, or
// a new one when it does not fit.
func (kl *kindLines) add(line []byte, idLen int) {
	if len(kl.block)+len(line) > cap(kl.block) {
		kl.block = make([]byte, 0, max(1<<20, len(line)))
	}
	start := len(kl.block)
	kl.block = append(kl.block, line...)
	kl.lines = append(kl.lines, archiveLine{b: kl.block[start:len(kl.block):len(kl.block)], idLen: idLen})
}

// archiveColumnTypes are the column types rendered from COPY text.
var archiveColumnTypes = map[string]bool{
	"uuid": true, "text": true, "character varying": true, "integer": true, "bigint": true, "smallint": true,
	"boolean": true, "jsonb": true, "text[]": true, "uuid[]": true, "character varying[]": true, "jsonb[]": true,
}

func newArchiveFingerprint(ek entityKinds, schema string) *archiveFingerprint {
	af := &archiveFingerprint{ek: ek, schema: schema, tables: map[string]entityTable{}, kinds: map[string]*kindLines{}, done: map[string]bool{}, texts: map[string]readKind{}, got: map[string]bool{}, fh: newFingerprintHash()}
	for _, ts := range ek.byKind {
		for _, t := range ts {
			if af.readable(t) {
				af.tables[t.name] = t
			}
		}
	}
	return af
}

// readable: every column that the body keeps has a type rendered here,
// and the table has an id column.
func (af *archiveFingerprint) readable(t entityTable) bool {
	if !slices.Contains(t.cols, "id") {
		return false
	}
	drop := droppedColumns(t.name, t.cols)
	for i, c := range t.cols {
		if !drop[c] && !archiveColumnTypes[t.types[i]] {
			return false
		}
	}
	return true
}

// droppedColumns are the columns the body leaves out or turns into a
// foreign key: the same list as rowBody's.
func droppedColumns(table string, cols []string) map[string]bool {
	drop := map[string]bool{"ws_id": true, "cache_key": true, "created_at": true, "updated_at": true}
	if table == "keyauth_credentials" {
		drop["ttl"] = true
	}
	for _, f := range entityTables[table] {
		if slices.Contains(cols, f+"_id") {
			drop[f+"_id"] = true
		}
	}
	return drop
}

// read consumes an archive stream (to its end, whatever happens).
func (af *archiveFingerprint) read(r io.Reader) error {
	return readArchive(r, func(te archiveTable) bool {
		t, ok := af.tables[te.Name]
		return ok && te.Schema == af.schema && slices.Equal(te.Columns, t.cols)
	}, af.table)
}

// readInBackground reads s to its end on a reader thread, returns its
// result on the channel, then stops s (what is still written is dropped).
func (af *archiveFingerprint) readInBackground(s *spool) <-chan error {
	parsed := make(chan error, 1)
	readers.run(func() {
		parsed <- af.read(s)
		s.stop()
	})
	return parsed
}

// table turns one table's COPY text into lines. Errors name the table and
// column, never a value (the data holds credentials).
func (af *archiveFingerprint) table(te archiveTable, r io.Reader) error {
	t := af.tables[te.Name]
	kind := kindOf(t.name)
	plan := bodyPlan(t)
	idCol := slices.Index(t.cols, "id")
	br := bufio.NewReaderSize(r, 64<<10)
	kl := af.kinds[kind]
	if kl == nil {
		kl = &kindLines{}
		af.kinds[kind] = kl
	}
	var fields [][]byte
	var long, body, scratch []byte
	for {
		row, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long[:0], row...)
			for err == bufio.ErrBufferFull {
				row, err = br.ReadSlice('\n')
				long = append(long, row...)
			}
			row = long
		}
		if err == io.EOF && len(row) == 0 {
			break
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("archive data of %s: %w", t.name, err)
		}
		row = bytes.TrimSuffix(row, []byte{'\n'})
		if string(row) == `\.` {
			break // pg_dump ends the COPY data with \. and blank lines
		}
		fields = splitCopyRow(fields[:0], row)
		if len(fields) != len(t.cols) {
			return fmt.Errorf("archive data of %s: a row has %d fields, want %d", t.name, len(fields), len(t.cols))
		}
		if isCopyNull(fields[idCol]) {
			return fmt.Errorf("archive data of %s: a row without id", t.name)
		}
		body = copyUnescape(body[:0], fields[idCol])
		idLen := len(body)
		body = append(body, '{')
		n := 0
		for _, m := range plan {
			f := fields[m.col]
			if isCopyNull(f) {
				continue
			}
			mark := len(body)
			if n > 0 {
				body = append(body, ", "...)
			}
			body = append(body, m.prefix...)
			scratch = copyUnescape(scratch[:0], f)
			var keep bool
			if m.fk {
				body, keep = appendJSONBString(append(body, `{"id": `...), scratch), true
				body = append(body, '}')
			} else if body, keep, err = appendValueJSON(body, m.typ, scratch); err != nil {
				return fmt.Errorf("archive data of %s.%s: %w", t.name, t.cols[m.col], err)
			}
			if !keep {
				body = body[:mark]
				continue
			}
			n++
		}
		body = append(body, '}')
		kl.add(body, idLen)
		if err == io.EOF {
			break
		}
	}
	af.done[t.name] = true
	for _, o := range af.ek.byKind[kind] {
		if !af.done[o.name] {
			return nil
		}
	}
	af.texts[kind] = kl.sorted()
	af.got[kind] = true
	delete(af.kinds, kind)
	for af.fh.next < len(af.ek.kinds) {
		k := af.ek.kinds[af.fh.next]
		r, ok := af.texts[k]
		if !ok {
			break
		}
		af.fh.kind(k, r)
		delete(af.texts, k)
	}
	return nil
}

// sorted sorts the lines by id (bytewise: a UUID's order is its hex
// text's, as FingerprintDB's queries return them). It runs as soon as a
// kind's last table is read, while pg_dump goes on with the next ones;
// the kind is hashed then too unless a kind before it is not read yet.
func (kl *kindLines) sorted() readKind {
	slices.SortFunc(kl.lines, func(a, b archiveLine) int { return bytes.Compare(a.b[:a.idLen], b.b[:b.idLen]) })
	return readKind{lines: kl.lines}
}

// planMember is one member of a table's body: the column it comes from,
// as a value of its type or as a foreign key {"id": ...}.
type planMember struct {
	prefix []byte // "key":
	col    int
	typ    string
	fk     bool
}

// bodyPlan lists a table's body members in jsonb's key order (shorter
// keys first, then bytewise), once per table.
func bodyPlan(t entityTable) []planMember {
	drop := droppedColumns(t.name, t.cols)
	type keyed struct {
		key string
		m   planMember
	}
	var ks []keyed
	for i, c := range t.cols {
		if !drop[c] {
			ks = append(ks, keyed{c, planMember{col: i, typ: t.types[i]}})
		}
	}
	for _, f := range entityTables[t.name] {
		if i := slices.Index(t.cols, f+"_id"); i >= 0 {
			ks = append(ks, keyed{f, planMember{col: i, fk: true}})
		}
	}
	sort.SliceStable(ks, func(i, j int) bool {
		if len(ks[i].key) != len(ks[j].key) {
			return len(ks[i].key) < len(ks[j].key)
		}
		return ks[i].key < ks[j].key
	})
	plan := make([]planMember, len(ks))
	for i, k := range ks {
		k.m.prefix = append(appendJSONBString(nil, []byte(k.key)), ": "...)
		plan[i] = k.m
	}
	return plan
}

// complete returns the kinds whose every table was read from the
// archive.
func (af *archiveFingerprint) complete() map[string]bool { return af.got }

// fingerprint is the fingerprint of the kinds read from the archive, and
// of the others read with SQL on q (the snapshot the archive was taken
// from).
func (af *archiveFingerprint) fingerprint(ctx context.Context, q Querier) (Fingerprint, error) {
	return af.ek.fingerprint(ctx, q, af.fh, af.texts)
}

func splitCopyRow(dst [][]byte, row []byte) [][]byte {
	for {
		i := bytes.IndexByte(row, '\t')
		if i < 0 {
			return append(dst, row)
		}
		dst = append(dst, row[:i])
		row = row[i+1:]
	}
}

func isCopyNull(f []byte) bool { return len(f) == 2 && f[0] == '\\' && f[1] == 'N' }

// copyUnescape undoes COPY's text-format escapes (\b \f \n \r \t \v \\,
// \ooo octal, \xhh hex; any other \c is c).
func copyUnescape(out, f []byte) []byte {
	if bytes.IndexByte(f, '\\') < 0 {
		return append(out, f...)
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '\\' || i+1 == len(f) {
			out = append(out, c)
			continue
		}
		i++
		switch c = f[i]; c {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'v':
			out = append(out, '\v')
		case 'x':
			v, n := 0, 0
			for n < 2 && i+1 < len(f) && isHex(f[i+1]) {
				i++
				v = v*16 + hexVal(f[i])
				n++
			}
			if n == 0 {
				out = append(out, 'x')
			} else {
				out = append(out, byte(v))
			}
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(c - '0')
			for n := 1; n < 3 && i+1 < len(f) && f[i+1] >= '0' && f[i+1] <= '7'; n++ {
				i++
				v = v*8 + int(f[i]-'0')
			}
			out = append(out, byte(v))
		default:
			out = append(out, c)
		}
	}
	return out
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func hexVal(c byte) int {
	switch {
	case c >= 'a':
		return int(c-'a') + 10
	case c >= 'A':
		return int(c-'A') + 10
	}
	return int(c - '0')
}

var errArchiveValue = errors.New("a value the archive reader does not render")

// appendJSONBString appends s as a JSON string escaped as PostgreSQL's
// escape_json does (writeJSONBString), bytewise: UTF-8's multibyte
// sequences never hold a byte below 0x80.
func appendJSONBString(dst, s []byte) []byte {
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"':
			dst = append(dst, '\\', '"')
		case c == '\\':
			dst = append(dst, '\\', '\\')
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// appendValueJSON appends a column's value, from its COPY text, as it
// appears in the body; false when the body leaves it out (an empty array,
// a jsonb null, {} or [] once its nulls are stripped), dst then unchanged
// up to its length on entry.
func appendValueJSON(dst []byte, typ string, v []byte) ([]byte, bool, error) {
	switch typ {
	case "uuid", "text", "character varying":
		return appendJSONBString(dst, v), true, nil
	case "integer", "bigint", "smallint":
		if len(v) == 0 || bytes.ContainsFunc(v, func(r rune) bool { return r != '-' && (r < '0' || r > '9') }) {
			return dst, false, errArchiveValue
		}
		return append(dst, v...), true, nil
	case "boolean":
		switch string(v) {
		case "t":
			return append(dst, "true"...), true, nil
		case "f":
			return append(dst, "false"...), true, nil
		}
		return dst, false, errArchiveValue
	case "jsonb":
		if isEmptyJSON(v) {
			return dst, false, nil
		}
		if !bytes.Contains(v, []byte("null")) {
			return append(dst, v...), true, nil // jsonb's own printing, no null to strip
		}
		mark := len(dst)
		out, rest, err := stripJSONBNulls(dst, v)
		if err != nil || len(rest) != 0 {
			return dst[:mark], false, errArchiveValue
		}
		if isEmptyJSON(out[mark:]) {
			return out[:mark], false, nil
		}
		return out, true, nil
	case "text[]", "uuid[]", "character varying[]":
		return appendArrayJSON(dst, v, false)
	case "jsonb[]":
		return appendArrayJSON(dst, v, true)
	}
	return dst, false, errArchiveValue
}

// isEmptyJSON: the jsonb text v is {}, [] or null, which the body leaves
// out (a switch on string(v) does not allocate).
func isEmptyJSON(v []byte) bool {
	switch string(v) {
	case "{}", "[]", "null":
		return true
	}
	return false
}

// stripJSONBNulls appends the jsonb text v (as jsonb prints it) with the
// object members whose value is null removed at every depth, as
// jsonb_strip_nulls does (nulls in arrays stay), and returns the rest of
// v after the value. It reads only jsonb's own printing.
func stripJSONBNulls(dst, v []byte) ([]byte, []byte, error) {
	if len(v) == 0 {
		return dst, v, errArchiveValue
	}
	switch v[0] {
	case '{', '[':
		obj := v[0] == '{'
		end := byte(']')
		if obj {
			end = '}'
		}
		dst = append(dst, v[0])
		v = v[1:]
		if len(v) > 0 && v[0] == end {
			return append(dst, end), v[1:], nil
		}
		n := 0
		for {
			mark := len(dst)
			if n > 0 {
				dst = append(dst, ", "...)
			}
			if obj {
				k, rest, err := jsonString(v)
				if err != nil || !bytes.HasPrefix(rest, []byte(": ")) {
					return dst, v, errArchiveValue
				}
				dst = append(append(dst, k...), ": "...)
				v = rest[2:]
			}
			var err error
			vstart := len(dst)
			if dst, v, err = stripJSONBNulls(dst, v); err != nil {
				return dst, v, err
			}
			if obj && string(dst[vstart:]) == "null" {
				dst = dst[:mark]
			} else {
				n++
			}
			switch {
			case len(v) > 0 && v[0] == end:
				return append(dst, end), v[1:], nil
			case bytes.HasPrefix(v, []byte(", ")):
				v = v[2:]
			default:
				return dst, v, errArchiveValue
			}
		}
	case '"':
		s, rest, err := jsonString(v)
		return append(dst, s...), rest, err
	}
	i := bytes.IndexAny(v, ",}]")
	if i < 0 {
		i = len(v)
	}
	return append(dst, v[:i]...), v[i:], nil // a number, true, false or null
}

// jsonString returns the JSON string at the start of v and the rest.
func jsonString(v []byte) ([]byte, []byte, error) {
	if len(v) == 0 || v[0] != '"' {
		return nil, v, errArchiveValue
	}
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return v[:i+1], v[i+1:], nil
		}
	}
	return nil, v, errArchiveValue
}

// appendArrayJSON renders a one-dimensional array literal as array_out
// prints it ({a,"b c",NULL}) as to_jsonb does (["a", "b c", null]); {} is
// left out. Elements are strings, or jsonb values (with null members
// stripped, as the body's jsonb_strip_nulls does at every depth).
func appendArrayJSON(dst, v []byte, jsonb bool) ([]byte, bool, error) {
	if len(v) < 2 || v[0] != '{' || v[len(v)-1] != '}' {
		return dst, false, errArchiveValue // bounds decoration or not an array
	}
	body := v[1 : len(v)-1]
	if len(body) == 0 {
		return dst, false, nil
	}
	mark := len(dst)
	dst = append(dst, '[')
	var elem []byte
	for n := 0; ; n++ {
		if n > 0 {
			dst = append(dst, ", "...)
		}
		quoted := len(body) > 0 && body[0] == '"'
		if quoted {
			elem = elem[:0]
			i := 1
			for ; i < len(body) && body[i] != '"'; i++ {
				if body[i] == '\\' {
					i++
				}
				if i < len(body) {
					elem = append(elem, body[i])
				}
			}
			if i >= len(body) {
				return dst[:mark], false, errArchiveValue
			}
			body = body[i+1:]
		} else {
			i := bytes.IndexByte(body, ',')
			if i < 0 {
				i = len(body)
			}
			elem, body = body[:i], body[i:]
			if bytes.ContainsAny(elem, "{}\"\\") {
				return dst[:mark], false, errArchiveValue // a nested array
			}
		}
		switch {
		case !quoted && string(elem) == "NULL":
			dst = append(dst, "null"...)
		case jsonb:
			var rest []byte
			var err error
			if dst, rest, err = stripJSONBNulls(dst, elem); err != nil || len(rest) != 0 {
				return dst[:mark], false, errArchiveValue
			}
		default:
			dst = appendJSONBString(dst, elem)
		}
		if len(body) == 0 {
			break
		}
		if body[0] != ',' {
			return dst[:mark], false, errArchiveValue
		}
		body = body[1:]
	}
	return append(dst, ']'), true, nil
}
