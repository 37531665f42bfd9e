package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// significant returns src's tokens without newlines, comments' trailing
// newlines and EOF: what canonical may not change.
func significant(t *testing.T, src []byte) []string {
	t.Helper()
	toks, diags := hclsyntax.LexConfig(src, "x.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("lex: %s", diags)
	}
	var out []string
	for _, tok := range toks {
		switch tok.Type {
		case hclsyntax.TokenNewline, hclsyntax.TokenEOF:
			continue
		case hclsyntax.TokenComment:
			out = append(out, strings.TrimRight(string(tok.Bytes), "\n"))
			continue
		}
		out = append(out, tok.Type.String()+":"+string(tok.Bytes))
	}
	return out
}

// corpus is every plan file in the repository's examples and schema
// fixtures that parses, plus hand-made messy inputs.
func corpus(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{
		"messy": []byte("\n\n# c\nupgrade \"p\" {\n\n\n  a=1\n  bbb   =   [1,\n\n 2]\n  o = {\n\n    k = \"v\"\n\n  }\n  h = <<EOT\n\n\n  keep\nEOT\n\n}\n\n\n"),
		"crlf":  []byte("a = 1\r\nbb = 2\r\n"),
		"empty": []byte(""),
		"nonl":  []byte("a = \"x\""),
		"tabs":  []byte("x {\n\ta\t= 1 # tab\n}\n"),
	}
	for _, root := range []string{"../../examples", "../../schema/testdata", "../../plan/testdata"} {
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".hcl") {
				return nil
			}
			src, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, diags := hclsyntax.ParseConfig(src, p, hcl.InitialPos); !diags.HasErrors() {
				files[p] = src
			}
			return nil
		})
	}
	if len(files) < 20 {
		t.Fatalf("corpus has only %d files", len(files))
	}
	return files
}

// TestCanonicalIdempotentAndSafe: formatting twice changes nothing, the
// result still parses, and no token but whitespace and newlines changes.
func TestCanonicalIdempotentAndSafe(t *testing.T) {
	for name, src := range corpus(t) {
		once := canonical(src)
		if twice := canonical(once); !bytes.Equal(once, twice) {
			t.Errorf("%s: not idempotent:\n%s\n--- then ---\n%s", name, once, twice)
		}
		if _, diags := hclsyntax.ParseConfig(once, name, hcl.InitialPos); diags.HasErrors() {
			t.Errorf("%s: formatted output does not parse: %s", name, diags)
			continue
		}
		if !bytes.Equal(canonicalPass(src, true), once) {
			t.Errorf("%s: the fast path (no token pass) gives a different result", name)
		}
		a, b := significant(t, src), significant(t, once)
		if strings.Join(a, "\x00") != strings.Join(b, "\x00") {
			t.Errorf("%s: tokens changed:\n%q\n%q", name, a, b)
		}
	}
}

func TestCanonicalLayout(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"\n\n\n", ""},
		{"a = 1", "a = 1\n"},
		{"a = 1\n\n\n\nbb = 2\n\n", "a = 1\n\nbb = 2\n"},
		{"x {\n\n  a = 1\n\n}\n", "x {\n  a = 1\n}\n"},
		{"x {\n  # c\n\n\n  a = 1 # d\n\n\n}\n", "x {\n  # c\n\n  a = 1 # d\n}\n"},
		{"h = <<EOT\n\n\nx\nEOT\n", "h = <<EOT\n\n\nx\nEOT\n"},
		{"s = \"a\n\"\n", "s = \"a\n\"\n"},
		// CRLF (the first line's ending) on every line, the last one too.
		{"a=1\r\nb {\r\n\r\nc=2\r\n}", "a = 1\r\nb {\r\n  c = 2\r\n}\r\n"},
		{"a=1\r\nb=2\n", "a = 1\r\nb = 2\r\n"},
	} {
		if got := string(canonical([]byte(c.in))); got != c.want {
			t.Errorf("canonical(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestExamplesAreCanonical: `upshift fmt --check examples/` must pass.
func TestExamplesAreCanonical(t *testing.T) {
	var s streams
	var out, errw bytes.Buffer
	s.Out, s.Err = &out, &errw
	if code := Main(t.Context(), []string{"fmt", "--check", "../../examples"}, &s); code != exitOK {
		t.Errorf("upshift fmt --check examples: exit %d\n%s%s", code, out.String(), errw.String())
	}
}

// TestWriteAtomicKeepsMode: fmt rewrites through a temporary file and keeps
// the file's permission bits; no temporary file is left behind.
func TestWriteAtomicKeepsMode(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "p.upshift.hcl")
	if err := os.WriteFile(name, []byte("a   = 1\nbb = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	if code := Main(t.Context(), []string{"fmt", dir}, &streams{Out: &out, Err: &errw}); code != exitOK {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	info, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after fmt, want 0600", info.Mode().Perm())
	}
	if got, _ := os.ReadFile(name); string(got) != "a  = 1\nbb = 2\n" {
		t.Errorf("content %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after fmt, want 1", len(entries))
	}
}

// FuzzCanonical checks, for any input that parses, that canonical is
// idempotent, keeps it parseable, and that the blank-line fast path never
// skips a change dropBlankLines would make.
func FuzzCanonical(f *testing.F) {
	f.Add([]byte("x {\n\n  a = 1\n\n}\n"))
	f.Add([]byte("\n\na = <<EOT\n\n\nEOT\n\n\nb = 2"))
	f.Add([]byte("x { # c\n\n  y = {\n\n  }\n}\r\n\r\n\r\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		if _, diags := hclsyntax.ParseConfig(src, "f.hcl", hcl.InitialPos); diags.HasErrors() {
			return
		}
		once := canonical(src)
		if forced := canonicalPass(src, true); !bytes.Equal(forced, once) {
			t.Fatalf("fast path differs on %q:\n%q\n%q", src, once, forced)
		}
		if _, diags := hclsyntax.ParseConfig(once, "f.hcl", hcl.InitialPos); diags.HasErrors() {
			t.Fatalf("canonical(%q) = %q does not parse: %s", src, once, diags)
		}
		if twice := canonical(once); !bytes.Equal(once, twice) {
			t.Fatalf("not idempotent on %q:\n%q\n%q", src, once, twice)
		}
	})
}
