package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/upshift-dev/upshift/agent"
	"github.com/upshift-dev/upshift/internal/engine"
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
		Cmds:          map[string]func(ts *testscript.TestScript, neg bool, args []string){"status-agent": statusAgentCmd},
		Setup: func(env *testscript.Env) error {
			env.Setenv("NO_COLOR", "") // outputs are not terminals; keep NO_COLOR out of the picture
			// The default journal (docs/runs.md) lives in the script's work directory.
			env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, ".state"))
			return nil
		},
	})
}

// statusAgentCmd is the script command `status-agent RECORDS`: it writes
// RECORDS (journal records, one JSON object a line; intents and outcomes
// under a lease the command takes) into a fresh journal and serves an
// agent on it (no plans in its repository: the status comes from the
// journal) on loopback; $AGENT is its URL until the script ends.
func statusAgentCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: status-agent RECORDS")
	}
	ctx := context.Background()
	store, err := engine.OpenDir(ts.MkAbs("status-journal"), engine.DirOptions{})
	ts.Check(err)
	ts.Defer(func() { _ = store.Close() })
	f, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	leases := map[string]*engine.Lease{}
	intents := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r engine.Record
		ts.Check(json.Unmarshal(sc.Bytes(), &r))
		if r.Kind != engine.KindEvent {
			if leases[r.Plan] == nil {
				l, err := store.Acquire(ctx, r.Plan, "script", time.Hour)
				ts.Check(err)
				leases[r.Plan] = l
			}
			r.Token = leases[r.Plan].Token
		}
		if r.Kind == engine.KindOutcome && r.IntentSeq == 0 {
			r.IntentSeq = intents[r.Plan+" "+r.Step] // the step's last intent
		}
		stored, err := store.Append(ctx, r)
		ts.Check(err)
		if r.Kind == engine.KindIntent {
			intents[r.Plan+" "+r.Step] = stored.Seq
		}
	}
	ts.Check(sc.Err())
	a, err := agent.New(agent.Config{Source: emptySource{}, Store: store, Holder: "agent-script"})
	ts.Check(err)
	srv := httptest.NewServer(a.Handler())
	ts.Defer(srv.Close)
	ts.Setenv("AGENT", srv.URL)
}

// emptySource is a plans repository with no plans.
type emptySource struct{}

func (emptySource) Poll(context.Context) (agent.Snapshot, bool, error) {
	return agent.Snapshot{}, false, nil
}
func (emptySource) FilesAt(context.Context, string) (map[string][]byte, error) {
	return nil, nil
}
