package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/upshift-dev/upshift/internal/backup"
	"github.com/upshift-dev/upshift/internal/kong"
	"github.com/upshift-dev/upshift/internal/kongsim"
	"github.com/upshift-dev/upshift/internal/kongsim/fleet"
)

// TestBackupRestoreDBLess runs `upshift backup` and `upshift restore` on the
// rolling (DB-less) example against kongsim 3.8.0 nodes: the backup is
// taken and verified (exit 0); restore loads it into an empty DB-less node
// named by an environment variable, which then serves the backup's
// fingerprint, repeats as a no-op, refuses a node serving another
// configuration and an archive that lost an entity; backup exits 1 when X
// cannot be read.
func TestBackupRestoreDBLess(t *testing.T) {
	ctx := context.Background()
	start := func(conf []byte) *kongsim.Node {
		t.Helper()
		n, err := kongsim.Start(ctx, kongsim.Config{Version: "3.8.0", Database: "off", DeclarativeConfig: conf,
			AdminListen: "127.0.0.1:0", ProxyListen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Stop() })
		return n
	}
	x := start(fleet.SampleDeclarative("http://127.0.0.1:9"))

	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/rolling/edge.upshift.hcl")
	if err != nil {
		t.Fatal(err)
	}
	backups := filepath.Join(dir, "backups")
	planFile := filepath.Join(dir, "edge.upshift.hcl")
	text := strings.Replace(string(src), `"/var/lib/upshift/backups"`, `"`+backups+`"`, 1)
	if err := os.WriteFile(planFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"X1", "X2", "Y1", "Y2"} {
		t.Setenv("EDGE_"+n+"_ADMIN_URL", x.AdminURL())
		t.Setenv("EDGE_"+n+"_PROXY_URL", "http://127.0.0.1:9")
	}

	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(ctx, args, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		t.Logf("upshift %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		return code, out.String(), errOut.String()
	}
	code, out, _ := run("backup", planFile)
	if code != 0 || !strings.Contains(out, "(declarative)") || !strings.Contains(out, "verified: declarative configuration accepted by decK's validation") {
		t.Fatalf("backup: exit %d", code)
	}
	manifests, _ := filepath.Glob(filepath.Join(backups, "*.json"))
	if len(manifests) != 1 {
		t.Fatalf("want one manifest in %s, found %v", backups, manifests)
	}
	m, err := backup.LoadManifest(manifests[0])
	if err != nil {
		t.Fatal(err)
	}
	served := func(n *kongsim.Node) string {
		t.Helper()
		c, err := kong.New(kong.Options{AdminURL: n.AdminURL()})
		if err != nil {
			t.Fatal(err)
		}
		conf, err := c.Config(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fp, err := backup.FingerprintDeclarative(conf)
		if err != nil {
			t.Fatal(err)
		}
		return fp.Hash
	}

	empty := start(nil)
	t.Setenv("RESTORE_TARGET", empty.AdminURL())
	if code, out, _ := run("restore", planFile, "--from", manifests[0], "--target-env", "RESTORE_TARGET"); code != 0 || !strings.Contains(out, "restored_into_empty") {
		t.Fatalf("restore into an empty node: exit %d", code)
	}
	if got := served(empty); got != m.Fingerprint.Hash {
		t.Fatalf("the restored node serves %s, the backup is %s", got, m.Fingerprint.Hash)
	}
	if code, out, _ := run("restore", planFile, "--from", manifests[0], "--target-env", "RESTORE_TARGET"); code != 0 || !strings.Contains(out, "unchanged") {
		t.Fatalf("repeated restore: exit %d, want nothing to do", code)
	}

	other := start([]byte("_format_version: \"3.0\"\nservices:\n- name: other\n  host: other.internal\n"))
	before := served(other)
	t.Setenv("OTHER_TARGET", other.AdminURL())
	if code, _, errOut := run("restore", planFile, "--from", manifests[0], "--target-env", "OTHER_TARGET"); code != 1 || !strings.Contains(errOut, "serves another configuration") {
		t.Fatalf("restore over another configuration: exit %d, want a refusal", code)
	}
	if served(other) != before {
		t.Fatal("a refused restore changed the node")
	}
	if code, _, _ := run("restore", planFile, "--from", manifests[0], "--target-env", "OTHER_TARGET", "--target-token-env", "NO_SUCH_TOKEN"); code != 1 {
		t.Fatalf("restore with a token variable that is not set: exit %d, want 1", code)
	}

	// The archive loses a route after the backup: refused before any load.
	b, err := os.ReadFile(m.ArchivePath())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["routes"] = doc["routes"].([]any)[1:]
	if b, err = yaml.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.ArchivePath(), b, 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := start(nil)
	t.Setenv("FRESH_TARGET", fresh.AdminURL())
	if code, _, errOut := run("restore", planFile, "--from", manifests[0], "--target-env", "FRESH_TARGET"); code != 1 || !strings.Contains(errOut, "not the file backed up") {
		t.Fatalf("restore of a damaged archive: exit %d, want a refusal", code)
	}
	if served(fresh) == m.Fingerprint.Hash {
		t.Fatal("the damaged archive was loaded")
	}

	// X cannot be read: no backup, exit 1 with the reason.
	if err := x.Stop(); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run("backup", planFile); code != 1 || !strings.Contains(errOut, "GET /config") {
		t.Fatalf("backup of an unreachable X: exit %d", code)
	}
}
