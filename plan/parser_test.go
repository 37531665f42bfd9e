package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func load(t *testing.T, paths ...string) (*Set, hcl.Diagnostics) {
	t.Helper()
	return NewParser().LoadPaths(paths...)
}

func TestLoadTree(t *testing.T) {
	set, diags := load(t, filepath.Join("testdata", "tree"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := []string{filepath.Join("testdata", "tree", "b.upshift.hcl"), filepath.Join("testdata", "tree", "sub", "a.upshift.hcl")}
	if strings.Join(set.Files, ",") != strings.Join(want, ",") {
		t.Errorf("files %v, want %v (sorted, recursive, *.upshift.hcl only, no hidden or testdata dirs)", set.Files, want)
	}
	var names []string
	for _, p := range set.Plans {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "b-one,b-two,a" {
		t.Errorf("plans %s", got)
	}
	if set.Lookup("a") == nil || set.Lookup("zzz") != nil || (*Set)(nil).Lookup("a") != nil {
		t.Error("Lookup")
	}

	p := set.Lookup("b-one")
	if p.Cluster.Value != "prod" || p.Strategy.Value != "dual_cluster" || p.DependsOn[0].Value != "a" || p.Acknowledge[0].Value != "UP020" {
		t.Errorf("top level: %+v", p)
	}
	if p.DeclRange.Start.Line != 2 || p.NameRange.Start.Column != 9 || p.File != want[0] {
		t.Errorf("ranges: %v %v", p.DeclRange, p.NameRange)
	}
	// env() stays unevaluated, literal and ${} forms alike.
	if a := p.From.AdminURL; !a.IsEnv || !a.EnvOK || a.EnvName != "X_ADMIN" || a.Range.Start.Line != 10 {
		t.Errorf("from.admin_url %+v", a)
	}
	if a := p.To.AdminURL; !a.IsEnv || a.EnvName != "Y_ADMIN" {
		t.Errorf("to.admin_url %+v", a)
	}
	if d := p.To.Database; d.DSN.Literal != "postgres://kong@y/kong" || d.Kind.Value != "postgres" {
		t.Errorf("to.database %+v", d)
	}
	if d := p.From.Database; d.Kind.Value != "postgres" || d.Kind.Set {
		t.Errorf("database kind default: %+v", d.Kind)
	}
	if got := strings.Join(p.To.Kong.Args, " "); got != "env KONG_PG_HOST={pg_host} kong" || len(p.To.Kong.ElemRanges) != 3 {
		t.Errorf("kong %q", got)
	}
	names, ranges := p.To.Kong.Placeholders()
	if len(names) != 1 || names[0] != "pg_host" || ranges[0] != p.To.Kong.ElemRanges[1] {
		t.Errorf("placeholders %v %v", names, ranges)
	}
	if b := p.Backup; b.Dir.Value != "/b" || b.Keep.Value != 3 || !b.Verify.Value || b.VerifyDSN.Set {
		t.Errorf("backup %+v", b)
	}
	if tr := p.Traffic; tr.Kind != "haproxy" || tr.Socket.Value != "/run/haproxy.sock" || tr.ToServers[0].Value != "y1" {
		t.Errorf("traffic %+v", tr)
	}
	c := p.Checks[0]
	if c.Target.Value != "from" || c.Request.Method.Value != "POST" || c.Request.Body.Value != "{\"hello\": \"world\"}\n" ||
		c.Request.Headers["apikey"].EnvName != "API_KEY" || c.Request.Headers["X-Trace"].Literal != "1" ||
		c.Expect.Status.Value != 201 || c.Expect.JSONPath["data.0.name"].Value != "orders" || c.Expect.Headers["Content-Type"].Value != "application/json" {
		t.Errorf("check %+v %+v %+v", c, c.Request, c.Expect)
	}
	a := p.Analyses[0]
	if a.Min.Value != 1 || !a.Min.Set || a.Max.Set || a.Failures.Value != 3 || a.Interval.Value != "10s" {
		t.Errorf("analysis %+v", a)
	}
	if d, err := a.Interval.Duration(); err != nil || d.Seconds() != 10 {
		t.Errorf("interval %v %v", d, err)
	}
	if s := p.Rollout.Steps; len(s) != 2 || s[0].Weight.Value != 10 || s[1].Pause.Set {
		t.Errorf("rollout %+v", s)
	}
	if !p.Rehearse.Value || p.Approve[0].Value != "decommission" || p.Notify[0].URL.EnvName != "HOOK" {
		t.Errorf("rehearse/approve/notify")
	}
	if r := p.Rollback; !r.Restore.Value || !r.OnGateFailure.Value || r.Requested.Value {
		t.Errorf("rollback %+v", r)
	}
	two := set.Lookup("b-two")
	if two.Mode.Value != "hybrid_dp" || two.ControlPlane.Version.Value != "3.9.1" || two.To.Nodes[0].Name != "y1" || two.To.Nodes[0].Start.Args[1] != "y1" {
		t.Errorf("b-two %+v", two)
	}
	if r := two.Rollback; !r.OnGateFailure.Value || r.DeclRange.Filename != "" {
		t.Errorf("rollback defaults %+v", r)
	}
	if a := set.Lookup("a"); a.Mode.Value != DefaultMode || a.Mode.Set {
		t.Errorf("default mode %+v", a.Mode)
	}
}

// A file argument is read whatever its name; duplicates are read once.
func TestLoadFileArgument(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plan.txt")
	if err := os.WriteFile(path, []byte("upgrade \"x\" {\n  cluster = \"c\"\n  strategy = \"in_place\"\n  from { version = \"1.0.0\" }\n  to { version = \"1.0.0\" }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	set, diags := load(t, path, path)
	if diags.HasErrors() || len(set.Plans) != 1 || len(set.Files) != 1 {
		t.Fatalf("%v %v", set, diags)
	}
}

func TestEmptyDirectoryWarns(t *testing.T) {
	set, diags := load(t, t.TempDir())
	if len(set.Plans) != 0 || len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || diags[0].Summary != "No plan files" {
		t.Errorf("%v", diags)
	}
}

func TestValueResolve(t *testing.T) {
	env := func(k string) (string, bool) {
		if k == "SET" {
			return "value", true
		}
		return "", false
	}
	lit := Value{Literal: "x", Set: true}
	if s, err := lit.Resolve(env); err != nil || s != "x" {
		t.Errorf("literal: %q %v", s, err)
	}
	set := Value{IsEnv: true, EnvOK: true, EnvName: "SET", Set: true}
	if s, err := set.Resolve(env); err != nil || s != "value" {
		t.Errorf("env: %q %v", s, err)
	}
	unset := Value{IsEnv: true, EnvOK: true, EnvName: "UNSET", Set: true}
	if _, err := unset.Resolve(env); err == nil || !strings.Contains(err.Error(), "UNSET is not set") {
		t.Errorf("unset: %v", err)
	}
	bad := Value{IsEnv: true, Set: true}
	if _, err := bad.Resolve(env); err == nil {
		t.Error("malformed env() resolved")
	}
	if set.String() != `env("SET")` || lit.String() != "x" {
		t.Errorf("String: %s %s", set, lit)
	}
}

// Structural errors come from HCL with a position; decoding goes on past
// the first one.
func TestDecodeErrors(t *testing.T) {
	src := `upgrade "p" {
  cluster  = "c"
  strategy = "in_place"
  from { version = env("V") }
  to {
    version = "3.9.1"
    kong    = []
  }
  from { version = "1" }
  check "c" {}
  check "c" {}
  traffic "nginx" { upstream = "u" }
  rollout {}
  notify "pager" {}
  backup { dir = 3 }
}
`
	path := filepath.Join(t.TempDir(), "p.upshift.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	set, diags := load(t, path)
	want := map[string]int{
		"env() not allowed here":    4,
		"Empty command":             7,
		"Duplicate from block":      9,
		`Duplicate check "c"`:       11,
		"Missing required argument": 12,
		"Empty rollout":             13,
		"Unknown notifier":          14,
	}
	for _, d := range diags {
		if line, ok := want[d.Summary]; ok && d.Subject != nil && d.Subject.Start.Line == line {
			delete(want, d.Summary)
		}
	}
	if len(want) != 0 {
		t.Errorf("missing diagnostics %v in %v", want, diags)
	}
	if len(set.Plans) != 1 || !set.Plans[0].Incomplete {
		t.Errorf("the plan is still returned for lint, marked incomplete: %d", len(set.Plans))
	}
}

func TestSuggest(t *testing.T) {
	if s := Suggest("dual-cluster", Strategies); s != "dual_cluster" {
		t.Errorf("Suggest = %q", s)
	}
	if s := Suggest("zzzzzz", Strategies); s != "" {
		t.Errorf("Suggest = %q", s)
	}
	if s := DidYouMean("nginz", TrafficKinds); s != ` Did you mean "nginx"?` {
		t.Errorf("DidYouMean = %q", s)
	}
}

// Brackets in strings and comments do not count towards MaxNesting; real
// nesting, template interpolations and unary chains do.
func TestCheckNesting(t *testing.T) {
	many := strings.Repeat("  body = \":( [ {\" # ((((\n  // [[[[\n  /* {{{{ */\n", 200)
	if d := checkNesting("f", []byte("x {\n"+many+"}\n")); d != nil {
		t.Errorf("strings and comments counted: %v", d)
	}
	for name, src := range map[string]string{
		"brackets":  "x = " + strings.Repeat("[", MaxNesting+1),
		"templates": "x = \"" + strings.Repeat("${\"", MaxNesting+1),
		"unary":     "x = " + strings.Repeat("!", 4*MaxNesting+1) + "true",
		"negation":  "x = " + strings.Repeat("- ", 4*MaxNesting+1) + "1",
	} {
		d := checkNesting("f", []byte("a {\n"+src+"\n}\n"))
		if d == nil || d.Subject.Start.Line != 2 {
			t.Errorf("%s: %v", name, d)
		}
	}
	if d := checkNesting("f", []byte("x = "+strings.Repeat("[", MaxNesting)+strings.Repeat("]", MaxNesting))); d != nil {
		t.Errorf("exactly MaxNesting refused: %v", d)
	}
}
