package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestPreflightRehearse runs `upshift preflight --rehearse` on the
// in-place example moved to 3.5.0 → 3.6.1, with kongsim's kong as Y's
// command, against a kongsim X on real PostgreSQL seeded with 50
// rate-limiting plugins: the rehearsal reports its figures and, with
// max_downtime = "1ms", that the engine would refuse the plan (exit 1);
// X's schema_meta is unchanged and no scratch database is left. Without
// backup.verify_dsn, --rehearse is a usage error that says so.
func TestPreflightRehearse(t *testing.T) {
	ctx := context.Background()
	pg := testenv.Postgres(t)
	xDSN := pg.NewDatabase(t)
	if code, out, errOut, err := kongsim.Migrate(ctx, xDSN, "3.5.0", "bootstrap"); err != nil || code != 0 {
		t.Fatalf("bootstrap: %d %v\n%s%s", code, err, out, errOut)
	}
	if _, err := kongsim.Seed(ctx, xDSN, "3.5.0", kongsim.SeedSpec{Consumers: 50, RateLimiting: 50}); err != nil {
		t.Fatal(err)
	}
	x, err := kongsim.Start(ctx, kongsim.Config{Version: "3.5.0", DSN: xDSN, AdminListen: "127.0.0.1:0", ProxyListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Stop() })
	dir := t.TempDir()
	kongBin := filepath.Join(dir, "kong")
	if out, err := exec.Command("go", "build", "-o", kongBin, "github.com/upshift-dev/upshift/internal/kongsim/cmd/kongsim-kong").CombinedOutput(); err != nil {
		t.Fatalf("build kongsim-kong: %v\n%s", err, out)
	}
	src, err := os.ReadFile("../../examples/in_place/staging.upshift.hcl")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(`"3.8.0"`, `"3.5.0"`, `"3.9.1"`, `"3.6.1"`, `max_downtime = "2m"`, `max_downtime = "1ms"`,
		`["/opt/kong-3.9.1/bin/kong"]`, `["env", "KONG_VERSION=3.6.1", "`+kongBin+`"]`).Replace(string(src))
	if !strings.Contains(text, kongBin) || !strings.Contains(text, `"1ms"`) || !strings.Contains(text, "rehearse = true") {
		t.Fatal("the example changed: no kong command, max_downtime or rehearse to replace")
	}
	planFile := filepath.Join(dir, "staging.upshift.hcl")
	if err := os.WriteFile(planFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KONG_ADMIN_URL", x.AdminURL())
	t.Setenv("KONG_ADMIN_TOKEN", "")
	t.Setenv("KONG_PROXY_URL", x.ProxyURL())
	t.Setenv("KONG_DSN", xDSN)
	t.Setenv("UPSHIFT_SCRATCH_DSN", pg.AdminDSN())
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(ctx, args, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		t.Logf("upshift %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		return code, out.String(), errOut.String()
	}
	before, err := kong.ReadSchema(ctx, xDSN)
	if err != nil {
		t.Fatal(err)
	}

	code, out, _ := run("preflight", planFile, "--rehearse", "--format", "json")
	var doc struct {
		Report    json.RawMessage
		Rehearsal struct {
			OK          bool   `json:"ok"`
			Error       string `json:"error"`
			UpMS        int64  `json:"up_ms"`
			FinishMS    int64  `json:"finish_ms"`
			StartMS     int64  `json:"start_ms"`
			PredictedMS int64  `json:"predicted_ms"`
			StartSource string `json:"start_source"`
			Exceeds     bool   `json:"exceeds_max_downtime"`
		}
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json: %v", err)
	}
	rh := doc.Rehearsal
	if code != 1 || !rh.OK || len(doc.Report) == 0 || !rh.Exceeds || rh.StartSource != "default" || rh.StartMS != 10000 || rh.PredictedMS != rh.UpMS+rh.FinishMS+rh.StartMS {
		t.Fatalf("--rehearse json: exit %d, %+v", code, rh)
	}
	code, out, _ = run("preflight", planFile, "--rehearse")
	if code != 1 || !strings.Contains(out, "kong migrations up ") || !strings.Contains(out, `EXCEEDS max_downtime = "1ms": the engine refuses this in_place plan`) {
		t.Fatalf("--rehearse text: exit %d", code)
	}
	after, err := kong.ReadSchema(ctx, xDSN)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before.Rows, after.Rows) {
		t.Fatalf("X's schema_meta changed: %+v → %+v", before.Rows, after.Rows)
	}
	c, err := pgx.Connect(ctx, pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var left int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname LIKE 'upshift_verify_%'`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d scratch databases left (%v)", left, err)
	}

	// A plan without verify_dsn lints only without rehearse = true and
	// verify = true (UP048, UP010): --rehearse asks for it by itself.
	noVerify := strings.NewReplacer(`verify_dsn = env("UPSHIFT_SCRATCH_DSN")`, "", "rehearse = true", "", "verify     = true", "").Replace(text)
	if err := os.WriteFile(planFile, []byte(noVerify), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run("preflight", planFile, "--rehearse"); code != 2 || !strings.Contains(errOut, "--rehearse needs backup.verify_dsn") {
		t.Fatalf("without verify_dsn: exit %d, want 2 with the reason", code)
	}
}
