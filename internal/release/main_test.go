package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestBuild runs the release build for this machine's platform (all four
// targets with UPSHIFT_RELEASE_ALL=1: a cold cross-build of each takes
// minutes on a busy machine) and checks what it leaves: the binary, which
// prints the stamped version, commit and Go, and a SHA256SUMS that
// sha256sum -c accepts. A tag that is not a version is refused.
func TestBuild(t *testing.T) {
	if _, err := Build(Options{Version: "main", Out: t.TempDir()}); err == nil {
		t.Error("version main: built, want an error (releases are tags vX.Y.Z)")
	}
	targets := []string{runtime.GOOS + "/" + runtime.GOARCH}
	if os.Getenv("UPSHIFT_RELEASE_ALL") != "" {
		targets = Targets
	}
	out := t.TempDir()
	const version, commit = "v9.8.7-rc.1", "89abcdef0123456789abcdef0123456789abcdef"
	start := time.Now()
	names, err := Build(Options{Version: version, Commit: commit, Out: out, Targets: targets, Dir: "../.."})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %v in %s", targets, time.Since(start).Round(time.Second))
	if len(names) != len(targets) {
		t.Fatalf("built %v for %v", names, targets)
	}
	host := filepath.Join(out, "upshift-"+version+"-"+runtime.GOOS+"-"+runtime.GOARCH)
	got, err := exec.Command(host, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", host, err, got)
	}
	want := "upshift " + version + "\ncommit " + commit + "\n" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if string(got) != want {
		t.Errorf("version printed\n%s\nwant\n%s", got, want)
	}
	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(sums), "\n"); n != len(targets) {
		t.Errorf("SHA256SUMS has %d lines, want %d:\n%s", n, len(targets), sums)
	}
	if sha, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command(sha, "-c", "--strict", "SHA256SUMS")
		cmd.Dir = out
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c: %v\n%s", err, b)
		}
	} else {
		t.Logf("sha256sum not found: SHA256SUMS checked by line count only")
	}
}
