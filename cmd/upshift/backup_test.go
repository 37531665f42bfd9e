package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestBackupRestoreCommands runs `upshift backup` and `upshift restore` on
// the dual-cluster example against a kongsim 3.8.0 node on real
// PostgreSQL: the backup is taken and verified; restore creates a copy,
// repeats as a no-op, and refuses X's own database (the example does not
// set rollback { restore = true }).
func TestBackupRestoreCommands(t *testing.T) {
	ctx := context.Background()
	pg := testenv.Postgres(t)
	xDSN := pg.NewDatabase(t)
	if code, out, errOut, err := kongsim.Migrate(ctx, xDSN, "3.8.0", "bootstrap"); err != nil || code != 0 {
		t.Fatalf("bootstrap: %d %v\n%s%s", code, err, out, errOut)
	}
	x, err := kongsim.Start(ctx, kongsim.Config{Version: "3.8.0", DSN: xDSN, AdminListen: "127.0.0.1:0", ProxyListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Stop() })
	admin := x.AdminURL()
	kc, err := kong.NewClient(&admin, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.Services.Create(ctx, &kong.Service{Name: kong.String("orders"), URL: kong.String("http://orders.internal:8080")}); err != nil {
		t.Fatal(err)
	}

	// The example plan, with its backup directory moved into the test's.
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/dual_cluster/prod-eu.upshift.hcl")
	if err != nil {
		t.Fatal(err)
	}
	backups := filepath.Join(dir, "backups")
	planFile := filepath.Join(dir, "prod-eu.upshift.hcl")
	text := strings.Replace(string(src), `"/var/lib/upshift/backups"`, `"`+backups+`"`, 1)
	if err := os.WriteFile(planFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KONG_X_ADMIN_URL", admin)
	t.Setenv("KONG_X_ADMIN_TOKEN", "")
	t.Setenv("KONG_X_DSN", xDSN)
	t.Setenv("UPSHIFT_SCRATCH_DSN", pg.AdminDSN())

	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(ctx, args, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		t.Logf("upshift %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		return code, out.String(), errOut.String()
	}
	code, out, _ := run("backup", planFile)
	if code != 0 || !strings.Contains(out, "verified:") {
		t.Fatalf("backup: exit %d", code)
	}
	manifests, _ := filepath.Glob(filepath.Join(backups, "*", "*.json"))
	if len(manifests) == 0 {
		manifests, _ = filepath.Glob(filepath.Join(backups, "*.json"))
	}
	if len(manifests) != 1 {
		t.Fatalf("want one manifest under %s, found %v", backups, manifests)
	}

	t.Setenv("RESTORE_TARGET", pg.NewDatabase(t)) // empty, dropped at cleanup
	if code, out, _ := run("restore", planFile, "--from", manifests[0], "--target-env", "RESTORE_TARGET"); code != 0 || !strings.Contains(out, "restored_into_empty") {
		t.Fatalf("restore into an empty database: exit %d", code)
	}
	if code, out, _ := run("restore", planFile, "--from", manifests[0], "--target-env", "RESTORE_TARGET"); code != 0 || !strings.Contains(out, "unchanged") {
		t.Fatalf("repeated restore: exit %d, want nothing to do", code)
	}
	t.Setenv("X_TARGET", xDSN)
	if code, _, errOut := run("restore", planFile, "--from", manifests[0], "--target-env", "X_TARGET"); code != 1 || errOut == "" {
		t.Fatalf("restore over X's database: exit %d, want a refusal", code)
	}
	if code, _, _ := run("restore", planFile, "--from", manifests[0]); code != 2 {
		t.Fatalf("restore without --target-env: exit %d, want 2", code)
	}

	// Without verify_dsn a database backup is taken but not verified: exit 1.
	noVerify := strings.Replace(strings.Replace(text, "verify     = true", "", 1), `verify_dsn = env("UPSHIFT_SCRATCH_DSN")`, "", 1)
	if err := os.WriteFile(planFile, []byte(noVerify), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run("backup", planFile); code != 1 || !strings.Contains(out, "fingerprint") || !strings.Contains(errOut, "not verified: the plan has no backup.verify_dsn") {
		t.Fatalf("backup without verify_dsn: exit %d, want 1 with the reason", code)
	}
}
