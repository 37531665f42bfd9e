package render

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/upshift-dev/upshift/internal/testenv"
	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
)

// The official SARIF 2.1.0 JSON schema (2.1.0-rtm.5, the OASIS committee
// specification's schema), as shipped by Microsoft's SARIF team in the npm
// package @microsoft/jest-sarif. The test gets it with `npm pack` (never
// from a committed copy), checks the tarball against the pinned npm
// integrity, and caches the extracted schema in the user cache directory.
const (
	sarifSchemaPackage   = "@microsoft/jest-sarif@1.0.0-beta.0"
	sarifSchemaTarball   = "microsoft-jest-sarif-1.0.0-beta.0.tgz"
	sarifSchemaIntegrity = "sha512-A1fOhPd6Ic5iDk4F9YPw1qNB4XF+7+IviR7xl8r2F6QzQkx5cpY9LsGk2rExiFIEcBbjpVnSmwWGBukASkiQ9A=="
	sarifSchemaMember    = "package/lib/schemas/sarif-2.1.0-rtm.5.json"
)

// sarifSchema returns the SARIF 2.1.0 schema's bytes. Without npm it skips
// the test, except in CI (CI set), where it fails.
func sarifSchema(t *testing.T) []byte {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "upshift-test", "npm", strings.NewReplacer("/", "+", "@", "").Replace(sarifSchemaPackage))
	cached := filepath.Join(dir, filepath.Base(sarifSchemaMember))
	if b, err := os.ReadFile(cached); err == nil {
		return b
	}
	npm := testenv.NeedBinary(t, "npm", "npm") // fetches the SARIF 2.1.0 schema
	tmp := t.TempDir()
	cmd := exec.Command(npm, "pack", sarifSchemaPackage, "--pack-destination", tmp, "--silent")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm pack %s: %v\n%s", sarifSchemaPackage, err, out)
	}
	tgz, err := os.ReadFile(filepath.Join(tmp, sarifSchemaTarball))
	if err != nil {
		t.Fatalf("npm pack %s: %v", sarifSchemaPackage, err)
	}
	sum := sha512.Sum512(tgz)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != sarifSchemaIntegrity {
		t.Fatalf("%s: integrity %s, want %s", sarifSchemaTarball, got, sarifSchemaIntegrity)
	}
	b, err := untarMember(tgz, sarifSchemaMember)
	if err != nil {
		t.Fatalf("%s: %v", sarifSchemaTarball, err)
	}
	if err := os.MkdirAll(dir, 0o755); err == nil {
		tmpFile := cached + ".tmp"
		if os.WriteFile(tmpFile, b, 0o644) == nil {
			_ = os.Rename(tmpFile, cached) // a cache: failing to keep it only costs a fetch
		}
	}
	return b
}

func untarMember(tgz []byte, name string) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("no %s in the package", name)
		}
		if err != nil {
			return nil, err
		}
		if h.Name == name {
			return io.ReadAll(io.LimitReader(tr, 16<<20))
		}
	}
}

func compileSARIFSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(sarifSchema(t)))
	if err != nil {
		t.Fatalf("SARIF schema: %v", err)
	}
	if m, _ := doc.(map[string]any); m == nil || !strings.Contains(fmt.Sprint(m["title"]), "2.1.0") {
		t.Fatalf("the fetched schema is not SARIF 2.1.0's: title %v", m["title"])
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif-2.1.0.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("sarif-2.1.0.json")
	if err != nil {
		t.Fatalf("compile SARIF schema: %v", err)
	}
	return sch
}

// TestSARIFValidatesAgainstSchema renders the parser's and linter's
// diagnostics on every invalid fixture (and the hand-made ones, and none)
// and validates each log against the SARIF 2.1.0 schema.
func TestSARIFValidatesAgainstSchema(t *testing.T) {
	sch := compileSARIFSchema(t)

	p := plan.NewParser()
	set, diags := p.LoadPaths("../testdata/invalid")
	diags = append(diags, schema.Lint(set, schema.Options{})...)
	hand, files := fixture(t)

	cases := map[string]string{
		"invalid fixtures": render(t, SARIF, diags, Options{Files: p.Files(), ToolVersion: "v0.0.0-test"}),
		"hand-made":        render(t, SARIF, hand, Options{Files: files}),
		"no diagnostics":   render(t, SARIF, nil, Options{}),
	}
	for name, out := range cases {
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
		if err != nil {
			t.Fatalf("%s: output is not JSON: %v", name, err)
		}
		if err := sch.Validate(doc); err != nil {
			t.Errorf("%s: SARIF output does not validate: %v", name, err)
		}
	}

	// The validator must be able to fail: a log without "version" is invalid.
	var broken map[string]any
	if err := json.Unmarshal([]byte(cases["hand-made"]), &broken); err != nil {
		t.Fatal(err)
	}
	delete(broken, "version")
	if err := sch.Validate(broken); err == nil {
		t.Error("a SARIF log without version validated")
	}
}

// TestSARIFContent checks what the schema cannot: rule indexes, levels,
// relative URIs, code-point columns and suppressions.
func TestSARIFContent(t *testing.T) {
	hand, files := fixture(t)
	var log struct {
		Version string
		Runs    []struct {
			ColumnKind string
			Tool       struct {
				Driver struct {
					Name, Version, InformationURI string
					Rules                         []struct {
						ID                   string
						DefaultConfiguration struct{ Level string }
					}
				}
			}
			Results []struct {
				RuleID       string
				RuleIndex    int
				Level        string
				Message      struct{ Text string }
				Suppressions []struct{ Kind, Status string }
				Locations    []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine, StartColumn, EndLine, EndColumn int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(render(t, SARIF, hand, Options{Files: files, ToolVersion: "v1.2.3"})), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if log.Version != "2.1.0" || run.Tool.Driver.Name != "upshift" || run.Tool.Driver.Version != "v1.2.3" || run.ColumnKind != "unicodeCodePoints" {
		t.Fatalf("log header = %+v", log)
	}
	if n := len(run.Tool.Driver.Rules); n != len(schema.Rules())+1 {
		t.Errorf("%d rules, want every schema rule plus %s", n, ParserRuleID)
	}
	wantLevels := []string{"error", "warning", "note"}
	for i, r := range run.Results {
		if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %d: ruleIndex %d is %s, not %s", i, r.RuleIndex, run.Tool.Driver.Rules[r.RuleIndex].ID, r.RuleID)
		}
		if r.Level != wantLevels[i] {
			t.Errorf("result %d: level %s, want %s", i, r.Level, wantLevels[i])
		}
		if uri := r.Locations[0].PhysicalLocation.ArtifactLocation.URI; uri != "plans/p.upshift.hcl" {
			t.Errorf("result %d: uri %q", i, uri)
		}
	}
	if reg := run.Results[0].Locations[0].PhysicalLocation.Region; reg.StartLine != 3 || reg.StartColumn != 22 || reg.EndColumn != 37 {
		t.Errorf("result 0 region = %+v", reg)
	}
	if s := run.Results[2].Suppressions; len(s) != 1 || s[0].Kind != "inSource" || s[0].Status != "accepted" {
		t.Errorf("acknowledged result's suppressions = %+v", s)
	}
	if s := run.Results[0].Suppressions; len(s) != 0 {
		t.Errorf("unacknowledged result has suppressions %+v", s)
	}
	// Columns count code points, not bytes: "é" is two bytes, one column.
	if got := codePointColumn([]byte("x\n é=1"), len("x\n é"), 0); got != 3 {
		t.Errorf("codePointColumn = %d, want 3", got)
	}
}
