package engine

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/kongsim/fleet"
)

// TestFleetStartHookErrorSaysWhy (issue H6): a kongsim fleet's start hook
// that fails, run as the engine runs hooks, gives an error naming the
// cause (here a port another process took), not only curl's "returned
// error: 500": the random-kill test's failure said nothing more.
func TestFleetStartHookErrorSaysWhy(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	f := fleet.New(nil)
	t.Cleanup(func() { _ = f.Close() })
	if err := f.Add("y", kongsim.Config{Version: "3.9.1", Database: "off"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Serve(); err != nil {
		t.Fatal(err)
	}
	c, _ := f.Config("y")
	l, err := net.Listen("tcp", c.StatusListen) // the other process
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = ExecHooks{}.Run(context.Background(), f.Hook("y", "start"))
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("start hook with Y's status port taken: %v", err)
	}
	t.Logf("hook error: %v", err)
}
