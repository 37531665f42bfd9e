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
	times    []time.Duration
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
			t.times = append(t.times, d)
		}
	}

	med := map[string]time.Duration{}
	fmt.Printf("%d plans (%d unformatted), %d runs of each after a warm-up; median wall time per process:\n", nPlans, unformatted, runs)
	for _, t := range tools {
		med[t.name] = median(t.times)
		fmt.Printf("  %-34s %8.1f ms   (min %.1f, max %.1f)\n", t.name, ms(med[t.name]), ms(slices.Min(t.times)), ms(slices.Max(t.times)))
	}
	up, hc := med["upshift fmt --check"], med["hclfmt -check -require-no-change"]
	fmt.Printf("ratio upshift fmt --check / hclfmt: %.2f (target: <= 1)\n", float64(up)/float64(hc))
	if tfDir == "" {
		fmt.Printf("terraform not on PATH (%v): the terraform fmt comparison is skipped\n", tfErr)
		return nil
	}
	both := med["upshift lint"] + up
	tf := med["terraform fmt -check -recursive"]
	fmt.Printf("ratio (upshift lint + upshift fmt --check) / terraform fmt -check: %.2f (%.1f ms / %.1f ms)\n", float64(both)/float64(tf), ms(both), ms(tf))
	fmt.Printf("ratio upshift lint / terraform fmt -check: %.2f\n", float64(med["upshift lint"])/float64(tf))
	return nil
}

// exec runs t once and checks its exit status and, where counted, that it
// reported exactly the unformatted files.
func (t *tool) exec(unformatted int) (time.Duration, error) {
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
		return 0, fmt.Errorf("%s: %w", t.name, err)
	}
	if code != t.wantExit {
		return 0, fmt.Errorf("%s: exit %d, want %d\n%.2000s%.2000s", t.name, code, t.wantExit, stdout.String(), stderr.String())
	}
	if n := t.count(stdout.String(), stderr.String()); n >= 0 && n != unformatted {
		return 0, fmt.Errorf("%s reported %d unformatted files, want %d", t.name, n, unformatted)
	}
	return d, nil
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
