package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/upshift-dev/upshift/internal/engine"
)

// TestPlanDetailedExitcode: with steps pending, --detailed-exitcode exits
// exactly 3 (the script checks output; this checks the code).
func TestPlanDetailedExitcode(t *testing.T) {
	ar, err := txtar.ParseFile("testdata/script/plan-preview.txtar")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range ar.Files {
		p := filepath.Join(dir, f.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"plan", "plans/bg.upshift.hcl", "--detailed-exitcode"}, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
	if code != exitPending {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitPending, out.String(), errOut.String())
	}
}

// TestFingerprintLine: an X with entities shows its fingerprint and
// counts; an empty X says it is empty, not the hash of nothing and "()".
func TestFingerprintLine(t *testing.T) {
	var b bytes.Buffer
	writeObserved(&b, &engine.Observed{Fingerprint: &engine.FingerprintFacts{
		Hash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Counts: map[string]int64{}}})
	if got := b.String(); !strings.Contains(got, "fingerprint    X's configuration is empty (no entities)\n") || strings.Contains(got, "()") {
		t.Errorf("empty X:\n%s", got)
	}
	b.Reset()
	writeObserved(&b, &engine.Observed{Fingerprint: &engine.FingerprintFacts{Hash: "0123456789abcdef", Counts: map[string]int64{"services": 2, "routes": 3}}})
	if got := b.String(); !strings.Contains(got, "fingerprint    X 0123456789ab (routes=3 services=2)\n") {
		t.Errorf("X with entities:\n%s", got)
	}
}

// TestHybridDataPlaneLines: plan shows the control plane's version, and
// each data plane by its node ID (two on one host are two lines that
// differ), with the list they come from.
func TestHybridDataPlaneLines(t *testing.T) {
	var b bytes.Buffer
	writeObserved(&b, &engine.Observed{
		ControlPlane: &engine.NodeFacts{Reachable: true, Version: "3.9.1", Ready: true, ReadySource: "status_url"},
		DataPlanes: []engine.DataPlaneFacts{{Source: "control_plane", Planes: []engine.DataPlaneFact{
			{ID: "0c0b3b4e-1111-4d7a-9d6b-000000000001", Hostname: "vm", IP: "10.0.0.5", Version: "3.8.0", SyncStatus: "normal"},
			{ID: "0c0b3b4e-2222-4d7a-9d6b-000000000002", Hostname: "vm", IP: "10.0.0.5", Version: "3.8.0", SyncStatus: "normal"},
		}}}})
	got := b.String()
	for _, want := range []string{
		"  control plane  Kong 3.9.1, ready (status_url)\n",
		"  data plane     0c0b3b4e-1111-4d7a-9d6b-000000000001 on vm (10.0.0.5): Kong 3.8.0, normal (listed by the control plane)\n",
		"  data plane     0c0b3b4e-2222-4d7a-9d6b-000000000002 on vm (10.0.0.5): Kong 3.8.0, normal (listed by the control plane)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
}

// TestRejectedTokenLine: a node that answered 401 to the token is shown
// as having rejected it, not as unreachable; a TLS cause fits the line.
func TestRejectedTokenLine(t *testing.T) {
	var b bytes.Buffer
	writeObserved(&b, &engine.Observed{
		From: &engine.NodeFacts{Rejected: true, Error: "kong: GET / https://kong-admin.internal:8444: Kong rejected the admin token: HTTP status 401"},
		To:   &engine.NodeFacts{Error: "kong: GET / https://kong-admin.eu-west-1.internal.example.com:8444: TLS: x509: certificate signed by unknown authority (the server's certificate did not verify; ...)"},
	})
	got := b.String()
	if !strings.Contains(got, "X              rejected the admin token: ") || strings.Contains(got, "X              not reachable") {
		t.Errorf("401:\n%s", got)
	}
	if !strings.Contains(got, "x509: certificate signed by unknown authority") {
		t.Errorf("TLS cause cut off:\n%s", got)
	}
}
