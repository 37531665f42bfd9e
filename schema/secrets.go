package schema

import (
	"regexp"
	"slices"
	"strings"
)

// SecretMask replaces a secret in echoed source lines and messages.
const SecretMask = "***"

// secretPatterns find, in one line of a plan file or in a message, the
// values the linter refuses as written secrets (UP028): the password of a
// URL DSN (postgres://user:PASSWORD@host), a password= keyword or query
// parameter, and the literal of a credential attribute (admin_token,
// webhook_url). The first submatch is the secret. They work on text, not on
// decoded plans, so that every echo is masked, including lines of files
// that do not parse.
var secretPatterns = []*regexp.Regexp{
	// user:password@ in a URL's authority; the last '@' before the path
	// ends it, as url.Parse reads it.
	regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^/\s"'@:]*:([^/\s"']*)@`),
	// password=... as a keyword (host=h password=pw) or a query parameter
	// (?password=pw); a quoted keyword value may hold blanks.
	regexp.MustCompile(`(?i)\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&#"']+)`),
	// A credential attribute's literal: admin_token = "..." (a literal
	// string; env("...") does not match).
	regexp.MustCompile(`\b(?:admin_token|webhook_url)\s*=\s*"((?:[^"\\]|\\.)*)"`),
}

// SecretSpans returns the byte ranges [start, end) of the secrets in s,
// sorted and not overlapping. Each line is searched on its own.
func SecretSpans(s string) [][2]int {
	var spans [][2]int
	for start := 0; start <= len(s); {
		end := strings.IndexByte(s[start:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += start
		}
		line := s[start:end]
		for _, re := range secretPatterns {
			for _, m := range re.FindAllStringSubmatchIndex(line, -1) {
				if m[2] >= 0 && m[3] > m[2] {
					spans = append(spans, [2]int{start + m[2], start + m[3]})
				}
			}
		}
		start = end + 1
	}
	if len(spans) < 2 {
		return spans
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	out := spans[:1]
	for _, sp := range spans[1:] {
		last := &out[len(out)-1]
		if sp[0] <= last[1] {
			last[1] = max(last[1], sp[1])
			continue
		}
		out = append(out, sp)
	}
	return out
}

// MaskSecrets returns s with every secret SecretSpans finds replaced by
// SecretMask.
func MaskSecrets(s string) string {
	spans := SecretSpans(s)
	if len(spans) == 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	prev := 0
	for _, sp := range spans {
		b = append(b, s[prev:sp[0]]...)
		b = append(b, SecretMask...)
		prev = sp[1]
	}
	return string(append(b, s[prev:]...))
}

// MaskOffset maps a byte offset in s to the matching offset in
// MaskSecrets(s), given s's spans: an offset inside a secret maps to the
// start of its mask.
func MaskOffset(spans [][2]int, off int) int {
	shift := 0
	for _, sp := range spans {
		switch {
		case off <= sp[0]:
			return off + shift
		case off < sp[1]:
			return sp[0] + shift
		}
		shift += len(SecretMask) - (sp[1] - sp[0])
	}
	return off + shift
}
