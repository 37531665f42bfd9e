package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/upshift-dev/upshift/internal/kongsim"
)

// edgeConfig is a DB-less configuration of the common kinds, nested as
// people write it: services with routes and plugins, a global plugin,
// consumers with credentials and a consumer plugin, an upstream with
// targets.
const edgeConfig = `_format_version: "3.0"
services:
- id: 9a3b6b2e-4c52-4f0c-9b0a-0c9b3e3b2a11
  name: orders
  host: orders.internal
  tags: [team-a]
  routes:
  - id: 1f0f0c1e-8b0e-4a57-a0e3-77d9e1c1b2c3
    name: orders
    paths: [/orders]
    plugins:
    - id: 5a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d
      name: rate-limiting
      config: {minute: 10}
  - id: 2e1f0c1e-8b0e-4a57-a0e3-77d9e1c1b2c4
    name: health
    paths: [/health]
  plugins:
  - id: 6b2c3d4e-5f6a-4b7c-9d8e-9f0a1b2c3d4e
    name: key-auth
plugins:
- id: 7c3d4e5f-6a7b-4c8d-8e9f-0a1b2c3d4e5f
  name: cors
  config: {origins: ["*"]}
consumers:
- id: 2d1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b
  username: alice
  keyauth_credentials:
  - id: 3e2b3c4d-5e6f-4a71-8b8c-0d1e2f3a4b5c
    key: alice-key
  acls:
  - id: 4f3c4d5e-6f7a-4b82-9c9d-1e2f3a4b5c6d
    group: admins
  plugins:
  - id: 8d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f6a
    name: correlation-id
upstreams:
- id: 0e5f6a7b-8c9d-4e0f-9a1b-2c3d4e5f6a7b
  name: up1
  targets:
  - id: 1f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b8c
    target: 10.0.0.1:80
    weight: 50
`

func dblessNode(t testing.TB, conf string) *kongsim.Node {
	t.Helper()
	cfg := kongsim.Config{Version: "3.9.1", Database: "off"}
	if conf != "" {
		cfg.DeclarativeConfig = []byte(conf)
	}
	return startSim(t, cfg)
}

