package main

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/hexops/gotextdiff"
	"github.com/hexops/gotextdiff/myers"
	"github.com/hexops/gotextdiff/span"
)

// unifiedDiff returns the unified diff (3 lines of context) from before to
// after, labelled old/NAME and new/NAME as terraform fmt -diff does, or ""
// when they are equal.
func unifiedDiff(name string, before, after []byte) string {
	if bytes.Equal(before, after) {
		return ""
	}
	a, b := string(before), string(after)
	edits := myers.ComputeEdits(span.URIFromPath(name), a, b)
	label := strings.TrimPrefix(name, "/")
	out := fmt.Sprint(gotextdiff.ToUnified("old/"+label, "new/"+label, a, edits))
	if !strings.HasSuffix(out, "\n") {
		out += "\n\\ No newline at end of file\n"
	}
	return out
}
