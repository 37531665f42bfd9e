package schema_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
)

// An expectation is written on the offending line as a comment:
// "# ERROR: UP012", "# WARNING: UP020", "# INFO: UP003", several allowed;
// a diagnostic without a rule ID (from the HCL parser) is written with its
// summary in quotes: # ERROR: "Unsupported argument".
var expectRE = regexp.MustCompile(`(ERROR|WARNING|INFO): (UP\d{3}|"[^"]+")`)

// key identifies one diagnostic for comparison: file:line severity id.
func key(file string, line int, sev, id string) string {
	return fmt.Sprintf("%s:%d %s %s", file, line, sev, id)
}

// expectations reads the expected diagnostics of every file.
func expectations(t *testing.T, files []string) []string {
	t.Helper()
	var out []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			_, comment, ok := strings.Cut(line, "#")
			if !ok {
				continue
			}
			for _, m := range expectRE.FindAllStringSubmatch(comment, -1) {
				out = append(out, key(f, i+1, m[1], strings.Trim(m[2], `"`)))
			}
		}
	}
	sort.Strings(out)
	return out
}

// actual lists what parsing and linting report, in the same shape.
func actual(diags hcl.Diagnostics) []string {
	var out []string
	for _, d := range diags {
		id := schema.RuleID(d)
		if id == "" {
			id = d.Summary
		}
		file, line := "?", 0
		if d.Subject != nil {
			file, line = d.Subject.Filename, d.Subject.Start.Line
		}
		out = append(out, key(file, line, strings.ToUpper(schema.SeverityOf(d).String()), id))
	}
	sort.Strings(out)
	return out
}

// lintPath parses and lints one case (a file or a directory).
func lintPath(path string, opts schema.Options) ([]string, hcl.Diagnostics) {
	p := plan.NewParser()
	set, diags := p.LoadPaths(path)
	diags = append(diags, schema.Lint(set, opts)...)
	files := set.Files
	if set.Settings != nil {
		files = append(files, set.Settings.File)
	}
	return files, diags
}

func cases(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), plan.FileSuffix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	if len(out) == 0 {
		t.Fatalf("no cases in %s", dir)
	}
	return out
}

// strictEnv is the environment the "strict" cases see.
func strictEnv(name string) (string, bool) {
	if strings.HasPrefix(name, "SET_") {
		return "x", true
	}
	return "", false
}

func optionsFor(path string) schema.Options {
	if strings.Contains(filepath.Base(path), "strict") {
		return schema.Options{StrictEnv: true, LookupEnv: strictEnv}
	}
	return schema.Options{}
}

func compareCase(t *testing.T, path string) []string {
	files, diags := lintPath(path, optionsFor(path))
	want, got := expectations(t, files), actual(diags)
	if !slices.Equal(want, got) {
		missing, extra := difference(want, got), difference(got, want)
		for _, m := range missing {
			t.Errorf("expected, not reported: %s", m)
		}
		for _, e := range extra {
			t.Errorf("reported, not expected: %s", e)
		}
		t.Logf("all diagnostics:%s", describe(diags))
	}
	return want
}

// difference returns the elements of a not matched one-for-one in b.
func difference(a, b []string) []string {
	left := map[string]int{}
	for _, s := range b {
		left[s]++
	}
	var out []string
	for _, s := range a {
		if left[s] > 0 {
			left[s]--
			continue
		}
		out = append(out, s)
	}
	return out
}

func describe(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&b, "\n\t\t%v [%s] %s: %s", d.Subject, schema.RuleID(d), d.Summary, d.Detail)
	}
	return b.String()
}

func TestValidCases(t *testing.T) {
	for _, path := range cases(t, filepath.Join("testdata", "valid")) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			for _, w := range compareCase(t, path) {
				if !strings.Contains(w, " INFO ") {
					t.Errorf("a valid case may only expect info findings: %s", w)
				}
			}
		})
	}
}

// TestInvalidCases checks testdata/invalid, whose cases each expect at
// least one error (so `upshift lint` exits 1 on them; a "strict" case with
// --strict-env), and testdata/warning, whose cases expect only warnings or
// info (`upshift lint` exits 0, 1 with --strict when there is a warning).
// Together they give every rule a failing case.
func TestInvalidCases(t *testing.T) {
	failing := map[string]bool{}
	for _, dir := range []string{"invalid", "warning"} {
		for _, path := range cases(t, filepath.Join("testdata", dir)) {
			t.Run(dir+"/"+filepath.Base(path), func(t *testing.T) {
				want := compareCase(t, path)
				errs := 0
				for _, w := range want {
					f := strings.Fields(w)
					if strings.HasPrefix(f[len(f)-1], "UP") {
						failing[f[len(f)-1]] = true
					}
					if strings.Contains(w, " ERROR ") {
						errs++
					}
				}
				switch {
				case len(want) == 0:
					t.Errorf("a failing case must expect at least one diagnostic")
				case dir == "invalid" && errs == 0:
					t.Errorf("a case in testdata/invalid must expect an error (warnings and info go in testdata/warning)")
				case dir == "warning" && errs > 0:
					t.Errorf("a case in testdata/warning must expect no error (move it to testdata/invalid)")
				}
			})
		}
	}
	for _, r := range schema.Rules() {
		if !failing[r.ID] {
			t.Errorf("rule %s (%s) has no failing case in testdata/invalid or testdata/warning", r.ID, r.Summary)
		}
	}
}

