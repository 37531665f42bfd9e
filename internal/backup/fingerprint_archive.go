package backup

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
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
	schema string
	tables map[string]entityTable // readable from the archive, by name
	lines  map[string][]line      // by kind
	done   map[string]bool        // tables whose data block was read to its end
}

// archiveColumnTypes are the column types rendered from COPY text.
var archiveColumnTypes = map[string]bool{
	"uuid": true, "text": true, "character varying": true, "integer": true, "bigint": true, "smallint": true,
	"boolean": true, "jsonb": true, "text[]": true, "uuid[]": true, "character varying[]": true, "jsonb[]": true,
}

func newArchiveFingerprint(ek entityKinds, schema string) *archiveFingerprint {
	af := &archiveFingerprint{schema: schema, tables: map[string]entityTable{}, lines: map[string][]line{}, done: map[string]bool{}}
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

// table turns one table's COPY text into lines. Errors name the table and
// column, never a value (the data holds credentials).
func (af *archiveFingerprint) table(te archiveTable, r io.Reader) error {
	t := af.tables[te.Name]
	kind := kindOf(t.name)
	drop := droppedColumns(t.name, t.cols)
	idCol := slices.Index(t.cols, "id")
	var fks []int // column index of each foreign key, with its field name in fkNames
	var fkNames []string
	for _, f := range entityTables[t.name] {
		if i := slices.Index(t.cols, f+"_id"); i >= 0 {
			fks, fkNames = append(fks, i), append(fkNames, f)
		}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var fields [][]byte
	var members []member
	var long []byte
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
		members = members[:0]
		for i, f := range fields {
			if drop[t.cols[i]] || isCopyNull(f) {
				continue
			}
			v, ok, err := copyValueJSON(t.types[i], copyUnescape(f))
			if err != nil {
				return fmt.Errorf("archive data of %s.%s: %w", t.name, t.cols[i], err)
			}
			if ok {
				members = append(members, member{t.cols[i], v})
			}
		}
		for j, i := range fks {
			if f := fields[i]; !isCopyNull(f) {
				var b strings.Builder
				b.WriteString(`{"id": `)
				writeJSONBString(&b, string(copyUnescape(f)))
				b.WriteByte('}')
				members = append(members, member{fkNames[j], b.String()})
			}
		}
		if isCopyNull(fields[idCol]) {
			return fmt.Errorf("archive data of %s: a row without id", t.name)
		}
		af.lines[kind] = append(af.lines[kind], line{kind: kind, id: string(copyUnescape(fields[idCol])), body: jsonbObject(members)})
		if err == io.EOF {
			break
		}
	}
	af.done[t.name] = true
	return nil
}

// complete returns the lines of the kinds whose every table was read from
// the archive, sorted by id (bytewise: a UUID's order is its hex text's),
// as FingerprintDB's queries return them.
func (af *archiveFingerprint) complete(ek entityKinds) map[string][]line {
	out := map[string][]line{}
	for _, k := range ek.kinds {
		all := true
		for _, t := range ek.byKind[k] {
			all = all && af.done[t.name]
		}
		if !all {
			continue
		}
		lines := af.lines[k]
		sort.Slice(lines, func(i, j int) bool { return lines[i].id < lines[j].id })
		out[k] = lines
	}
	return out
}

type member struct{ key, value string }

// jsonbObject prints members as jsonb prints an object: keys shorter
// first, then bytewise; ", " and ": " separators.
func jsonbObject(ms []member) string {
	sort.Slice(ms, func(i, j int) bool {
		if len(ms[i].key) != len(ms[j].key) {
			return len(ms[i].key) < len(ms[j].key)
		}
		return ms[i].key < ms[j].key
	})
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteString(", ")
		}
		writeJSONBString(&b, m.key)
		b.WriteString(": ")
		b.WriteString(m.value)
	}
	b.WriteByte('}')
	return b.String()
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
func copyUnescape(f []byte) []byte {
	if bytes.IndexByte(f, '\\') < 0 {
		return f
	}
	out := make([]byte, 0, len(f))
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

// copyValueJSON is a column's value, from its COPY text, as it appears in
// the body: false when the body leaves it out (an empty array, a jsonb
// null, {} or [] once its nulls are stripped).
func copyValueJSON(typ string, v []byte) (string, bool, error) {
	switch typ {
	case "uuid", "text", "character varying":
		var b strings.Builder
		writeJSONBString(&b, string(v))
		return b.String(), true, nil
	case "integer", "bigint", "smallint":
		if len(v) == 0 || strings.Trim(string(v), "-0123456789") != "" {
			return "", false, errArchiveValue
		}
		return string(v), true, nil
	case "boolean":
		switch string(v) {
		case "t":
			return "true", true, nil
		case "f":
			return "false", true, nil
		}
		return "", false, errArchiveValue
	case "jsonb":
		s := string(v)
		if s == "{}" || s == "[]" {
			return "", false, nil
		}
		if !strings.Contains(s, "null") {
			return s, true, nil // jsonb's own printing, without nulls to strip
		}
		d := json.NewDecoder(bytes.NewReader(v))
		d.UseNumber()
		var x any
		if err := d.Decode(&x); err != nil {
			return "", false, errArchiveValue
		}
		stripNulls(x)
		switch y := x.(type) {
		case nil:
			return "", false, nil
		case map[string]any:
			if len(y) == 0 {
				return "", false, nil
			}
		case []any:
			if len(y) == 0 {
				return "", false, nil
			}
		}
		var b strings.Builder
		if err := writeJSONB(&b, x); err != nil {
			return "", false, errArchiveValue
		}
		return b.String(), true, nil
	case "text[]", "uuid[]", "character varying[]":
		return arrayJSON(v, false)
	case "jsonb[]":
		return arrayJSON(v, true)
	}
	return "", false, errArchiveValue
}

// arrayJSON renders a one-dimensional array literal as array_out prints it
// ({a,"b c",NULL}) as to_jsonb does (["a", "b c", null]); {} is left out.
// Elements are strings, or jsonb values (with null members stripped, as
// the body's jsonb_strip_nulls does at every depth).
func arrayJSON(v []byte, jsonb bool) (string, bool, error) {
	if len(v) < 2 || v[0] != '{' || v[len(v)-1] != '}' {
		return "", false, errArchiveValue // bounds decoration or not an array
	}
	body := v[1 : len(v)-1]
	if len(body) == 0 {
		return "", false, nil
	}
	var b strings.Builder
	b.WriteByte('[')
	for n := 0; ; n++ {
		if n > 0 {
			b.WriteString(", ")
		}
		var elem []byte
		if len(body) > 0 && body[0] == '"' {
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
				return "", false, errArchiveValue
			}
			body = body[i+1:]
			if err := writeElem(&b, elem, jsonb); err != nil {
				return "", false, err
			}
		} else {
			i := bytes.IndexByte(body, ',')
			if i < 0 {
				i = len(body)
			}
			elem, body = body[:i], body[i:]
			if bytes.ContainsAny(elem, "{}\"\\") {
				return "", false, errArchiveValue // a nested array
			}
			if string(elem) == "NULL" {
				b.WriteString("null")
			} else if err := writeElem(&b, elem, jsonb); err != nil {
				return "", false, err
			}
		}
		if len(body) == 0 {
			break
		}
		if body[0] != ',' {
			return "", false, errArchiveValue
		}
		body = body[1:]
	}
	b.WriteByte(']')
	return b.String(), true, nil
}

func writeElem(b *strings.Builder, elem []byte, jsonb bool) error {
	if !jsonb {
		writeJSONBString(b, string(elem))
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(elem))
	d.UseNumber()
	var x any
	if err := d.Decode(&x); err != nil {
		return errArchiveValue
	}
	stripNulls(x)
	if err := writeJSONB(b, x); err != nil {
		return errArchiveValue
	}
	return nil
}
