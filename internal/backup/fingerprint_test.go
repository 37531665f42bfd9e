package backup

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	gokong "github.com/kong/go-kong/kong"
	"github.com/upshift-dev/upshift/internal/kongsim"
)

func dbFingerprint(t testing.TB, dsn string) Fingerprint {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	fp, err := FingerprintDB(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

// TestFingerprintAgrees: the SQL fingerprint of a DB-mode node's database,
// the fingerprint of a decK dump of that node, and the fingerprint of a
// DB-less node loaded with the same configuration (by decK dump and by
// GET /config) are equal.
func TestFingerprintAgrees(t *testing.T) {
	ctx := context.Background()
	dsn := bootstrapped(t, "3.9.1")
	n := startSim(t, kongsim.Config{Version: "3.9.1", DSN: dsn})
	c := kongClient(t, n)
	populate(t, c.GoKong())
	// Members whose value is empty ([] or {}): the database keeps them, a
	// decK dump (go-kong's omitempty) drops them; the fingerprint ignores
	// them on both sides.
	execSQL(t, dsn, `UPDATE routes SET hosts = '{}', headers = '{}' WHERE name = 'echo-r'`)

	sqlFP := dbFingerprint(t, dsn)
	d, err := Dump(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	deckFP, err := d.Fingerprint()
	if err != nil {
		t.Fatal(err)
	}
	if sqlFP.Hash != deckFP.Hash {
		t.Fatalf("SQL fingerprint %s (%v) != decK fingerprint %s (%v)", sqlFP.Hash, sqlFP.Counts, deckFP.Hash, deckFP.Counts)
	}
	if sqlFP.Entities() != 10 {
		t.Fatalf("counts %v: want 10 entities", sqlFP.Counts)
	}

	y, err := d.YAML("")
	if err != nil {
		t.Fatal(err)
	}
	dbless := startSim(t, kongsim.Config{Version: "3.9.1", Database: "off", DeclarativeConfig: y})
	dc := kongClient(t, dbless)
	d2, err := Dump(ctx, dc)
	if err != nil {
		t.Fatal(err)
	}
	if fp, err := d2.Fingerprint(); err != nil || fp.Hash != sqlFP.Hash {
		t.Fatalf("DB-less decK fingerprint %v %v, want %s", fp, err, sqlFP.Hash)
	}
	conf, err := dc.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fp, err := FingerprintDeclarative(conf); err != nil || fp.Hash != sqlFP.Hash {
		t.Fatalf("GET /config fingerprint %v %v, want %s\n%s", fp, err, sqlFP.Hash, conf)
	}
}

// TestFingerprintChangesOnWriteNotOnNoop: a real change moves the
// fingerprint; a PATCH that sets the same values (bumping updated_at) does
// not.
func TestFingerprintChangesOnWriteNotOnNoop(t *testing.T) {
	ctx := context.Background()
	dsn := bootstrapped(t, "3.9.1")
	n := startSim(t, kongsim.Config{Version: "3.9.1", DSN: dsn})
	gk := kongClient(t, n).GoKong()
	populate(t, gk)
	before := dbFingerprint(t, dsn)

	// Age the row's timestamps so the no-op PATCH visibly moves updated_at.
	execSQL(t, dsn, `UPDATE services SET updated_at = to_timestamp(1000) WHERE name = 'echo'`)
	if got := dbFingerprint(t, dsn); got.Hash != before.Hash {
		t.Fatal("a timestamp-only change moved the fingerprint")
	}
	svc, err := gk.Services.Update(ctx, &gokong.Service{ID: gokong.String("echo"), Host: gokong.String("echo.internal")})
	if err != nil {
		t.Fatal(err)
	}
	if svc.UpdatedAt == nil || *svc.UpdatedAt == 1000 {
		t.Fatalf("the no-op PATCH did not bump updated_at: %v", svc.UpdatedAt)
	}
	if got := dbFingerprint(t, dsn); got.Hash != before.Hash {
		t.Fatalf("no-op write changed the fingerprint: %s -> %s", before.Hash, got.Hash)
	}
	if _, err := gk.Services.Update(ctx, &gokong.Service{ID: gokong.String("echo"), Host: gokong.String("echo2.internal")}); err != nil {
		t.Fatal(err)
	}
	after := dbFingerprint(t, dsn)
	if after.Hash == before.Hash {
		t.Fatal("a host change did not change the fingerprint")
	}
	if err := gk.Services.Delete(ctx, gokong.String("echo")); err == nil {
		t.Fatal("delete of a referenced service succeeded")
	}
	if _, err := gk.Consumers.Create(ctx, &gokong.Consumer{Username: gokong.String("bob")}); err != nil {
		t.Fatal(err)
	}
	if got := dbFingerprint(t, dsn); got.Hash == after.Hash || got.Counts["consumers"] != 2 {
		t.Fatalf("a create did not change the fingerprint: %+v", got)
	}
}

func TestNumericText(t *testing.T) {
	for in, want := range map[string]string{"60000": "60000", "0.50": "0.50", "1e3": "1000", "1.5e-3": "0.0015", "-0": "0", "1.50E1": "15.0", "-2.5": "-2.5", "0": "0"} {
		if got, err := numericText(in); err != nil || got != want {
			t.Errorf("numericText(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
