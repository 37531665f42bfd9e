package render

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/upshift-dev/upshift/plan"
	"github.com/upshift-dev/upshift/schema"
)

// fixture is a small file and three hand-made diagnostics over it: a lint
// error with a rule, a parser-style warning without one, and an info.
const fixtureSrc = `upgrade "p" {
  to {
    database { dsn = env("KONG_DSN") }
  }
  note = "a,b: 100%"
}
`

func fixture(t *testing.T) (hcl.Diagnostics, map[string]*hcl.File) {
	t.Helper()
	p := hclparse.NewParser()
	if _, diags := p.ParseHCL([]byte(fixtureSrc), "plans/p.upshift.hcl"); diags.HasErrors() {
		t.Fatalf("fixture does not parse: %s", diags)
	}
	rng := func(line, col, endCol, byteOff int) *hcl.Range {
		return &hcl.Range{Filename: "plans/p.upshift.hcl",
			Start: hcl.Pos{Line: line, Column: col, Byte: byteOff},
			End:   hcl.Pos{Line: line, Column: endCol, Byte: byteOff + endCol - col}}
	}
	up012 := schema.RuleByID("UP012")
	up003 := schema.RuleByID("UP003")
	if up012 == nil || up003 == nil {
		t.Fatal("schema has no UP012 or UP003")
	}
	// Line 3 starts at byte 21; `env("KONG_DSN")` is columns 22-37.
	diags := hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: up012.Summary, Detail: "Y's database is X's.\nUse another.",
			Subject: rng(3, 22, 37, 21+21), Extra: &schema.Finding{Rule: up012, Severity: schema.SeverityError, Plan: "p"}},
		{Severity: hcl.DiagWarning, Summary: "Odd, value: 100%", Detail: "",
			Subject: rng(5, 3, 7, strings.Index(fixtureSrc, "note"))},
		{Severity: hcl.DiagWarning, Summary: up003.Summary + " (acknowledged)", Detail: "Stays on 3.9.1.",
			Subject: rng(1, 1, 8, 0), Extra: &schema.Finding{Rule: up003, Severity: schema.SeverityInfo, Plan: "p", Acknowledged: true}},
	}
	return diags, p.Files()
}

func render(t *testing.T, f Format, diags hcl.Diagnostics, opts Options) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, f, diags, opts); err != nil {
		t.Fatalf("Write(%s): %v", f, err)
	}
	return b.String()
}

func TestParseFormat(t *testing.T) {
	for _, f := range Formats() {
		if got, err := ParseFormat(string(f)); err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %q, %v", f, got, err)
		}
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), "text, json, github, sarif") {
		t.Errorf("ParseFormat(xml) error = %v, want one listing the formats", err)
	}
}

func TestCount(t *testing.T) {
	diags, _ := fixture(t)
	if got, want := Count(diags), (Counts{Errors: 1, Warnings: 1, Infos: 1}); got != want {
		t.Errorf("Count = %+v, want %+v", got, want)
	}
}

