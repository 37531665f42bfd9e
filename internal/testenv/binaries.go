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
