package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMissingBinary runs this test binary again with a missing binary: a
// skip without CI, a failure with CI set.
func TestMissingBinary(t *testing.T) {
	if os.Getenv("TESTENV_MISSING_CHILD") == "1" {
		_, err := lookBinary("upshift-no-such-binary", "no-such-package", "/nonexistent/upshift-no-such-binary")
		needBinary(t, err)
		t.Fatal("needBinary returned for a missing binary")
	}
	t.Parallel()
	for _, ci := range []string{"", "true"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingBinary$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTENV_MISSING_CHILD=1", "CI="+ci)
		out, err := cmd.CombinedOutput()
		s := string(out)
		if !strings.Contains(s, `install the Debian package "no-such-package"`) {
			t.Errorf("CI=%q: output does not name the package:\n%s", ci, s)
		}
		if ci == "" && (err != nil || !strings.Contains(s, "--- SKIP")) {
			t.Errorf("CI unset: want a skip, got %v:\n%s", err, s)
		}
		if ci != "" && (err == nil || !strings.Contains(s, "--- FAIL")) {
			t.Errorf("CI set: want a failure, got %v:\n%s", err, s)
		}
	}
}
