package agent

import (
	"os"
	"testing"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestMain stops the test PostgreSQL cluster (testenv) after the tests.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
