package store

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Kong's error codes (K: kong/db/errors.lua).
const (
	CodeInvalidPrimaryKey = 1
	CodeSchemaViolation   = 2
	CodeForeignKey        = 4
	CodeUnique            = 5
	CodeNotFound          = 6
	CodeInvalidOffset     = 7
	CodeDatabase          = 8
	CodeInvalidSize       = 9
	CodeUnsupported       = 12
	CodeDeclarative       = 14
)

var codeNames = map[int]string{
	1: "invalid primary key", 2: "schema violation", 3: "primary key violation", 4: "foreign key violation",
	5: "unique constraint violation", 6: "not found", 7: "invalid offset", 8: "database error", 9: "invalid size",
	11: "invalid options", 12: "operation unsupported", 13: "foreign keys unresolved",
	14: "invalid declarative configuration", 19: "referenced by others",
}

// Error is Kong's error object, as the Admin API returns it:
// {"code":N,"name":"...","message":"...","fields":{...}}.
type Error struct {
	Code    int            `json:"code"`
	Name    string         `json:"name"`
	Message string         `json:"message"`
	Fields  map[string]any `json:"fields,omitempty"`
	// Extra keys merged into the body (e.g. flattened_errors).
	Extra map[string]any `json:"-"`
}

func (e *Error) Error() string { return e.Message }

// Status is the HTTP status Kong's Admin API answers for the error
// (K: kong/api/endpoints.lua ERRORS_HTTP_CODES).
func (e *Error) Status() int {
	switch e.Code {
	case CodeUnique:
		return http.StatusConflict
	case CodeNotFound:
		return http.StatusNotFound
	case CodeDatabase:
		return http.StatusInternalServerError
	case CodeUnsupported:
		return http.StatusMethodNotAllowed
	}
	return http.StatusBadRequest
}

// Body is the JSON object the Admin API writes for the error.
func (e *Error) Body() map[string]any {
	b := map[string]any{"code": e.Code, "name": e.Name, "message": e.Message}
	if e.Fields != nil {
		b["fields"] = e.Fields
	}
	for k, v := range e.Extra {
		b[k] = v
	}
	return b
}

func newErr(code int, msg string, fields map[string]any) *Error {
	return &Error{Code: code, Name: codeNames[code], Message: msg, Fields: fields}
}

// SchemaViolation builds code 2 with Kong's message: "schema violation (f:
// msg)" or "N schema violations (a: x; b: y)", "@entity" messages first,
// then fields sorted, one level of nesting flattened as "config.minute: ...".
func SchemaViolation(fields map[string]any) *Error {
	var buf []string
	if ent, ok := fields["@entity"].([]any); ok {
		for _, m := range ent {
			buf = append(buf, fmt.Sprint(m))
		}
	}
	for _, k := range sortedKeys(fields) {
		if k == "@entity" {
			continue
		}
		switch v := fields[k].(type) {
		case map[string]any:
			for _, sk := range sortedKeys(v) {
				buf = append(buf, fmt.Sprintf("%s.%s: %s", k, sk, plainOrPretty(v[sk])))
			}
		case []any:
			for i, sv := range v {
				if sv != nil {
					buf = append(buf, fmt.Sprintf("%s.%d: %s", k, i+1, plainOrPretty(sv)))
				}
			}
		default:
			buf = append(buf, fmt.Sprintf("%s: %v", k, v))
		}
	}
	msg := ""
	if len(buf) == 1 {
		msg = fmt.Sprintf("schema violation (%s)", buf[0])
	} else {
		msg = fmt.Sprintf("%d schema violations (%s)", len(buf), strings.Join(buf, "; "))
	}
	return newErr(CodeSchemaViolation, msg, fields)
}

// UniqueViolation is code 5: "UNIQUE violation detected on '{name=\"x\"}'".
func UniqueViolation(key map[string]any) *Error {
	return newErr(CodeUnique, fmt.Sprintf("UNIQUE violation detected on '%s'", luaPretty(key)), key)
}

// ForeignKeyViolation is code 4 for a reference to a missing row.
func ForeignKeyViolation(field string, key map[string]any, parent string) *Error {
	return newErr(CodeForeignKey, fmt.Sprintf("the foreign key '%s' does not reference an existing '%s' entity.", luaPretty(key), parent),
		map[string]any{field: key})
}

// ReferencedBy is code 4 for a delete restricted by a child row.
func ReferencedBy(parent, child string) *Error {
	return newErr(CodeForeignKey, fmt.Sprintf("an existing '%s' entity references this '%s' entity", child, parent),
		map[string]any{"@referenced_by": child})
}

// DatabaseError is code 8 (HTTP 500).
func DatabaseError(msg string) *Error { return newErr(CodeDatabase, msg, nil) }

// Unsupported is code 12 (HTTP 405), e.g. entity writes without a database.
func Unsupported(msg string) *Error { return newErr(CodeUnsupported, msg, nil) }

// InvalidOffset is code 7.
func InvalidOffset(offset, why string) *Error {
	return newErr(CodeInvalidOffset, fmt.Sprintf("'%s' is not a valid offset: %s", offset, why), nil)
}

// InvalidSize is code 9.
func InvalidSize(msg string) *Error { return newErr(CodeInvalidSize, msg, nil) }

// InvalidPrimaryKey is code 1.
func InvalidPrimaryKey(key map[string]any) *Error {
	return newErr(CodeInvalidPrimaryKey, fmt.Sprintf("invalid primary key: '%s'", luaPretty(key)), key)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// luaPretty renders a value as Penlight's pretty.write(v, "") does for the
// simple tables Kong puts in messages: {id="x",name=null}.
func luaPretty(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", t)
	case map[string]any:
		parts := make([]string, 0, len(t))
		for _, k := range sortedKeys(t) {
			parts = append(parts, k+"="+luaPretty(t[k]))
		}
		return "{" + strings.Join(parts, ",") + "}"
	case []any:
		parts := make([]string, 0, len(t))
		for _, e := range t {
			parts = append(parts, luaPretty(e))
		}
		return "{" + strings.Join(parts, ",") + "}"
	case float64:
		if t == float64(int64(t)) {
			return fmt.Sprintf("%d", int64(t))
		}
		return fmt.Sprint(t)
	}
	return fmt.Sprint(v)
}

func plainOrPretty(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return luaPretty(v)
}
