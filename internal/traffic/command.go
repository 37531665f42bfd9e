package traffic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CommandConfig configures the command driver: the user's own programs
// change and report the split (a cloud load balancer's CLI, a script).
type CommandConfig struct {
	// Set changes the split. The placeholders {from_weight} and
	// {to_weight} in its arguments are replaced by the percentages; when
	// neither appears, the two numbers are appended as the last two
	// arguments ("FROM TO"). Either way {"from":N,"to":M} is written to its
	// standard input. Exit status 0 means done.
	Set []string
	// Get prints the current split on standard output, as
	// {"from":N,"to":M} or as two numbers "FROM TO". Optional; without it
	// Weights fails.
	Get []string
	// Timeout bounds each run; default 60s.
	Timeout time.Duration
}

// Command drives a load balancer through the user's set and get commands.
// No secret is passed to them by the driver, so their stderr is quoted in
// errors as printed (a command that prints its own secrets is the user's
// concern).
type Command struct {
	cfg CommandConfig
}

// NewCommand checks cfg; it runs nothing.
func NewCommand(cfg CommandConfig) (*Command, error) {
	if len(cfg.Set) == 0 || cfg.Set[0] == "" {
		return nil, &Error{Op: "configure command", Err: errors.New("set command is empty")}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	return &Command{cfg: cfg}, nil
}

// SetWeights runs the set command with w. Whether repeating is safe is the
// command's contract: the plan language asks for idempotent commands (same
// arguments, same result). Cancellation kills the command's process group;
// what it had done by then is unknown, which Weights (the get command)
// tells.
func (c *Command) SetWeights(ctx context.Context, w Weights) error {
	if err := w.Validate(); err != nil {
		return &Error{Op: "set weights", Target: c.cfg.Set[0], Err: err}
	}
	f, t := strconv.Itoa(w.From), strconv.Itoa(w.To)
	argv := make([]string, 0, len(c.cfg.Set)+2)
	placed := false
	for _, a := range c.cfg.Set {
		b := strings.ReplaceAll(strings.ReplaceAll(a, "{from_weight}", f), "{to_weight}", t)
		placed = placed || b != a
		argv = append(argv, b)
	}
	if !placed {
		argv = append(argv, f, t)
	}
	stdin, _ := json.Marshal(w)
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if _, err := run(ctx, argv, append(stdin, '\n')); err != nil {
		return &Error{Op: "set weights " + f + " " + t, Target: c.cfg.Set[0], Err: err}
	}
	return nil
}

// Weights runs the get command and parses its output. Read-only as far as
// the driver is concerned; cancellation kills the command.
func (c *Command) Weights(ctx context.Context) (Weights, error) {
	if len(c.cfg.Get) == 0 || c.cfg.Get[0] == "" {
		return Weights{}, &Error{Op: "read weights", Err: errors.New("no get command configured: the split cannot be read back")}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	res, err := run(ctx, c.cfg.Get, nil)
	if err != nil {
		return Weights{}, &Error{Op: "read weights", Target: c.cfg.Get[0], Err: err}
	}
	w, err := parseCommandWeights(res.stdout)
	if err != nil {
		return Weights{}, &Error{Op: "read weights", Target: c.cfg.Get[0], Err: err}
	}
	return w, nil
}

// parseCommandWeights accepts {"from":N,"to":M} or "N M".
func parseCommandWeights(out string) (Weights, error) {
	s := strings.TrimSpace(out)
	var w Weights
	if strings.HasPrefix(s, "{") {
		var raw struct {
			From *int `json:"from"`
			To   *int `json:"to"`
		}
		if err := json.Unmarshal([]byte(s), &raw); err != nil {
			return w, fmt.Errorf("output %q: %w", truncateText(s), err)
		}
		if raw.From == nil || raw.To == nil {
			return w, fmt.Errorf("output %q lacks \"from\" or \"to\"", truncateText(s))
		}
		w = Weights{From: *raw.From, To: *raw.To}
	} else {
		f := strings.Fields(s)
		if len(f) != 2 {
			return w, fmt.Errorf("output %q is neither {\"from\":N,\"to\":M} nor \"FROM TO\"", truncateText(s))
		}
		a, err1 := strconv.Atoi(f[0])
		b, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			return w, fmt.Errorf("output %q: weights are not integers", truncateText(s))
		}
		w = Weights{From: a, To: b}
	}
	if err := w.Validate(); err != nil {
		return Weights{}, fmt.Errorf("output %q: %w", truncateText(s), err)
	}
	return w, nil
}
