package traffic

import "fmt"

// Error is a failed driver operation, shaped like fs.PathError: Op is what
// was attempted ("set weights", "nginx -t", "show servers state"), Target
// where (an upstream file, a runtime API socket, a command's argv[0]), Err
// why. Output a load balancer printed (nginx -t's complaint, HAProxy's
// answer, a command's stderr) is part of Err's text.
type Error struct {
	Op     string
	Target string
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("traffic: %s %s: %v", e.Op, e.Target, e.Err) }

func (e *Error) Unwrap() error { return e.Err }
