package engine

import (
	"os"
	"testing"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestMain stops the throwaway PostgreSQL cluster that testenv starts on
// first use (the journal's PostgreSQL store tests, and any other engine test
// that asks for testenv.Postgres). It is the package's only TestMain.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
