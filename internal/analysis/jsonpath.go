package analysis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// jsonPathText evaluates a dotted path in a JSON document and returns the
// value as text. Syntax: keys separated by dots, a decimal number indexes
// an array ("data.0.name"); the empty path is the whole document. A key
// that contains a dot cannot be addressed. The text of a string is the
// string itself; numbers keep their JSON spelling (1.50 stays "1.50");
// true, false, null, objects and arrays are compact JSON.
func jsonPathText(doc []byte, path string) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("body is not JSON: %v", err)
	}
	if path != "" {
		for i, seg := range strings.Split(path, ".") {
			at := strings.Join(strings.Split(path, ".")[:i], ".")
			if at == "" {
				at = "the document"
			}
			switch x := v.(type) {
			case map[string]any:
				next, ok := x[seg]
				if !ok {
					return "", fmt.Errorf("%s has no key %q", at, seg)
				}
				v = next
			case []any:
				n, err := strconv.Atoi(seg)
				if err != nil {
					return "", fmt.Errorf("%s is an array: %q is not an index", at, seg)
				}
				if n < 0 || n >= len(x) {
					return "", fmt.Errorf("%s has %d elements: no index %d", at, len(x), n)
				}
				v = x[n]
			default:
				return "", fmt.Errorf("%s is %s, not an object or array: no %q", at, jsonKind(v), seg)
			}
		}
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
