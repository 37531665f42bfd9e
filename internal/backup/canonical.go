package backup

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// This file renders JSON exactly as PostgreSQL prints a jsonb value
// (jsonb::text), so that a fingerprint computed in Go from a decK dump
// equals the one computed in SQL: object keys shorter-first then bytewise
// (jsonb's key order), ", " and ": " separators, strings escaped as
// PostgreSQL's escape_json does, numbers as numeric_out prints them.

// normalizeEntity applies the fingerprint's normalisation to one entity
// object (the same steps as the SQL in fingerprint.go): created_at and
// updated_at dropped; object members whose value is null dropped at every
// depth (jsonb_strip_nulls); then top-level members whose value is [] or
// {} dropped.
func normalizeEntity(obj map[string]any) map[string]any {
	delete(obj, "created_at")
	delete(obj, "updated_at")
	stripNulls(obj)
	for k, v := range obj {
		switch x := v.(type) {
		case []any:
			if len(x) == 0 {
				delete(obj, k)
			}
		case map[string]any:
			if len(x) == 0 {
				delete(obj, k)
			}
		}
	}
	return obj
}

func stripNulls(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			stripNulls(e)
		}
	case []any:
		for _, e := range x {
			stripNulls(e)
		}
	}
}

// toGeneric turns a Go value into the generic JSON tree (maps, slices,
// json.Number, strings, bools, nil) through encoding/json.
func toGeneric(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out map[string]any
	if err := d.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// writeJSONB appends v's jsonb text rendering to b.
func writeJSONB(b *strings.Builder, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case string:
		writeJSONBString(b, x)
	case json.Number:
		s, err := numericText(string(x))
		if err != nil {
			return err
		}
		b.WriteString(s)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := writeJSONB(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if len(keys[i]) != len(keys[j]) {
				return len(keys[i]) < len(keys[j])
			}
			return keys[i] < keys[j]
		})
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writeJSONBString(b, k)
			b.WriteString(": ")
			if err := writeJSONB(b, x[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("canonical JSON: unexpected %T", v)
	}
	return nil
}

// writeJSONBString escapes as PostgreSQL's escape_json: \" \\ \b \f \n
// \r \t, other control characters as \u00XX, everything else as is.
func writeJSONBString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}

// numericText prints a JSON number as PostgreSQL's numeric_out would after
// numeric_in: the exponent folded into the digits, the scale kept
// ("1.50" stays "1.50", "1e3" is "1000", "1.5e-3" is "0.0015"), leading
// zeros dropped, no sign on zero.
func numericText(s string) (string, error) {
	orig := s
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		if _, err := fmt.Sscan(s[i+1:], &exp); err != nil {
			return "", fmt.Errorf("canonical JSON: bad number %q", orig)
		}
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	scale := len(frac) - exp
	if scale < 0 {
		digits += strings.Repeat("0", -scale)
		scale = 0
	}
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	ip, fp := digits[:len(digits)-scale], digits[len(digits)-scale:]
	ip = strings.TrimLeft(ip, "0")
	if ip == "" {
		ip = "0"
	}
	out := ip
	if scale > 0 {
		out += "." + fp
	}
	if neg && strings.Trim(ip+fp, "0") != "" {
		out = "-" + out
	}
	return out, nil
}
