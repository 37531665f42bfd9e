package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// bulk adds n services, n routes (one per service) and m consumers with SQL,
// cloning the rows populate wrote through the Admin API, so the
// rows are exactly what kongsim stores (about 0.3 s for 10,000 rows).
func bulk(t testing.TB, dsn string, n, m int) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, fmt.Sprintf(`
INSERT INTO services
SELECT (jsonb_populate_record(NULL::services, to_jsonb(t) || jsonb_build_object('id', md5('svc' || i)::uuid, 'name', 'svc-' || i, 'host', 'h' || i || '.internal'))).*
FROM generate_series(1, %[1]d) AS i, (SELECT * FROM services WHERE name = 'echo') AS t;
INSERT INTO routes
SELECT (jsonb_populate_record(NULL::routes, to_jsonb(t) || jsonb_build_object('id', md5('rt' || i)::uuid, 'name', 'r-' || i, 'paths', jsonb_build_array('/s' || i),
                                                    'service_id', md5('svc' || i)::uuid))).*
FROM generate_series(1, %[1]d) AS i, (SELECT * FROM routes WHERE name = 'echo-r') AS t;
INSERT INTO consumers
SELECT (jsonb_populate_record(NULL::consumers, to_jsonb(t) || jsonb_build_object('id', md5('c' || i)::uuid, 'username', 'user-' || i))).*
FROM generate_series(1, %[2]d) AS i, (SELECT * FROM consumers WHERE username = 'alice') AS t;`, n, m))
	if err != nil {
		t.Fatalf("bulk insert: %v", err)
	}
}

// kongDB is a bootstrapped 3.9.1 database with populate's entities plus
// 10,000 more, and a kongsim node on it.
func kongDB(t testing.TB) (string, *kongsim.Node) {
	t.Helper()
	dsn := bootstrapped(t, "3.9.1")
	n := startSim(t, kongsim.Config{Version: "3.9.1", DSN: dsn})
	populate(t, kongClient(t, n).GoKong())
	bulk(t, dsn, 4000, 2000)
	return dsn, n
}

func deckYAML(t testing.TB, n *kongsim.Node) []byte {
	t.Helper()
	d, err := Dump(context.Background(), kongClient(t, n))
	if err != nil {
		t.Fatal(err)
	}
	y, err := d.YAML("")
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// TestRoundTrip: backup (with the decK dump) → verify → restore into a new
// database → a kongsim node of X's version serves the restored copy, and
// its decK dump is byte-identical to the source's, with 10,010 entities.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	pg := testenv.Postgres(t)
	dsn, src := kongDB(t)
	dir := t.TempDir()

	// Without Admin: the decK dump written with a backup is checked in
	// TestDriverRetention; here each 10,000-entity dump costs seconds.
	m, err := Backup(ctx, Options{DSN: dsn, Dir: dir, Plan: "prod-eu", Commit: "abc123", KongVersion: "3.9.1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Fingerprint.Entities(); got != 10010 {
		t.Fatalf("manifest counts %v (%d entities), want 10010", m.Fingerprint.Counts, got)
	}
	if m.Size == 0 || len(m.SHA256) != 64 || len(m.SchemaMeta) == 0 || m.ArchiveFormat == "" {
		t.Fatalf("manifest incomplete: %+v", m)
	}
	if v, _, err := toolVersion(ctx, "pg_dump"); err != nil || m.PGDumpVersion != v {
		t.Fatalf("manifest names pg_dump %q, the pg_dump installed is %q (%v)", m.PGDumpVersion, v, err)
	}
	if err := m.Usable(); !errors.Is(err, ErrUnverified) {
		t.Fatalf("an unverified backup is usable: %v", err)
	}
	v, err := Verify(ctx, m, pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	if !v.OK || m.Usable() != nil {
		t.Fatalf("verification: %+v", v)
	}
	loaded, err := LoadManifest(m.Path())
	if err != nil || loaded.Usable() != nil {
		t.Fatalf("reloaded manifest: %v %v", err, loaded.Usable())
	}
	assertNoScratch(t, pg)

	target := newDBName(t, pg)
	res, err := Restore(ctx, RestoreOptions{Manifest: loaded, TargetDSN: target})
	if err != nil || res.Action != ActionCreated {
		t.Fatalf("restore: %+v %v", res, err)
	}
	dst := startSim(t, kongsim.Config{Version: "3.9.1", DSN: target})
	before, after := deckYAML(t, src), deckYAML(t, dst)
	if !bytes.Equal(before, after) {
		t.Fatalf("decK dumps differ after the round trip (%d vs %d bytes)", len(before), len(after))
	}
	if got := dbFingerprint(t, target); got.Hash != m.Fingerprint.Hash {
		t.Fatal("restored fingerprint differs")
	}
}

// newDBName returns the DSN of a database name that does not exist yet on
// the test server, dropped at cleanup.
func newDBName(t testing.TB, pg *testenv.PG) string {
	t.Helper()
	dsn := pg.NewDatabase(t) // reserve a unique name with testenv's cleanup
	c, _ := parseConn(dsn)
	admin, err := pgx.Connect(context.Background(), pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(context.Background(), "DROP DATABASE "+pgx.Identifier{c.Database}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	return dsn
}

func assertNoScratch(t testing.TB, pg *testenv.PG) {
	t.Helper()
	admin, err := pgx.Connect(context.Background(), pg.AdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var n int
	if err := admin.QueryRow(context.Background(), `SELECT count(*) FROM pg_database WHERE datname LIKE 'upshift\_verify\_%'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d scratch databases left behind (%v)", n, err)
	}
}
