package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// errMissing reports a server binary that is not installed.
type errMissing struct {
	binary  string // what was looked for
	pkg     string // the Debian package that provides it
	details string // where it was looked for
}

func (e *errMissing) Error() string {
	return fmt.Sprintf("%s not found (%s); install the Debian package %q", e.binary, e.details, e.pkg)
}

// needBinary ends the test when err says a binary is missing: a skip when
// the environment variable CI is unset, a failure when it is set (CI must
// not pass by skipping). Any other non-nil err fails the test.
func needBinary(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var miss *errMissing
	if errors.As(err, &miss) && os.Getenv("CI") == "" {
		t.Skipf("testenv: %v (skipped because CI is unset; with CI set this fails)", err)
	}
	t.Fatalf("testenv: %v", err)
}

// lookBinary finds name on PATH or at one of the absolute paths given.
func lookBinary(name, pkg string, paths ...string) (string, error) {
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	where := "PATH"
	if len(paths) > 0 {
		where = "PATH, " + strings.Join(paths, ", ")
	}
	return "", &errMissing{binary: name, pkg: pkg, details: "looked in " + where}
}

// runCmd runs cmd and returns its combined output in the error when it fails.
func runCmd(cmd *exec.Cmd) error {
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// logFileOnFailure registers a cleanup that prints the file's last
// maxBytes with t.Log when the test failed. The cleanup runs before
// cleanups registered earlier (t.Cleanup is last in, first out), so register
// it after the cleanup that removes the file's directory.
func logFileOnFailure(t testing.TB, what, path string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: %s log %s:\n%s", what, path, tail(path, 16<<10))
		}
	})
}

// tail returns at most the last n bytes of the file at path.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot stat: %v)", err)
	}
	off := max(fi.Size()-n, 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	return string(buf)
}

// NeedBinary returns the path of the tool name (on PATH or at one of
// paths), or ends the test as needBinary does: a skip when CI is unset, a
// failure when it is set. Every integration prerequisite a test looks up
// (curl, wrk, chromium, npm, ...) goes through it, so that CI cannot pass
// by skipping. pkg is the Debian package that provides it.
func NeedBinary(t testing.TB, name, pkg string, paths ...string) string {
	t.Helper()
	p, err := lookBinary(name, pkg, paths...)
	needBinary(t, err)
	return p
}

// OptionalBinary is NeedBinary for a tool that only part of a test uses:
// without CI a missing tool returns "" (and is logged) so that the rest of
// the test runs; with CI set it fails the test.
func OptionalBinary(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := lookBinary(name, pkg)
	if err != nil && os.Getenv("CI") == "" {
		t.Logf("testenv: %v (that part of the test is off because CI is unset; with CI set this fails)", err)
		return ""
	}
	needBinary(t, err)
	return p
}

// RerunWithoutTools runs the test named test (anchored: ^test$) of the
// running test binary again in a child process with an empty PATH and CI
// set, and returns the child's output and whether it failed. It checks
// that a test fails, rather than skips, under CI when its tools are
// missing.
func RerunWithoutTools(t testing.TB, test string) (output string, failed bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	env := []string{"PATH=" + t.TempDir(), "CI=true"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "CI=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("testenv: rerun %s: %v", test, err)
	}
	return string(out), err != nil
}
