package agent_test

import (
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestGitOpsFailsUnderCIWithoutCurl: without curl (the plan's hooks) the
// GitOps end-to-end test fails under CI instead of skipping.
func TestGitOpsFailsUnderCIWithoutCurl(t *testing.T) {
	t.Parallel()
	out, failed := testenv.RerunWithoutTools(t, "TestGitOpsEndToEnd")
	if !failed || !strings.Contains(out, "--- FAIL: TestGitOpsEndToEnd") || !strings.Contains(out, "curl") {
		t.Errorf("want TestGitOpsEndToEnd to fail, naming curl, with CI set and no curl; got (failed %v):\n%s", failed, out)
	}
}
