package preflight

import (
	"context"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongrelease"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/preflight/rules"
)

// TestRunY: Y's side once Y answers. A plugin in use that Y does not
// offer is PFR-5 even when PFX-1 is acknowledged; a Y on another version
// than to.version is PFR-2; a Y that does not answer is an error
// (PFR-1), never a clean report, and the report says it was not read.
func TestRunY(t *testing.T) {
	ctx := context.Background()
	y, err := kongsim.Start(ctx, kongsim.Config{Version: "3.9.1", Database: "off", AdminListen: "127.0.0.1:0", ProxyListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = y.Stop() })
	yc, err := kong.New(kong.Options{AdminURL: y.AdminURL()})
	if err != nil {
		t.Fatal(err)
	}
	o := YOptions{Y: yc, From: kongrelease.MustParse("3.8.0"), To: kongrelease.MustParse("3.9.1"),
		InUseOnX: []string{"key-auth", "my-auth"}, Acknowledge: []string{"PFX-1"}}
	r, err := RunY(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if r.Clean || len(r.Errors()) != 1 || r.Errors()[0].Rule != ruleYPlugin || r.Unread() ||
		!strings.Contains(r.Blocking(4), "PFR-5 Y does not offer plugins in use (my-auth not in Y's plugins.available_on_server)") {
		t.Errorf("my-auth in use, Y without it: clean %v, errors %+v, blocking %q", r.Clean, r.Errors(), r.Blocking(4))
	}

	o.InUseOnX = []string{"key-auth"}
	if r, err = RunY(ctx, o); err != nil || !r.Clean || r.Y.Answered != "3.9.1" {
		t.Errorf("bundled plugins only: %v, clean %v, errors %+v, Y %+v", err, r.Clean, r.Errors(), r.Y)
	}

	o.To = kongrelease.MustParse("3.9.0")
	if r, err = RunY(ctx, o); err != nil || r.Clean || r.Errors()[0].Rule != ruleIdentity {
		t.Errorf("Y on 3.9.1, to.version 3.9.0: %v, errors %+v", err, r.Errors())
	}

	down, err := kong.New(kong.Options{AdminURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	o.Y, o.To = down, kongrelease.MustParse("3.9.1")
	r, err = RunY(ctx, o)
	if err != nil || r.Clean || !r.Unread() || r.Y.Error == "" || r.Counts[rules.Error] != 1 {
		t.Errorf("Y not answering: %v, clean %v, unread %v, Y %+v, findings %+v", err, r.Clean, r.Unread(), r.Y, r.Findings)
	}
}
