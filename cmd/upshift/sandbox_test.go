package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestCountsText: summaries print counts as people write them.
func TestCountsText(t *testing.T) {
	if got := countsText(map[string]int{"3.9.1": 170, "3.8.0": 283}); got != "3.8.0: 283, 3.9.1: 170" {
		t.Errorf("countsText = %q", got)
	}
}

// TestSandboxSeed: --seed N fills X's database before the upgrade (X's
// Admin API lists N of each kind), and is refused where there is no
// database.
func TestSandboxSeed(t *testing.T) {
	if code, _, errOut := runCmd("sandbox", "--strategy", "rolling", "--seed", "3"); code != exitUsage || !strings.Contains(errOut, "--seed needs a database") {
		t.Fatalf("rolling with --seed: exit %d, %s", code, errOut)
	}
	ctx := context.Background()
	var out strings.Builder
	sb := &sandbox{strategy: "blue_green", dir: t.TempDir(), out: &out, seed: 7}
	if err := sb.setupClusters(ctx, t, "3.9.0", "3.9.1", "upshift"); err != nil {
		t.Fatal(err)
	}
	admin, _, _ := sb.fleet.URLs("x")
	for path, want := range map[string]int{"/services": 8, "/routes": 9, "/consumers": 8, "/key-auths": 8, "/plugins": 7 + 2} {
		res, err := http.Get(admin + path + "?size=1000")
		if err != nil {
			t.Fatal(err)
		}
		var page struct{ Data []any }
		err = json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != want {
			t.Errorf("%s lists %d, want %d (the sandbox's own plus 7 seeded)", path, len(page.Data), want)
		}
	}
	if !strings.Contains(out.String(), "X's database seeded") {
		t.Errorf("the sandbox does not say it seeded:\n%s", out.String())
	}
}