// TestDeclarativeBackupVerified: a DB-less node's backup (GET /config) is
// verified as it is taken: decK's validation reads Kong's export with the
// manifest's counts, the fingerprint matches X's, and the manifest says so.
func TestDeclarativeBackupVerified(t *testing.T) {
	ctx := context.Background()
	n := dblessNode(t, edgeConfig)
	d := &Driver{Options: Options{Admin: kongClient(t, n), Dir: t.TempDir(), Plan: "edge", KongVersion: "3.9.1"}}
	m, err := d.Backup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Usable(); err != nil {
		t.Fatalf("a verified declarative backup is unusable: %v", err)
	}
	want := map[string]int64{"services": 1, "routes": 2, "plugins": 4, "consumers": 1, "keyauth_credentials": 1, "acls": 1, "upstreams": 1, "targets": 1}
	if got := m.Fingerprint.Counts; countsText(got) != countsText(want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
	saved, err := LoadManifest(m.Path())
	if err != nil {
		t.Fatal(err)
	}
	if v := saved.Verification; v == nil || !v.OK || !strings.Contains(v.Reason, "decK") {
		t.Fatalf("manifest's verification: %+v", v)
	}
	// Verify of a database-level test restore does not overwrite it.
	if _, err := Verify(ctx, saved, "postgres://127.0.0.1:1/none"); err == nil {
		t.Fatal("Verify accepted a declarative backup")
	}
	if again, _ := LoadManifest(m.Path()); again.Usable() != nil {
		t.Fatalf("Verify overwrote the declarative verification: %v", again.Usable())
	}
}

// tamper rewrites a backup's archive with edit applied to its parsed
// configuration; consistent also rewrites the manifest's size, SHA-256 and
// fingerprint to match (a backup wrong in itself, not a damaged file).
func tamper(t *testing.T, m *Manifest, consistent bool, edit func(map[string]any)) *Manifest {
	t.Helper()
	b, err := os.ReadFile(m.ArchivePath())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	if b, err = yaml.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := *m
	c.dir, c.Verification = dir, nil
	if err := os.WriteFile(filepath.Join(dir, c.Archive), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if consistent {
		sum := sha256.Sum256(b)
		c.Size, c.SHA256 = int64(len(b)), hex.EncodeToString(sum[:])
		if c.Fingerprint, err = FingerprintDeclarative(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	return &c
}

// drop removes the entity of kind named name from the configuration.
func drop(kind, name string) func(map[string]any) {
	return func(doc map[string]any) {
		keep := []any{}
		for _, e := range doc[kind].([]any) {
			if e.(map[string]any)["name"] != name {
				keep = append(keep, e)
			}
		}
		doc[kind] = keep
	}
}

// TestDeclarativeVerifyRefuses: each way a declarative backup can be wrong
// is a failed verification with the reason, recorded in the manifest, and
// makes the backup unusable.
func TestDeclarativeVerifyRefuses(t *testing.T) {
	ctx := context.Background()
	n := dblessNode(t, edgeConfig)
	x := kongClient(t, n)
	d := &Driver{Options: Options{Admin: x, Dir: t.TempDir(), Plan: "edge", KongVersion: "3.9.1"}}
	m, err := d.Backup(ctx)
	if err != nil || m.Usable() != nil {
		t.Fatalf("backup: %v %v", err, m.Usable())
	}
	cases := []struct {
		name string
		m    *Manifest
		want string
	}{
		// The manifest describes the backup taken; its archive lost a route.
		{"dropped entity, manifest as taken", tamper(t, m, false, drop("routes", "health")), "not the file backed up"},
		// A backup wrong in itself: consistent with its manifest, but not X's.
		{"dropped entity, manifest rewritten", tamper(t, m, true, drop("routes", "health")), "X serves another configuration"},
		// Same counts and fingerprint in the manifest as the decK reading
		// would need, but the counts are the manifest's of the full backup.
		{"dropped entity, counts kept", func() *Manifest {
			c := tamper(t, m, true, drop("routes", "health"))
			c.Fingerprint.Counts = m.Fingerprint.Counts
			return c
		}(), "decK counts"},
		// A route of a service the configuration does not hold.
		{"dangling reference", tamper(t, m, true, drop("services", "orders")), "which the configuration does not hold"},
		// A field decK's schema does not know.
		{"unknown field", tamper(t, m, true, func(doc map[string]any) {
			doc["services"].([]any)[0].(map[string]any)["colour"] = "blue"
		}), "Additional property colour is not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := VerifyDeclarative(ctx, c.m, x)
			if err != nil {
				t.Fatal(err)
			}
			if v.OK || !strings.Contains(v.Reason, c.want) {
				t.Fatalf("verification %+v, want refused with %q", v, c.want)
			}
			saved, err := LoadManifest(c.m.Path())
			if err != nil {
				t.Fatal(err)
			}
			if err := saved.Usable(); !errors.Is(err, ErrUnverified) {
				t.Fatalf("saved manifest usable: %v", err)
			}
			t.Logf("refused: %s", v.Reason)
		})
	}

	// X changes after the backup: the backup no longer describes X.
	if err := x.PostConfig(ctx, []byte(`{"_format_version":"3.0","services":[{"name":"other","host":"other.internal"}]}`)); err != nil {
		t.Fatal(err)
	}
	v, err := VerifyDeclarative(ctx, m, x)
	if err != nil || v.OK || !strings.Contains(v.Reason, "X serves another configuration") {
		t.Fatalf("after X changed: %+v %v", v, err)
	}
}

// TestDeclarativeRestore: a declarative backup loads into an empty DB-less
// node, which then serves its fingerprint; a repeat is a no-op; a node
// serving another configuration is refused unless replacing is allowed;
// a load the node acknowledges but does not apply is an error; a DB-mode
// node is not a target.
func TestDeclarativeRestore(t *testing.T) {
	ctx := context.Background()
	d := &Driver{Options: Options{Admin: kongClient(t, dblessNode(t, edgeConfig)), Dir: t.TempDir(), Plan: "edge", KongVersion: "3.9.1"}}
	m, err := d.Backup(ctx)
	if err != nil || m.Usable() != nil {
		t.Fatalf("backup: %v %v", err, m.Usable())
	}
	served := func(n *kongsim.Node) string {
		t.Helper()
		fp, err := (&Driver{Options: Options{Admin: kongClient(t, n)}}).Fingerprint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return fp.Hash
	}

	empty := dblessNode(t, "")
	restore := func(n *kongsim.Node, allow bool) (RestoreResult, error) {
		return RestoreDeclarative(ctx, DeclarativeRestoreOptions{Manifest: m, Target: kongClient(t, n), AllowReplace: allow})
	}
	if res, err := restore(empty, false); err != nil || res.Action != ActionEmpty {
		t.Fatalf("into an empty node: %+v %v", res, err)
	}
	if got := served(empty); got != m.Fingerprint.Hash {
		t.Fatalf("restored node serves %s, backup %s", got, m.Fingerprint.Hash)
	}
	if res, err := restore(empty, false); err != nil || res.Action != ActionUnchanged {
		t.Fatalf("repeat: %+v %v", res, err)
	}

	other := dblessNode(t, `_format_version: "3.0"
services:
- name: other
  host: other.internal
`)
	before := served(other)
	var refused *RefusedError
	if _, err := restore(other, false); !errors.As(err, &refused) {
		t.Fatalf("over another configuration: %v, want a refusal", err)
	}
	if served(other) != before {
		t.Fatal("a refused restore changed the node")
	}
	if res, err := restore(other, true); err != nil || res.Action != ActionReplaced || served(other) != m.Fingerprint.Hash {
		t.Fatalf("replace allowed: %+v %v", res, err)
	}

	// The node answers 201 but loads nothing: the read-back tells.
	lying := dblessNode(t, "")
	lying.Faults().LoadEmptyConfig(1)
	if _, err := restore(lying, false); err == nil || !strings.Contains(err.Error(), "serves fingerprint") {
		t.Fatalf("load not applied: %v", err)
	}

	db := startSim(t, kongsim.Config{Version: "3.9.1", DSN: bootstrapped(t, "3.9.1")})
	if _, err := restore(db, true); err == nil || !strings.Contains(err.Error(), "DB-less") {
		t.Fatalf("into a DB-mode node: %v", err)
	}
}
