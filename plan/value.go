package plan

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// String is a literal string attribute with its range. Set is false when
// the attribute was absent (Value then holds the default, if any).
type String struct {
	Value string
	Range hcl.Range
	Set   bool
}

// Given reports whether the attribute was written in the file, even if its
// value failed to decode (HCL reported that already): lint uses it so that
// a broken attribute is not also reported as missing.
func (s String) Given() bool { return s.Set || s.Range.Filename != "" }

// Duration parses s as a time.Duration ("30s", "5m"). Lint reports a bad
// duration at s.Range; callers past lint may rely on it parsing.
func (s String) Duration() (time.Duration, error) {
	d, err := time.ParseDuration(s.Value)
	if err != nil {
		return 0, fmt.Errorf("parse duration %q: %w", s.Value, err)
	}
	return d, nil
}

// Int is a whole-number attribute with its range.
type Int struct {
	Value int
	Range hcl.Range
	Set   bool
}

// Float is a number attribute with its range.
type Float struct {
	Value float64
	Range hcl.Range
	Set   bool
}

// Bool is a boolean attribute with its range.
type Bool struct {
	Value bool
	Range hcl.Range
	Set   bool
}

// Value is a string attribute that may come from the environment: either a
// Literal, or env("NAME"), which stays unevaluated until apply time
// (Resolve). Lint checks an env() call's shape (EnvOK and the name's
// syntax) without reading the environment unless asked to.
type Value struct {
	Literal string
	// IsEnv is true for env(...); EnvName is its argument when that is a
	// string literal (EnvOK), else "".
	IsEnv   bool
	EnvName string
	EnvOK   bool
	// Range covers the whole expression; EnvArgRange the env() argument.
	Range       hcl.Range
	EnvArgRange hcl.Range
	Set         bool
}

// Given reports whether the attribute was written in the file, even if its
// value failed to decode.
func (v Value) Given() bool { return v.Set || v.Range.Filename != "" }

// Resolve returns the value: the literal, or the named environment variable
// looked up with lookup (os.LookupEnv in production). An unset variable or
// a malformed env() call is an error naming the variable, never its value.
func (v Value) Resolve(lookup func(string) (string, bool)) (string, error) {
	if !v.IsEnv {
		return v.Literal, nil
	}
	if !v.EnvOK {
		return "", fmt.Errorf("%s: env() needs a string literal naming a variable", v.Range)
	}
	s, ok := lookup(v.EnvName)
	if !ok {
		return "", fmt.Errorf("%s: environment variable %s is not set", v.Range, v.EnvName)
	}
	return s, nil
}

// String describes v for messages without revealing a secret: the literal
// for literals, env("NAME") for environment references.
func (v Value) String() string {
	if v.IsEnv {
		return fmt.Sprintf("env(%q)", v.EnvName)
	}
	return v.Literal
}

// Argv is a command as a list of arguments, run without a shell.
type Argv struct {
	Args []string
	// Range covers the list; ElemRanges each element.
	Range      hcl.Range
	ElemRanges []hcl.Range
	Set        bool
}

// Given reports whether the attribute was written in the file, even if its
// value failed to decode.
func (a Argv) Given() bool { return a.Set || a.Range.Filename != "" }

// Placeholders lists the {name} placeholders in a, in order, with the range
// of the argument holding each. Only {pg_host} {pg_port} {pg_database}
// {pg_user} are valid in a kong argv (AllowedPlaceholders).
func (a Argv) Placeholders() (names []string, ranges []hcl.Range) {
	for i, arg := range a.Args {
		rest := arg
		for {
			open := strings.IndexByte(rest, '{')
			if open < 0 {
				break
			}
			end := strings.IndexByte(rest[open:], '}')
			if end < 0 {
				break
			}
			names = append(names, rest[open+1:open+end])
			if i < len(a.ElemRanges) {
				ranges = append(ranges, a.ElemRanges[i])
			} else {
				ranges = append(ranges, a.Range)
			}
			rest = rest[open+end+1:]
		}
	}
	return names, ranges
}

// AllowedPlaceholders are the placeholders Upshift substitutes in Y's kong
// argv. The password is deliberately absent: it only ever travels in the
// environment (KONG_PG_PASSWORD), never in argv.
var AllowedPlaceholders = []string{"pg_host", "pg_port", "pg_database", "pg_user"}

// TrafficCommandPlaceholders are the placeholders substituted in a
// traffic "command" driver's set argv: the percentages of traffic for X
// and for Y (summing to 100).
var TrafficCommandPlaceholders = []string{"from_weight", "to_weight"}
