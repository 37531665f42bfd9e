package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/upshift-dev/upshift/internal/engine"
)

// progressPrinter renders an apply's live progress. On a terminal, one
// status line is redrawn in place during waits (step i/N, elapsed, time
// left) and a line is printed per step start, end and gate result. When
// the output is not a terminal (CI, a log file), plain timestamped lines,
// with wait lines at most every WaitEvery.
type progressPrinter struct {
	w         io.Writer
	tty       bool
	WaitEvery time.Duration
	now       func() time.Time

	mu       sync.Mutex
	lastWait time.Time
	drawn    bool // a status line is on screen
}

func newProgressPrinter(w io.Writer) *progressPrinter {
	f, ok := w.(*os.File)
	tty := ok && isTerminal(f) && os.Getenv("TERM") != "dumb"
	return &progressPrinter{w: w, tty: tty, WaitEvery: 10 * time.Second, now: time.Now}
}

func (p *progressPrinter) Progress(pr engine.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pos := ""
	if pr.Total > 0 {
		pos = fmt.Sprintf("[%d/%d] ", pr.Index, pr.Total)
	}
	if pr.Phase == engine.PhaseWait {
		msg := fmt.Sprintf("%s%s: %s", pos, pr.Step, waitText(pr))
		if p.tty {
			fmt.Fprintf(p.w, "\r\033[K%s", msg)
			p.drawn = true
			return
		}
		if p.now().Sub(p.lastWait) < p.WaitEvery {
			return
		}
		p.lastWait = p.now()
		fmt.Fprintf(p.w, "%s %s\n", p.now().Format("15:04:05"), msg)
		return
	}
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	var line string
	switch pr.Phase {
	case engine.PhaseStart:
		line = fmt.Sprintf("%s%s: %s", pos, pr.Step, pr.Title)
	case engine.PhaseDone:
		line = fmt.Sprintf("%s%s: done in %s", pos, pr.Step, round(pr.Elapsed))
		if pr.Message != "" {
			line += " (" + oneLine(pr.Message, 100) + ")"
		}
	case engine.PhaseFailed:
		line = fmt.Sprintf("%s%s: FAILED after %s: %s", pos, pr.Step, round(pr.Elapsed), oneLine(pr.Message, 200))
	default:
		line = fmt.Sprintf("%s%s: %s", pos, pr.Step, oneLine(pr.Message, 160))
	}
	if !p.tty {
		line = p.now().Format("15:04:05") + " " + line
	}
	fmt.Fprintln(p.w, line)
}

func waitText(pr engine.Progress) string {
	var parts []string
	if strings.HasPrefix(pr.Step, "pause_") {
		parts = append(parts, fmt.Sprintf("pause %s left", round(pr.Remaining)))
	} else if pr.Message != "" {
		parts = append(parts, oneLine(pr.Message, 120))
		if pr.Remaining > 0 {
			parts = append(parts, fmt.Sprintf("gives up in %s", round(pr.Remaining)))
		}
	}
	parts = append(parts, "elapsed "+round(pr.Elapsed))
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
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}
