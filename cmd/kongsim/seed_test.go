package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// TestSeedCommand: `kongsim seed` writes what its flags say into a
// bootstrapped database and prints the rows per table; a spec it cannot
// seed is a usage error that writes nothing.
func TestSeedCommand(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.Postgres(t).NewDatabase(t)
	if code, out, errOut, err := kongsim.Migrate(ctx, dsn, "3.9.1", "bootstrap"); err != nil || code != 0 {
		t.Fatalf("bootstrap: exit %d %v %s%s", code, err, out, errOut)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"seed", "--dsn", dsn, "--rate-limiting", "5", "--services", "2"}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), "5 rate-limiting plugins need") {
		t.Fatalf("rate-limiting without scopes: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	args := []string{"seed", "--version", "3.9.1", "--dsn", dsn, "--services", "3", "--routes", "4", "--consumers", "2",
		"--key-auth", "2", "--rate-limiting", "5", "--tags", "bulk,load"}
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("seed: exit %d, %s", code, errb.String())
	}
	var counts map[string]int
	if err := json.Unmarshal(out.Bytes(), &counts); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	want := map[string]int{"services": 3, "routes": 4, "consumers": 2, "keyauth_credentials": 2, "plugins": 5}
	if !reflect.DeepEqual(counts, want) {
		t.Fatalf("printed %v, want %v", counts, want)
	}
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var got string
	if err := c.QueryRow(ctx, `SELECT (SELECT count(*) FROM services WHERE tags = '{bulk,load}') || ' ' ||
		(SELECT count(*) FROM routes WHERE tags = '{bulk,load}') || ' ' || (SELECT count(*) FROM plugins WHERE name = 'rate-limiting')`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "3 4 5" {
		t.Fatalf("tagged services, tagged routes, rate-limiting plugins = %s, want 3 4 5", got)
	}
}
