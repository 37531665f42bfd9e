package kongsim

import (
	"context"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestMigrateBootstraps: the exported Migrate prepares a database a node
// starts on, and reports Kong's exit codes.
func TestMigrateBootstraps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testenv.Postgres(t).NewDatabase(t)
	if code, _, _, err := Migrate(ctx, dsn, "3.9.1", "list"); err != nil || code != 3 {
		t.Fatalf("list on a fresh database: exit %d, %v; want 3 (needs bootstrap)", code, err)
	}
	if code, out, errOut, err := Migrate(ctx, dsn, "3.9.1", "bootstrap"); err != nil || code != 0 || !strings.Contains(out, "Database is up-to-date") {
		t.Fatalf("bootstrap: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	startNode(t, Config{Version: "3.9.1", DSN: dsn})
}