// passingCase names, for each rule, a valid case that exercises what the
// rule checks and passes it (TestValidCases checks that they lint clean).
// A new rule fails this test until it is given one.
var passingCase = map[string]string{
	"UP001": "dual_cluster.upshift.hcl",          // versions parse
	"UP002": "dual_cluster.upshift.hcl",          // 3.8.0 → 3.9.1 goes up
	"UP003": "same_version.upshift.hcl",          // reported as info, nothing else
	"UP004": "lts_hop.upshift.hcl",               // 2.8 → 3.4, an LTS hop
	"UP005": "lts_hop.upshift.hcl",               // from 2.8, past 2.1
	"UP006": "blue_green_patch.upshift.hcl",      // blue-green from 3.9.0
	"UP007": "blue_green_patch.upshift.hcl",      // 3.9.0 → 3.9.1
	"UP008": "blue_green_patch.upshift.hcl",      // not an LTS hop
	"UP009": "rolling_dbless.upshift.hcl",        // rolling in dbless mode
	"UP010": "dual_cluster.upshift.hcl",          // everything dual_cluster needs
	"UP011": "in_place_acknowledged.upshift.hcl", // no traffic, no to.database
	"UP012": "dual_cluster.upshift.hcl",          // x-db and y-db
	"UP013": "hybrid_dp.upshift.hcl",             // CP 3.9.1 accepts DP 3.9.0
	"UP014": "hybrid_cp.upshift.hcl",             // hybrid, same major
	"UP015": "hybrid_cp.upshift.hcl",             // hybrid, not from 3.1
	"UP016": "dual_cluster.upshift.hcl",          // postgres (the default kind)
	"UP017": "dual_cluster.upshift.hcl",          // 50, 100
	"UP018": "dual_cluster.upshift.hcl",          // pause = "1m"
	"UP019": "in_place_acknowledged.upshift.hcl", // acknowledged: info
	"UP020": "dual_cluster.upshift.hcl",          // has a check
	"UP021": "dual_cluster.upshift.hcl",          // has an analysis
	"UP043": "dual_cluster.upshift.hcl",          // kong_metrics at 50 then 100: a baseline before 100
	"UP022": "chain",                             // distinct names across files
	"UP023": "chain",                             // same cluster, ordered
	"UP024": "chain",                             // depends_on an existing plan
	"UP025": "chain",                             // no cycle
	"UP026": "strict_env.upshift.hcl",            // well-formed env()
	"UP027": "strict_env.upshift.hcl",            // set variables
	"UP028": "strict_env.upshift.hcl",            // DSNs from env()
	"UP029": "enterprise_lts.upshift.hcl",        // the four pg placeholders
	"UP030": "blue_green_acknowledged.upshift.hcl",
	"UP031": "hybrid_dp.upshift.hcl",        // rolling, hybrid_dp
	"UP032": "enterprise_lts.upshift.hcl",   // Enterprise to Enterprise
	"UP033": "enterprise_lts.upshift.hcl",   // 3.10 written with four parts
	"UP034": "prometheus_file.upshift.hcl",  // query, max and min
	"UP035": "hybrid_dp.upshift.hcl",        // data_planes_synced in hybrid mode
	"UP036": "blue_green_patch.upshift.hcl", // finish for blue_green
	"UP037": "blue_green_acknowledged.upshift.hcl",
	"UP038": "dual_cluster.upshift.hcl",
	"UP039": "blue_green_patch.upshift.hcl",   // approve, not approve_in_advance
	"UP040": "in_place_rehearsed.upshift.hcl", // rehearse on a database strategy
	"UP041": "journal_dir",                    // an absolute journal dir
	"UP042": "journal_postgres",               // postgres = env(...)
	"UP044": "dual_cluster.upshift.hcl",       // 3.8 → 3.9 skips nothing
	"UP045": "tls_strict.upshift.hcl",         // CA, client certificate and key read and matched
	"UP046": "notify.upshift.hcl",             // https URL, secret and Slack URL from env()
	"UP048": "in_place_rehearsed.upshift.hcl", // rehearse with verify_dsn
}

func TestEveryRuleHasAPassingCase(t *testing.T) {
	for _, r := range schema.Rules() {
		name, ok := passingCase[r.ID]
		if !ok {
			t.Errorf("rule %s has no passing case in passingCase", r.ID)
			continue
		}
		path := filepath.Join("testdata", "valid", name)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("rule %s: %v", r.ID, err)
			continue
		}
		_, diags := lintPath(path, optionsFor(path))
		for _, d := range diags {
			if schema.RuleID(d) == r.ID && schema.SeverityOf(d) != schema.SeverityInfo {
				t.Errorf("rule %s fires on its passing case %s: %s", r.ID, name, d.Detail)
			}
		}
	}
}
