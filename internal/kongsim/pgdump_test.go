package kongsim

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestPgDumpRestoreCarriesConfig: entities live in PostgreSQL, so a
// pg_dump of one database restored into another gives a node there the
// same configuration (kong-facts §4.4, DB-native backup).
func TestPgDumpRestoreCarriesConfig(t *testing.T) {
	for _, bin := range []string{"pg_dump", "pg_restore"} {
		testenv.NeedBinary(t, bin, "postgresql-client")
	}
	ctx := context.Background()
	src := bootstrapped(t, "3.8.0")
	a := startNode(t, Config{Version: "3.8.0", DSN: src})
	populate(t, client(t, a))
	before := contentJSON(t, dumpContent(t, client(t, a)))

	dump := filepath.Join(t.TempDir(), "kong.dump")
	if out, err := exec.CommandContext(ctx, "pg_dump", "-Fc", "--no-owner", "-f", dump, "-d", src).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	dst := testenv.Postgres(t).NewDatabase(t)
	if out, err := exec.CommandContext(ctx, "pg_restore", "--no-owner", "-d", dst, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	b := startNode(t, Config{Version: "3.8.0", DSN: dst})
	if after := contentJSON(t, dumpContent(t, client(t, b))); after != before {
		t.Fatalf("restored database dumps differently:\nbefore %s\nafter %s", before, after)
	}
	if _, err := client(t, b).Consumers.Get(ctx, kong.String("alice")); err != nil {
		t.Fatal(err)
	}
}
