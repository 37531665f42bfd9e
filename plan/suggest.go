package plan

import (
	"fmt"

	"github.com/agext/levenshtein"
)

// Suggest returns the option closest to name when it is close enough to be
// a likely typo (edit distance below 3), else "".
func Suggest(name string, options []string) string {
	best, bestDist := "", 3
	for _, o := range options {
		if dist := levenshtein.Distance(name, o, nil); dist < bestDist {
			best, bestDist = o, dist
		}
	}
	return best
}

// DidYouMean is Suggest as a sentence (" Did you mean \"x\"?") or "".
func DidYouMean(name string, options []string) string {
	if s := Suggest(name, options); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
}
