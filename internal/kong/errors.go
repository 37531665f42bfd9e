package kong

import "fmt"

// Error is a failed driver operation, shaped like fs.PathError: Op is
// what was attempted ("GET /", "read schema_meta", "kong migrations up"),
// Target where (an Admin URL, a database name; never a DSN with its
// password), Err why.
type Error struct {
	Op     string
	Target string
	Err    error
}

// Error names the cause first when there is a known one (explain): a
// certificate that did not verify, a token Kong rejected.
func (e *Error) Error() string { return fmt.Sprintf("kong: %s %s: %v", e.Op, e.Target, explain(e.Err)) }

func (e *Error) Unwrap() error { return explain(e.Err) }
