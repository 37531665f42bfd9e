package fleet

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestHooksThroughCurl starts and stops a node with the real curl binary,
// as a plan's hooks do; a start Kong refuses makes curl fail.
func TestHooksThroughCurl(t *testing.T) {
	testenv.NeedBinary(t, "curl", "curl")
	pg := testenv.Postgres(t)
	ctx := context.Background()
	good := pg.NewDatabase(t)
	if code, out, errOut, err := kongsim.Migrate(ctx, good, "3.9.1", "bootstrap"); err != nil || code != 0 {
		t.Fatalf("bootstrap: %d %v %s %s", code, err, out, errOut)
	}
	f := New(nil)
	t.Cleanup(func() { _ = f.Close() })
	if err := f.Add("y", kongsim.Config{Version: "3.9.1", DSN: good}); err != nil {
		t.Fatal(err)
	}
	if err := f.Add("empty", kongsim.Config{Version: "3.9.1", DSN: pg.NewDatabase(t)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Serve(); err != nil {
		t.Fatal(err)
	}
	run := func(argv []string) (string, error) {
		out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
		return string(out), err
	}
	for range 2 { // idempotent
		if out, err := run(f.Hook("y", "start")); err != nil {
			t.Fatalf("start hook: %v %s", err, out)
		}
	}
	admin, _, _ := f.URLs("y")
	resp, err := http.Get(admin + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET / on the started node: %v", err)
	}
	resp.Body.Close()
	for range 2 {
		if out, err := run(f.Hook("y", "stop")); err != nil {
			t.Fatalf("stop hook: %v %s", err, out)
		}
	}
	if f.Running("y") {
		t.Fatal("y still runs")
	}
	if _, err := http.Get(admin + "/"); err == nil {
		t.Fatal("the stopped node still answers")
	}
	// Kong refuses to start on a database that is not bootstrapped.
	// The hook prints the fleet's reason, not only curl's "returned
	// error: 500" (issue H6: a failed start said nothing more).
	out, err := run(f.Hook("empty", "start"))
	if err == nil || !strings.Contains(out, "bootstrap") {
		t.Fatalf("start on an empty database: err %v, output %q", err, out)
	}
	t.Logf("refused start: %s", strings.TrimSpace(out))
	if out, err := run(f.Hook("nope", "start")); err == nil {
		t.Fatalf("unknown node: %s", out)
	}
	if got := strings.Join(f.Calls(), ","); got != "start y,start y,stop y,stop y,start empty,start nope" {
		t.Errorf("calls %q", got)
	}
}

// TestStartHookSaysPortInUse: a node whose port another process took
// fails to start, and the hook's output says which port and why (issue
// H6: the random-kill test's start hook failed with a bare 500).
func TestStartHookSaysPortInUse(t *testing.T) {
	testenv.NeedBinary(t, "curl", "curl")
	f := New(nil)
	t.Cleanup(func() { _ = f.Close() })
	if err := f.Add("y", kongsim.Config{Version: "3.9.1", Database: "off"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Serve(); err != nil {
		t.Fatal(err)
	}
	c, _ := f.Config("y")
	l, err := net.Listen("tcp", c.ProxyListen) // the other process
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	argv := f.Hook("y", "start")
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "listen proxy on "+c.ProxyListen) || !strings.Contains(string(out), "address already in use") {
		t.Fatalf("start with its proxy port taken: err %v, output %q", err, out)
	}
}
