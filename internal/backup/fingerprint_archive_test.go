package backup

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/kongsim"
)

// noQuerier fails every query: a fingerprint computed with it was read
// from the archive alone.
type noQuerier struct{ Querier }

func (noQuerier) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, errors.New("the database was queried")
}

// TestArchiveFingerprintEqualsLive: the fingerprint Backup reads from
// pg_dump's output equals FingerprintDB on the live database, on a
// database with every entity kind (through the Admin API), seeded rows,
// and values that exercise COPY's and array_out's escapes, jsonb's nulls
// and empty members; and every kind is read from the archive (none from
// the database).
func TestArchiveFingerprintEqualsLive(t *testing.T) {
	for _, v := range []string{"3.4.2", "3.9.1"} {
		t.Run(v, func(t *testing.T) {
			ctx := context.Background()
			dsn := bootstrapped(t, v)
			n := startSim(t, kongsim.Config{Version: v, DSN: dsn})
			populateAll(t, kongClient(t, n).GoKong(), true)
			if _, err := kongsim.Seed(ctx, dsn, v, kongsim.SeedSpec{Services: 40, Routes: 40, Consumers: 40, KeyAuth: 40, RateLimiting: 40}); err != nil {
				t.Fatal(err)
			}
			execSQL(t, dsn, `UPDATE services SET tags = ARRAY['a,b', 'q"uote', 'back\slash', 'NULL', '', E'tab\there', E'new\nline', 'ünï', ' sp ', '{x}', E'\u0001'] WHERE name = 'orders';
				UPDATE routes SET headers = '{"x-a": ["v\"1", "line\nbreak", null], "x-b": null, "x-c": {}}', paths = ARRAY['~/orders/\d+$', '/a b'],
					hosts = '{}', sources = ARRAY['{"ip": "10.0.0.1", "port": null}', NULL]::jsonb[], destinations = '{}', snis = ARRAY[NULL, 'x']::text[] WHERE name = 'orders-r';
				UPDATE consumers SET custom_id = E'b\\-2\ttab\r' WHERE custom_id = 'b-2';
				UPDATE plugins SET config = config || '{"nested": {"n": null, "e": {}, "l": [null, 1.50, 1e3, {"a": null, "b": "x"}, [null]]}, "s": "null", "q": "a\"null\\", "z": {"y": null}}' WHERE name = 'cors';
				UPDATE plugins SET config = '{}' WHERE name = 'prometheus'`)

			dir := t.TempDir()
			var logs strings.Builder
			m, err := Backup(ctx, Options{DSN: dsn, Dir: dir, Plan: "p", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(logs.String(), "from the database") {
				t.Errorf("Backup read the fingerprint from the database:\n%s", logs.String())
			}
			live := dbFingerprint(t, dsn)
			if m.Fingerprint.Hash != live.Hash || !maps.Equal(m.Fingerprint.Counts, live.Counts) {
				t.Fatalf("backup fingerprint %s %v, live %s %v", m.Fingerprint.Hash, m.Fingerprint.Counts, live.Hash, live.Counts)
			}
			for _, k := range []string{"certificates", "snis", "ca_certificates", "services", "routes", "plugins", "consumers",
				"keyauth_credentials", "basicauth_credentials", "hmacauth_credentials", "jwt_secrets", "acls",
				"oauth2_credentials", "upstreams", "targets", "vaults", "key_sets", "keys"} {
				if live.Counts[k] == 0 {
					t.Errorf("no %s in the fixture (%v)", k, live.Counts)
				}
			}

			// The same archive, read again: every kind comes from it.
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			ek, err := readEntityKinds(ctx, conn)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(m.ArchivePath())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			af := newArchiveFingerprint(ek, "public")
			if err := af.read(f); err != nil {
				t.Fatal(err)
			}
			read := af.complete()
			for _, k := range ek.kinds {
				if _, ok := read[k]; !ok {
					t.Errorf("kind %s not read from the archive", k)
				}
			}
			fp, err := af.fingerprint(ctx, noQuerier{})
			if err != nil {
				t.Fatal(err)
			}
			if fp.Hash != live.Hash {
				t.Fatalf("archive fingerprint %s, live %s", fp.Hash, live.Hash)
			}
		})
	}
}

// TestArchiveFingerprintPartial: a kind the archive reader cannot render
// (routes, given an inet column) is read with SQL on the snapshot, between
// kinds read from the archive before it (consumers, plugins) and after it
// (services, targets, upstreams); the fingerprint still equals the live
// one, so the kinds after it were hashed in the kinds' order.
func TestArchiveFingerprintPartial(t *testing.T) {
	ctx := context.Background()
	dsn := bootstrapped(t, "3.9.1")
	if _, err := kongsim.Seed(ctx, dsn, "3.9.1", kongsim.SeedSpec{Services: 30, Routes: 30, Consumers: 30, KeyAuth: 30, RateLimiting: 30}); err != nil {
		t.Fatal(err)
	}
	execSQL(t, dsn, `ALTER TABLE routes ADD COLUMN upshift_test inet; UPDATE routes SET upshift_test = '10.0.0.1'`)
	var logs strings.Builder
	m, err := Backup(ctx, Options{DSN: dsn, Dir: t.TempDir(), Plan: "p", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "fingerprint partly read from the database") {
		t.Fatalf("routes was not read from the database:\n%s", logs.String())
	}
	live := dbFingerprint(t, dsn)
	if m.Fingerprint.Hash != live.Hash || !maps.Equal(m.Fingerprint.Counts, live.Counts) {
		t.Fatalf("backup fingerprint %s %v, live %s %v", m.Fingerprint.Hash, m.Fingerprint.Counts, live.Hash, live.Counts)
	}
	for _, k := range []string{"consumers", "routes", "services"} {
		if live.Counts[k] == 0 {
			t.Errorf("no %s in the fixture (%v)", k, live.Counts)
		}
	}
}
