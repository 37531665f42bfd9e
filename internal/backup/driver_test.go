package backup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gokong "github.com/kong/go-kong/kong"

	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/testenv"
)

// TestDriverRetention: three verified backups with keep = 2 leave the two
// newest (files and manifests); Latest is the newest; the live
// fingerprint equals the backup's until a write.
func TestDriverRetention(t *testing.T) {
	ctx := context.Background()
	dsn := bootstrapped(t, "3.9.1")
	n := startSim(t, kongsim.Config{Version: "3.9.1", DSN: dsn})
	populate(t, kongClient(t, n).GoKong())
	dir := t.TempDir()
	clock := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	d := &Driver{Options: Options{DSN: dsn, Admin: kongClient(t, n), Dir: dir, Plan: "p", Now: func() time.Time { clock = clock.Add(time.Minute); return clock }},
		VerifyDSN: testenv.Postgres(t).AdminDSN(), Keep: 2}
	var names []string
	for i := 0; i < 3; i++ {
		m, err := d.Backup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Usable() != nil {
			t.Fatalf("backup %d unusable: %v", i, m.Usable())
		}
		names = append(names, m.Name)
	}
	list, err := List(dir, "p")
	if err != nil || len(list) != 2 || list[0].Name != names[1] || list[1].Name != names[2] {
		t.Fatalf("after pruning: %v %v", list, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, names[0]+"*"))
	if len(files) != 0 {
		t.Fatalf("pruned backup left files: %v", files)
	}
	latest, err := d.Latest(ctx)
	if err != nil || latest.Name != names[2] {
		t.Fatalf("latest: %v %v", latest, err)
	}
	// The decK dump written with the backup is the node's configuration.
	deck, err := os.ReadFile(filepath.Join(dir, latest.Deck.File))
	if err != nil {
		t.Fatal(err)
	}
	if fp, err := FingerprintDeclarative(deck); err != nil || fp.Hash != latest.Fingerprint.Hash {
		t.Fatalf("decK dump fingerprint %v %v, backup %s", fp, err, latest.Fingerprint.Hash)
	}
	fp, err := d.Fingerprint(ctx)
	if err != nil || fp.Hash != latest.Fingerprint.Hash {
		t.Fatalf("live fingerprint %v %v, backup %s", fp, err, latest.Fingerprint.Hash)
	}
	if _, err := kongClient(t, n).GoKong().Consumers.Create(ctx, &gokong.Consumer{Username: gokong.String("late")}); err != nil {
		t.Fatal(err)
	}
	if fp, _ := d.Fingerprint(ctx); fp.Hash == latest.Fingerprint.Hash {
		t.Fatal("drift not detected")
	}
}

// TestDBLessBackup: a DB-less node is backed up with GET /config and
// verified (VerifyDeclarative); the saved configuration loads into a fresh
// DB-less node with the same fingerprint.
func TestDBLessBackup(t *testing.T) {
	ctx := context.Background()
	conf := []byte(`{"_format_version":"3.0","services":[{"id":"9a3b6b2e-4c52-4f0c-9b0a-0c9b3e3b2a11","name":"echo","host":"echo.internal","routes":[{"id":"1f0f0c1e-8b0e-4a57-a0e3-77d9e1c1b2c3","name":"r","paths":["/echo"]}]}],"consumers":[{"id":"2d1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b","username":"alice","keyauth_credentials":[{"id":"3e2b3c4d-5e6f-4a71-8b8c-0d1e2f3a4b5c","key":"k1"}]}]}`)
	n := startSim(t, kongsim.Config{Version: "3.9.1", Database: "off", DeclarativeConfig: conf})
	d := &Driver{Options: Options{Admin: kongClient(t, n), Dir: t.TempDir(), Plan: "edge"}}
	m, err := d.Backup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindDeclarative || m.Fingerprint.Entities() != 4 {
		t.Fatalf("manifest: %+v", m)
	}
	if err := m.Usable(); err != nil {
		t.Fatalf("the driver's declarative backup is not verified: %v", err)
	}
	saved, err := os.ReadFile(m.ArchivePath())
	if err != nil {
		t.Fatal(err)
	}
	n2 := startSim(t, kongsim.Config{Version: "3.9.1", Database: "off"})
	if err := kongClient(t, n2).PostConfig(ctx, saved); err != nil {
		t.Fatal(err)
	}
	fp, err := (&Driver{Options: Options{Admin: kongClient(t, n2)}}).Fingerprint(ctx)
	if err != nil || fp.Hash != m.Fingerprint.Hash {
		t.Fatalf("restored DB-less fingerprint %v %v, want %s", fp, err, m.Fingerprint.Hash)
	}
}

// TestParseConnKeepsPasswordOutOfArgv: the argv form of a DSN never holds
// the password; PGPASSWORD does.
func TestParseConnKeepsPasswordOutOfArgv(t *testing.T) {
	for _, dsn := range []string{
		"postgres://kong:s3cret@127.0.0.1:5432/kong?sslmode=disable",
		"postgres://kong@127.0.0.1:5432/kong?sslmode=disable&password=s3cret",
		"host=127.0.0.1 port=5432 user=kong password=s3cret dbname=kong sslmode=disable",
		"host=127.0.0.1 password='s3 cret' dbname=kong",
	} {
		c, err := parseConn(dsn)
		if err != nil {
			t.Fatalf("%v", err)
		}
		if strings.Contains(c.Arg, "s3") || c.Database != "kong" || len(c.Env) != 1 || !strings.HasPrefix(c.Env[0], "PGPASSWORD=s3") {
			t.Errorf("parseConn: arg %q env-count %d db %q", c.Arg, len(c.Env), c.Database)
		}
	}
	if _, err := parseConn("postgres://kong:s3cret@[bad"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad DSN error: %v", err)
	}
}
