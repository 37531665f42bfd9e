package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/upshift-dev/upshift/internal/engine"
)

// progressPrinter renders an apply's live progress. On a terminal, one
// status line is redrawn in place during waits (step i/N, elapsed, time
// left) and a line is printed per step start, end, skip and gate result.
// When the output is not a terminal (CI, a log file), plain timestamped
// lines, with a wait's line at most every WaitEvery unless its message
// changes. Long lines wrap at the width, never cut.
type progressPrinter struct {
	w         io.Writer
	tty       bool
	width     int
	WaitEvery time.Duration
	now       func() time.Time

	mu       sync.Mutex
	lastWait time.Time
	lastMsg  string
	drawn    bool // a status line is on screen
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	f, ok := w.(*os.File)
	tty := ok && isTerminal(f) && os.Getenv("TERM") != "dumb"
	return &progressPrinter{w: w, tty: tty, width: outputWidth(w), WaitEvery: 5 * time.Second, now: time.Now}
}

func (p *progressPrinter) Progress(pr engine.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pos := ""
	if pr.Total > 0 {
		pos = fmt.Sprintf("[%d/%d] ", pr.Index, pr.Total)
	}
	stamp := ""
	if !p.tty {
		stamp = p.now().Format("15:04:05") + " "
	}
	// Continuation lines start under the step's position.
	indent := utf8.RuneCountInString(stamp) + 4
	if pr.Step == "" {
		// The run's own news (a rollback begins, a slow read while it
		// observes), not a step's.
		pos = ""
	}
	if pr.Phase == engine.PhaseWait {
		head := stepHead(pos, pr.Step)
		text := waitText(pr)
		// On a terminal, a wait that fits on one line is redrawn in
		// place; a longer one is printed whole, as off a terminal.
		if p.tty && utf8.RuneCountInString(head+text) < p.width && !strings.Contains(text, "\n") {
			fmt.Fprintf(p.w, "\r\033[K%s%s", head, text)
			p.drawn = true
			return
		}
		if p.now().Sub(p.lastWait) < p.WaitEvery && pr.Message == p.lastMsg {
			return
		}
		p.lastWait, p.lastMsg = p.now(), pr.Message
		p.clear()
		fmt.Fprintln(p.w, wrap(stamp+head, text, indent, p.width))
		return
	}
	p.clear()
	var head, text string
	switch pr.Phase {
	case engine.PhaseStart:
		head, text = fmt.Sprintf("%s%s: ", pos, pr.Step), pr.Title
		p.lastWait, p.lastMsg = time.Time{}, ""
	case engine.PhaseSkipped:
		head, text = fmt.Sprintf("%s%s: skipped: ", pos, pr.Step), pr.Message
	case engine.PhaseDone:
		head = fmt.Sprintf("%s%s: done in %s", pos, pr.Step, round(pr.Elapsed))
		if pr.Message != "" {
			head += ": "
		}
		text = pr.Message
	case engine.PhaseFailed:
		head, text = fmt.Sprintf("%s%s: FAILED after %s: ", pos, pr.Step, round(pr.Elapsed)), pr.Message
	default:
		head, text = stepHead(pos, pr.Step), pr.Message
	}
	fmt.Fprintln(p.w, wrap(stamp+head, text, indent, p.width))
}

// stepHead is "[i/N] step: ", or "" for the run's own news.
func stepHead(pos, step string) string {
	if step == "" {
		return ""
	}
	return pos + step + ": "
}

// clear removes a status line left on screen.
func (p *progressPrinter) clear() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

func waitText(pr engine.Progress) string {
	var parts []string
	if strings.HasPrefix(pr.Step, "pause_") && pr.Message == "" {
		parts = append(parts, fmt.Sprintf("pause %s left", round(pr.Remaining)))
	} else if pr.Message != "" {
		parts = append(parts, uniqueLines(pr.Message))
		if pr.Remaining > 0 {
			parts = append(parts, fmt.Sprintf("gives up in %s", round(pr.Remaining)))
		}
	}
	if pr.Elapsed > 0 {
		parts = append(parts, "elapsed "+round(pr.Elapsed))
	}
	return strings.Join(parts, ", ")
}

func round(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// finish clears a status line left on screen.
func (p *progressPrinter) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}
