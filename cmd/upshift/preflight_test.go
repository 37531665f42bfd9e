package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/kongsim"
)

// x28 is X's DB-less configuration on 2.8.5: regex paths without ~ (one
// nested under a service, one top-level without a service, which decK
// keeps at the top level of its dump and its convert skips), a
// pre-function with functions, a look-ahead regex and a custom plugin.
const x28 = `_format_version: "2.1"
services:
- name: billing
  url: http://127.0.0.1:9
  routes:
  - name: invoices
    paths: ["/invoices/\\d+$"]
  plugins:
  - name: my-auth
    config: {}
routes:
- name: public
  paths: ["/v1/(?!internal)"]
plugins:
- name: pre-function
  config:
    functions: ["kong.log.info('hello')"]
`

// x28Fixed is the same configuration after the fixes 2.8 accepts: the
// look-ahead rewritten, functions moved to access. 2.8 refuses paths
// starting with ~ ("should start with: /"), so a DB-less X cannot carry
// PF30-1's fix: the plan acknowledges PF30-1 (the file Y loads is
// converted, deck file convert), and the report keeps it as
// acknowledged info.
const x28Fixed = `_format_version: "2.1"
services:
- name: billing
  url: http://127.0.0.1:9
  routes:
  - name: invoices
    paths: ["/invoices/\\d+$"]
  plugins:
  - name: my-auth
    config: {}
routes:
- name: public
  paths: ["/v1/(public|api)"]
plugins:
- name: pre-function
  config:
    access: ["kong.log.info('hello')"]
`

// TestPreflightDBLess28To34 is issue 13's end-to-end case: kongsim 2.8.5
// DB-less with the content above, a 2.8 → 3.4 plan that lint accepts:
// preflight names each finding with its fix and exits 1; after the fixes
// (and with Y answering, offering the custom plugin) it reports no errors
// and exits 0; lint --deck on the source file also names acl whitelist.
func TestPreflightDBLess28To34(t *testing.T) {
	ctx := context.Background()
	start := func(version, conf string, plugins ...string) *kongsim.Node {
		t.Helper()
		n, err := kongsim.Start(ctx, kongsim.Config{Version: version, Database: "off", DeclarativeConfig: []byte(conf),
			Plugins: plugins, AdminListen: "127.0.0.1:0", ProxyListen: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Stop() })
		return n
	}
	x := start("2.8.5", x28, "bundled", "my-auth")

	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/rolling/edge.upshift.hcl")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(`"3.8.0"`, `"2.8.5"`, `"3.9.1"`, `"3.4.2"`, `"/var/lib/upshift/backups"`, `"`+filepath.Join(dir, "b")+`"`).Replace(string(src))
	planFile := filepath.Join(dir, "edge.upshift.hcl")
	if err := os.WriteFile(planFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"X1", "X2"} {
		t.Setenv("EDGE_"+n+"_ADMIN_URL", x.AdminURL())
		t.Setenv("EDGE_"+n+"_PROXY_URL", "http://127.0.0.1:9")
	}
	for _, n := range []string{"Y1", "Y2"} {
		t.Setenv("EDGE_"+n+"_ADMIN_URL", "http://127.0.0.1:9") // Y is not started yet
		t.Setenv("EDGE_"+n+"_PROXY_URL", "http://127.0.0.1:9")
	}
	run := func(args ...string) (int, string) {
		var out, errOut bytes.Buffer
		code := Main(ctx, args, &streams{In: strings.NewReader(""), Out: &out, Err: &errOut})
		t.Logf("upshift %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		return code, out.String()
	}
	if code, _ := run("lint", planFile); code != 0 {
		t.Fatalf("lint refuses the 2.8 → 3.4 plan: exit %d", code)
	}

	code, out := run("preflight", planFile, "--format", "json")
	if code != 1 {
		t.Fatalf("preflight: exit %d, want 1 (errors)", code)
	}
	var r struct {
		Mode     string
		X        struct{ Answered string }
		Findings []struct {
			Rule, Severity, Where, Field, Detail, Fix string
		}
		Plugins struct{ Custom []string }
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Mode != "dbless" || r.X.Answered != "2.8.5" {
		t.Errorf("mode %s, X answers %s", r.Mode, r.X.Answered)
	}
	want := map[string]string{ // rule and place → a word of its fix
		"PF30-1 services[billing].routes[invoices]": "Prefix the path with ~",
		"PF30-1 routes[public]":                     "Prefix the path with ~", // no service: top-level in the dump too
		"PF30-3 routes[public]":                     "(?!",
		"PF30-7 plugins[pre-function":               "config.access",
		"PFX-1 services[billing].plugins[my-auth":   "Install the plugin on Y",
	}
	for key, fix := range want {
		rule, where, _ := strings.Cut(key, " ")
		found := false
		for _, f := range r.Findings {
			if f.Rule == rule && strings.HasPrefix(f.Where, where) && f.Severity == "error" {
				found = true
				if !strings.Contains(f.Fix, fix) && !strings.Contains(f.Detail, fix) {
					t.Errorf("%s: fix %q does not say %q", key, f.Fix, fix)
				}
			}
		}
		if !found {
			t.Errorf("no error finding %s", key)
		}
	}
	if len(r.Plugins.Custom) != 1 || r.Plugins.Custom[0] != "my-auth" {
		t.Errorf("custom plugins %v", r.Plugins.Custom)
	}
	if code, out := run("preflight", planFile); code != 1 || !strings.Contains(out, "ERRORS (") || !strings.Contains(out, "NOT clean") {
		t.Errorf("text report: exit %d", code)
	}
	if code, out := run("preflight", planFile, "--format", "markdown"); code != 1 || !strings.Contains(out, "| error | PF30-7 ") {
		t.Errorf("markdown report: exit %d", code)
	}

	// The fixes: X's configuration without the findings (X restarted
	// with it), and Y answering on 3.4.2 with the custom plugin installed.
	x2 := start("2.8.5", x28Fixed, "bundled", "my-auth")
	acked := strings.Replace(text, `mode     = "dbless"`, `mode     = "dbless"
  acknowledge = ["PF30-1"]`, 1)
	if acked == text {
		t.Fatal("the example changed: no mode line")
	}
	if err := os.WriteFile(planFile, []byte(acked), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"X1", "X2"} {
		t.Setenv("EDGE_"+n+"_ADMIN_URL", x2.AdminURL())
	}
	y := start("3.4.2", "", "bundled", "my-auth")
	for _, n := range []string{"Y1", "Y2"} {
		t.Setenv("EDGE_"+n+"_ADMIN_URL", y.AdminURL())
	}
	if code, out := run("preflight", planFile); code != 0 || !strings.Contains(out, "clean: 0 errors") ||
		!strings.Contains(out, "PF30-1 Regex route path lacks the ~ prefix (acknowledged)") {
		t.Errorf("after the fixes: exit %d, want a report without errors", code)
	}

	// lint --deck on the source file kept in Git names acl whitelist,
	// which X's dump cannot show (Kong 2.x stores it as allow).
	deck := filepath.Join(dir, "kong.yaml")
	if err := os.WriteFile(deck, []byte(x28+"- name: acl\n  config:\n    whitelist: [admins]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := run("lint", "--deck", deck, "--from", "2.8.5", "--to", "3.4.2"); code != 1 || !strings.Contains(out, "plugins[acl].config.whitelist") {
		t.Errorf("lint --deck: exit %d, want acl whitelist named", code)
	}
}
