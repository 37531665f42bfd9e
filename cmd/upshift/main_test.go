package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestMain lets the test binary act as the upshift command inside scripts,
// and stops the test PostgreSQL cluster (testenv) after the tests.
func TestMain(m *testing.M) {
	testscript.Main(withTestenv{m}, map[string]func(){"upshift": main})
}

// withTestenv runs the tests through testenv.Main, which owns the shared
// PostgreSQL cluster's lifetime.
type withTestenv struct{ m *testing.M }

func (w withTestenv) Run() int {
	// Commands run in-process with default flags journal in the per-user
	// default (docs/runs.md): a throwaway one, never the real user's.
	dir, err := os.MkdirTemp("", "upshift-cmd-state-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	os.Setenv("XDG_STATE_HOME", dir)
	return testenv.Main(w.m)
}

// TestScript runs testdata/script/*.txtar: lint-*, fmt-* and usage-*
// scripts checking stdout, stderr and the exit status of the real binary.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		// UPSHIFT_UPDATE_SCRIPTS=1 rewrites the expected files of failing
		// cmp lines; review the diff before committing.
		UpdateScripts: os.Getenv("UPSHIFT_UPDATE_SCRIPTS") != "",
		Setup: func(env *testscript.Env) error {
			env.Setenv("NO_COLOR", "") // outputs are not terminals; keep NO_COLOR out of the picture
			// The default journal (docs/runs.md) lives in the script's work directory.
			env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, ".state"))
			return nil
		},
	})
}
