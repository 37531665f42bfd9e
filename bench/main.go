package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func main() {
	nPlans := flag.Int("plans", 1000, "number of plans to generate")
	runs := flag.Int("runs", 7, "timed runs of each command (after one warm-up)")
	keep := flag.Bool("keep", false, "keep the temporary directory (binaries and plans)")
	flag.Parse()
	if err := run(*nPlans, *runs, *keep); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// tool is one measured command: its argv, the exit status it must end with,
// and how to count the files it reports as unformatted (-1: not counted).
type tool struct {
	name     string
	argv     []string
	wantExit int
	count    func(stdout, stderr string) int
	times    []time.Duration // wall time
	cpu      []time.Duration // user + system CPU time of the process
}

func run(nPlans, runs int, keep bool) error {
	if nPlans < 10 || runs < 1 {
		return errors.New("-plans must be at least 10 and -runs at least 1")
	}
	tmp, err := os.MkdirTemp("", "upshift-bench-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Printf("keeping %s\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin := filepath.Join(tmp, "bin")
	plans := filepath.Join(tmp, "plans")
	tfDir := filepath.Join(tmp, "tf")
	for _, d := range []string{bin, plans, tfDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}

	upshift := filepath.Join(bin, "upshift")
	hclfmt := filepath.Join(bin, "hclfmt")
	for _, b := range []struct{ out, pkg string }{{upshift, "./cmd/upshift"}, {hclfmt, "github.com/hashicorp/hcl/v2/cmd/hclfmt"}} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s (run from the repository root): %v\n%s", b.pkg, err, out)
		}
	}
	terraform, tfErr := exec.LookPath("terraform")
	if tfErr != nil {
		tfDir = ""
	}

	paths, unformatted, err := generate(plans, tfDir, nPlans)
	if err != nil {
		return err
	}
	lines := func(s string) int { return strings.Count(s, "\n") }
	tools := []*tool{
		{name: "upshift fmt --check", argv: []string{upshift, "fmt", "--check", plans}, wantExit: 1,
			count: func(out, _ string) int { return lines(out) }},
		{name: "hclfmt -check -require-no-change", argv: append([]string{hclfmt, "-check", "-require-no-change"}, paths...), wantExit: 1,
			count: func(_, errOut string) int { return strings.Count(errOut, ".upshift.hcl") }},
		{name: "upshift lint", argv: []string{upshift, "lint", plans}, wantExit: 0,
			count: func(string, string) int { return -1 }},
		// The one-process PR check: lint and the layout check together.
		{name: "upshift lint --check-format", argv: []string{upshift, "lint", "--check-format", plans}, wantExit: 1,
			count: func(out, _ string) int { return strings.Count(out, "[FMT]") }},
	}
	if tfDir != "" {
		tools = append(tools, &tool{name: "terraform fmt -check -recursive", argv: []string{terraform, "fmt", "-check", "-recursive", tfDir}, wantExit: 3,
			count: func(out, _ string) int { return lines(out) }})
	}

	// One warm-up (page cache, binaries), checked; then interleaved timed runs.
	for _, t := range tools {
		if _, err := t.exec(unformatted); err != nil {
			return err
		}
	}
	for r := 0; r < runs; r++ {
		for _, t := range tools {
			d, err := t.exec(unformatted)
			if err != nil {
				return err
			}
			t.times = append(t.times, d.wall)
			t.cpu = append(t.cpu, d.cpu)
		}
	}

	wall, cpu := map[string]time.Duration{}, map[string]time.Duration{}
	fmt.Printf("%d plans (%d unformatted), %d runs of each after a warm-up; medians per process\n", nPlans, unformatted, runs)
	fmt.Printf("(CPU = user+system time, the fairer figure on a loaded machine):\n")
	fmt.Printf("  %-34s %10s %10s\n", "", "wall ms", "CPU ms")
	for _, t := range tools {
		wall[t.name], cpu[t.name] = median(t.times), median(t.cpu)
		fmt.Printf("  %-34s %10.1f %10.1f\n", t.name, ms(wall[t.name]), ms(cpu[t.name]))
	}
	ratio := func(label string, a, b []string) {
		sum := func(m map[string]time.Duration, names []string) (d time.Duration) {
			for _, n := range names {
				d += m[n]
			}
			return d
		}
		fmt.Printf("ratio %s: wall %.2f, CPU %.2f\n", label,
			float64(sum(wall, a))/float64(sum(wall, b)), float64(sum(cpu, a))/float64(sum(cpu, b)))
	}
	ratio("upshift fmt --check / hclfmt (target <= 1)", []string{"upshift fmt --check"}, []string{"hclfmt -check -require-no-change"})
	if tfDir == "" {
		fmt.Printf("terraform not on PATH (%v): the terraform fmt comparison is skipped\n", tfErr)
		return nil
	}
	tf := []string{"terraform fmt -check -recursive"}
	ratio("(upshift lint + upshift fmt --check) / terraform fmt -check", []string{"upshift lint", "upshift fmt --check"}, tf)
	ratio("upshift lint / terraform fmt -check", []string{"upshift lint"}, tf)
	ratio("upshift lint --check-format / terraform fmt -check (target <= 0.5)", []string{"upshift lint --check-format"}, tf)
	return nil
}

// measured is one run's cost.
type measured struct{ wall, cpu time.Duration }

// exec runs t once and checks its exit status and, where counted, that it
// reported exactly the unformatted files.
func (t *tool) exec(unformatted int) (measured, error) {
	cmd := exec.Command(t.argv[0], t.argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		return measured{}, fmt.Errorf("%s: %w", t.name, err)
	}
	if code != t.wantExit {
		return measured{}, fmt.Errorf("%s: exit %d, want %d\n%.2000s%.2000s", t.name, code, t.wantExit, stdout.String(), stderr.String())
	}
	if n := t.count(stdout.String(), stderr.String()); n >= 0 && n != unformatted {
		return measured{}, fmt.Errorf("%s reported %d unformatted files, want %d", t.name, n, unformatted)
	}
	return measured{wall: d, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
