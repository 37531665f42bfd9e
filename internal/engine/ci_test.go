package engine

import (
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestCrashMatrixFailsUnderCIWithoutCurl: without curl (the plans' hooks)
// the crash matrix fails under CI instead of skipping.
func TestCrashMatrixFailsUnderCIWithoutCurl(t *testing.T) {
	t.Parallel()
	out, failed := testenv.RerunWithoutTools(t, "TestCrashMatrix")
	if !failed || !strings.Contains(out, "--- FAIL: TestCrashMatrix") || !strings.Contains(out, "curl") {
		t.Errorf("want TestCrashMatrix to fail, naming curl, with CI set and no curl; got (failed %v):\n%s", failed, out)
	}
}