func TestText(t *testing.T) {
	diags, files := fixture(t)
	got := render(t, Text, diags, Options{Files: files})
	want := `Error: Dual-cluster needs Y's own database [UP012]

  on plans/p.upshift.hcl line 3, in upgrade "p":
  3:     database { dsn = env("KONG_DSN") }
                          ^^^^^^^^^^^^^^^

Y's database is X's.
Use another.

Warning: Odd, value: 100%

  on plans/p.upshift.hcl line 5, in upgrade "p":
  5:   note = "a,b: 100%"
       ^^^^

Info: Stay on / roll back to the current version (acknowledged) [UP003]

  on plans/p.upshift.hcl line 1, in upgrade "p":
  1: upgrade "p" {
     ^^^^^^^

Stays on 3.9.1.

`
	if got != want {
		t.Errorf("text output:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(got, "\x1b[") {
		t.Error("text output without Color has ANSI escapes")
	}
	if col := render(t, Text, diags, Options{Files: files, Color: true}); !strings.Contains(col, ansiRed+ansiBold+"Error:"+ansiReset) {
		t.Errorf("coloured text output lacks a red bold Error:\n%q", col)
	}
}

func TestTextWithoutSource(t *testing.T) {
	diags, _ := fixture(t)
	got := render(t, Text, diags[:1], Options{})
	if !strings.Contains(got, "  on plans/p.upshift.hcl line 3:\n\nY's database") {
		t.Errorf("text output without sources:\n%s", got)
	}
}

func TestTextMultiLineSubject(t *testing.T) {
	src := "a {\n  b = [\n    1,\n  ]\n}\n"
	p := hclparse.NewParser()
	p.ParseHCL([]byte(src), "m.hcl")
	start := strings.Index(src, "[")
	end := strings.Index(src, "]") + 1
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "S", Subject: &hcl.Range{Filename: "m.hcl",
		Start: hcl.Pos{Line: 2, Column: 7, Byte: start}, End: hcl.Pos{Line: 4, Column: 4, Byte: end}}}
	got := render(t, Text, hcl.Diagnostics{d}, Options{Files: p.Files()})
	want := "Error: S\n\n  on m.hcl line 2, in a:\n  2:   b = [\n           ^\n  3:     1,\n         ^^\n  4:   ]\n       ^\n\n"
	if got != want {
		t.Errorf("multi-line subject:\n%q\nwant\n%q", got, want)
	}
}

func TestJSON(t *testing.T) {
	diags, files := fixture(t)
	var out struct {
		FormatVersion string `json:"format_version"`
		Valid         bool   `json:"valid"`
		Errors        int    `json:"error_count"`
		Warnings      int    `json:"warning_count"`
		Infos         int    `json:"info_count"`
		Diagnostics   []struct {
			Severity, Summary, Detail, Rule string
			Acknowledged                    bool
			Range                           struct {
				Filename   string
				Start, End struct{ Line, Column, Byte int }
			}
			Snippet struct {
				Context              *string
				Code                 string
				StartLine            int `json:"start_line"`
				HighlightStartOffset int `json:"highlight_start_offset"`
				HighlightEndOffset   int `json:"highlight_end_offset"`
			}
		}
	}
	raw := render(t, JSON, diags, Options{Files: files})
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("json output does not parse: %v\n%s", err, raw)
	}
	if out.FormatVersion != "1.0" || out.Valid || out.Errors != 1 || out.Warnings != 1 || out.Infos != 1 || len(out.Diagnostics) != 3 {
		t.Fatalf("json header = %+v", out)
	}
	d0 := out.Diagnostics[0]
	if d0.Severity != "error" || d0.Rule != "UP012" || d0.Range.Filename != "plans/p.upshift.hcl" ||
		d0.Range.Start.Line != 3 || d0.Range.Start.Column != 22 || d0.Range.End.Column != 37 {
		t.Errorf("diagnostic 0 = %+v", d0)
	}
	sn := d0.Snippet
	if sn.Code != `    database { dsn = env("KONG_DSN") }` || sn.StartLine != 3 || sn.Context == nil || *sn.Context != `upgrade "p"` ||
		sn.Code[sn.HighlightStartOffset:sn.HighlightEndOffset] != `env("KONG_DSN")` {
		t.Errorf("snippet 0 = %+v", sn)
	}
	if out.Diagnostics[1].Rule != ParserRuleID || out.Diagnostics[1].Severity != "warning" {
		t.Errorf("diagnostic 1 = %+v", out.Diagnostics[1])
	}
	if d2 := out.Diagnostics[2]; d2.Severity != "info" || !d2.Acknowledged || d2.Rule != "UP003" {
		t.Errorf("diagnostic 2 = %+v", d2)
	}
	// No diagnostics: an empty list, not null, and valid.
	if raw := render(t, JSON, nil, Options{}); !strings.Contains(raw, `"diagnostics": []`) || !strings.Contains(raw, `"valid": true`) {
		t.Errorf("empty json output:\n%s", raw)
	}
}

func TestGitHub(t *testing.T) {
	diags, files := fixture(t)
	got := render(t, GitHub, diags, Options{Files: files})
	want := "::error file=plans/p.upshift.hcl,line=3,col=22,endLine=3,endColumn=37,title=UP012 Dual-cluster needs Y's own database::Y's database is X's.%0AUse another.\n" +
		"::warning file=plans/p.upshift.hcl,line=5,col=3,endLine=5,endColumn=7,title=Odd%2C value%3A 100%25::Odd, value: 100%25\n" +
		"::notice file=plans/p.upshift.hcl,line=1,col=1,endLine=1,endColumn=8,title=UP003 Stay on / roll back to the current version (acknowledged)::Stays on 3.9.1.\n"
	if got != want {
		t.Errorf("github output:\n%s\nwant:\n%s", got, want)
	}
}

func TestGitHubRelativeToBase(t *testing.T) {
	base := t.TempDir()
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "S", Detail: "D\r\n", Subject: &hcl.Range{
		Filename: filepath.Join(base, "dir", "a.upshift.hcl"), Start: hcl.Pos{Line: 2, Column: 1}, End: hcl.Pos{Line: 4, Column: 2}}}
	got := render(t, GitHub, hcl.Diagnostics{d}, Options{BaseDir: base})
	if want := "::error file=dir/a.upshift.hcl,line=2,col=1,endLine=4,title=S::D\n"; got != want {
		t.Errorf("github output = %q, want %q", got, want)
	}
	if got := escapeData("a%b\r\nc"); got != "a%25b%0D%0Ac" {
		t.Errorf("escapeData = %q", got)
	}
}

// TestRealDiagnostics renders what the parser and the linter report on the
// schema's invalid fixtures in every format, so that the renderers meet
// real ranges (parse errors, file-level errors, set-level findings).
func TestRealDiagnostics(t *testing.T) {
	p := plan.NewParser()
	set, diags := p.LoadPaths("../testdata/invalid")
	diags = append(diags, schema.Lint(set, schema.Options{})...)
	if len(diags) < 30 {
		t.Fatalf("only %d diagnostics from the invalid fixtures", len(diags))
	}
	for _, f := range Formats() {
		out := render(t, f, diags, Options{Files: p.Files(), ToolVersion: "test"})
		if len(out) == 0 {
			t.Errorf("%s: no output", f)
		}
		if f == JSON || f == SARIF {
			if !json.Valid([]byte(out)) {
				t.Errorf("%s: output is not JSON", f)
			}
		}
		if f == GitHub {
			if n := strings.Count(out, "\n"); n != len(diags) {
				t.Errorf("github: %d lines for %d diagnostics", n, len(diags))
			}
		}
	}
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}
