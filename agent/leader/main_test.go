package leader

import (
	"os"
	"testing"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestMain stops the throwaway PostgreSQL cluster the tests start.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
