package plan

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// FileSuffix is how plan files are named; LoadPaths picks them out of
// directories (a file named on the command line is read whatever its name).
const FileSuffix = ".upshift.hcl"

// MaxFileSize is the largest plan file LoadPaths reads. A plan is a few KB;
// anything past 1 MiB is a mistake (a wrong path, a generated blob), refused
// with a positioned error before parsing. It also bounds the worst case:
// HCL lexes a 1 MiB file of tiny blocks in about a second.
const MaxFileSize = 1 << 20

// MaxNesting bounds how deeply brackets, braces and parentheses may nest in a
// plan file. HCL's parser is recursive; bounding the depth before parsing
// keeps hostile input from exhausting the stack. Real plans nest < 10 deep.
const MaxNesting = 64

// Parser reads plan files. It wraps hclparse.Parser so that every file read
// stays available (Files) for source snippets in diagnostics. A Parser is
// not safe for concurrent use.
type Parser struct {
	hcl *hclparse.Parser
	// CheckSource, when set, is called by LoadPaths with the source of
	// each file that parsed and decoded without errors, on the goroutine
	// that read it (so concurrently for different files, while the source
	// is fresh); its diagnostics join the file's. `lint --check-format`
	// checks the layout here.
	CheckSource func(path string, src []byte) hcl.Diagnostics
}

// NewParser returns an empty Parser.
func NewParser() *Parser { return &Parser{hcl: hclparse.NewParser()} }

// Files returns every file parsed so far, by filename, for rendering
// diagnostics with source snippets.
func (p *Parser) Files() map[string]*hcl.File { return p.hcl.Files() }

// LoadPaths reads the plan files at paths: a file is read whatever its
// name; a directory is walked recursively for *.upshift.hcl files. Files
// are read in sorted order. It returns every plan that decoded and every
// diagnostic (syntax, types, missing or unknown attributes and blocks).
// A file that fails to parse yields its diagnostics and no plans. LoadPaths
// never panics and never stops at the first error.
func (p *Parser) LoadPaths(paths ...string) (*Set, hcl.Diagnostics) {
	set := &Set{}
	files, diags := FindFiles(paths...)
	set.Files = files
	diags = append(diags, p.loadSettings(set, paths)...)
	// Files are read, parsed and decoded in parallel (parsing is most of
	// lint's time), then registered and reported in sorted order.
	type loaded struct {
		file  *hcl.File
		plans []*Plan
		diags hcl.Diagnostics
	}
	results := make([]loaded, len(files))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Go(func() {
			for i := range work {
				r := &results[i]
				src, d := ReadFile(files[i])
				if d != nil {
					r.diags = hcl.Diagnostics{d}
					continue
				}
				r.file, r.plans, r.diags = parseSource(files[i], src)
				if p.CheckSource != nil && !r.diags.HasErrors() {
					r.diags = append(r.diags, p.CheckSource(files[i], src)...)
				}
			}
		})
	}
	for i := range files {
		work <- i
	}
	close(work)
	wg.Wait()
	for i, r := range results {
		if r.file != nil {
			p.hcl.AddFile(files[i], r.file)
		}
		diags = append(diags, r.diags...)
		set.Plans = append(set.Plans, r.plans...)
	}
	return set, diags
}

// FindFiles expands path arguments into plan files, deduplicated and
// sorted: a file as given, a directory walked recursively for
// *.upshift.hcl (skipping hidden directories and testdata). What cannot be
// read (a missing path, an unreadable directory) is an error diagnostic and
// a directory without plans a warning; the walk goes on past both. It is
// the discovery of LoadPaths and of `upshift fmt`, so that both see the
// same files and report the same errors.
func FindFiles(paths ...string) ([]string, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	seen := map[string]bool{}
	var files []string
	for _, path := range paths {
		found, d := collect(path)
		diags = append(diags, d...)
		for _, f := range found {
			if !seen[f] {
				seen[f] = true
				files = append(files, f)
			}
		}
	}
	sort.Strings(files)
	return files, diags
}

// ReadFile reads one plan file FindFiles found, with LoadPaths' bounds:
// a regular file (a symbolic link is followed; a loop is an error) of at
// most MaxFileSize bytes. The error is a diagnostic at the file's start.
func ReadFile(path string) ([]byte, *hcl.Diagnostic) {
	src, err := readBounded(path)
	if err != nil {
		return nil, fileError(path, "Cannot read plan file", err.Error())
	}
	return src, nil
}

// CheckSource applies LoadPaths' bounds to a source read some other way
// (standard input, a file for `upshift fmt`): at most MaxFileSize bytes,
// nesting at most MaxNesting deep. Nil when src is within them.
func CheckSource(path string, src []byte) *hcl.Diagnostic {
	if len(src) > MaxFileSize {
		return fileError(path, "Cannot read plan file",
			fmt.Sprintf("The file is larger than %d MiB, the most a plan file may be.", MaxFileSize>>20))
	}
	return checkNesting(path, src)
}

// collect expands one path argument into plan files.
func collect(path string) ([]string, hcl.Diagnostics) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, hcl.Diagnostics{fileError(path, "Cannot read plan path", fmt.Sprintf("%v.", err))}
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	var diags hcl.Diagnostics
	walkErr := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			diags = append(diags, fileError(p, "Cannot read plan directory", fmt.Sprintf("%v.", err)))
			if d != nil && d.IsDir() && p != path {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if name := d.Name(); p != path && (strings.HasPrefix(name, ".") || name == "testdata") {
				return fs.SkipDir // .git and friends; fixtures of tools living next to plans
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), FileSuffix) {
			files = append(files, p)
		}
		return nil
	})
	if walkErr != nil {
		diags = append(diags, fileError(path, "Cannot read plan directory", fmt.Sprintf("%v.", walkErr)))
	}
	if len(files) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "No plan files",
			Detail:   fmt.Sprintf("The directory %s holds no *%s files.", path, FileSuffix),
			Subject:  &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos},
		})
	}
	return files, diags
}

// fileError is a diagnostic about a whole file, positioned at its start.
func fileError(path, summary, detail string) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Subject:  &hcl.Range{Filename: path, Start: hcl.InitialPos, End: hcl.InitialPos},
	}
}

// LoadSource parses and decodes src as the plan file filename (used for
// ranges, and as the base of file() paths). It applies the same bounds as
// LoadPaths: at most MaxFileSize bytes, nesting at most MaxNesting deep.
func (p *Parser) LoadSource(filename string, src []byte) ([]*Plan, hcl.Diagnostics) {
	f, plans, diags := parseSource(filename, src)
	if f != nil {
		p.hcl.AddFile(filename, f)
	}
	return plans, diags
}

// parseSource bounds-checks, parses and decodes one file's source. It
// touches no shared state, so files can be parsed concurrently; the file
// is nil when the source was refused before parsing.
func parseSource(path string, src []byte) (*hcl.File, []*Plan, hcl.Diagnostics) {
	if d := CheckSource(path, src); d != nil {
		return nil, nil, hcl.Diagnostics{d}
	}
	f, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() || f == nil {
		return f, nil, diags
	}
	plans, d := decodeFile(f, path)
	return f, plans, append(diags, d...)
}

// readBounded reads at most MaxFileSize bytes of path, refusing larger files
// without reading them whole.
func readBounded(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%v.", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file.", path)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%v.", err)
	}
	defer fh.Close()
	src, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %v.", path, err)
	}
	if len(src) > MaxFileSize {
		return nil, fmt.Errorf("The file is larger than %d MiB, the most a plan file may be; a plan is a few kilobytes. Check that the path names a plan.", MaxFileSize>>20)
	}
	return src, nil
}

// checkNesting refuses sources whose brackets, braces, parentheses and
// template interpolations nest deeper than MaxNesting, or which chain more
// than 4*MaxNesting unary operators, before HCL's recursive parser sees
// them. Brackets inside quoted strings and comments do not count; heredoc
// bodies do (an over-approximation that only matters for absurd files).
func checkNesting(path string, src []byte) *hcl.Diagnostic {
	var stack []byte // '{', '[', '(' or 'T' (a ${ or %{ inside a string)
	inStr, unary := false, 0
	tooDeep := func(i int) *hcl.Diagnostic {
		line, col := 1, 1
		for _, c := range src[:i] {
			if c == '\n' {
				line, col = line+1, 1
			} else {
				col++
			}
		}
		pos := hcl.Pos{Line: line, Column: col, Byte: i}
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Nesting too deep",
			Detail:   fmt.Sprintf("Blocks, brackets, templates or operators nest more than %d deep here; a plan never needs that. Flatten the expression.", MaxNesting),
			Subject:  &hcl.Range{Filename: path, Start: pos, End: hcl.Pos{Line: line, Column: col + 1, Byte: i + 1}},
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inStr {
			switch {
			case c == '\\':
				i++
			case c == '"' || c == '\n':
				inStr = false
			case (c == '$' || c == '%') && i+1 < len(src) && src[i+1] == '{':
				stack = append(stack, 'T')
				inStr = false
				i++
				if len(stack) > MaxNesting {
					return tooDeep(i)
				}
			}
			continue
		}
		switch c {
		case '!', '-':
			unary++
			if unary > 4*MaxNesting {
				return tooDeep(i)
			}
			continue
		case ' ', '\t', '\r':
			continue
		}
		unary = 0
		switch c {
		case '"':
			inStr = true
		case '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case '/':
			if i+1 < len(src) && src[i+1] == '/' {
				for i < len(src) && src[i] != '\n' {
					i++
				}
			} else if i+1 < len(src) && src[i+1] == '*' {
				end := bytes.Index(src[i+2:], []byte("*/"))
				if end < 0 {
					return nil // unterminated comment: HCL reports it
				}
				i += end + 3
			}
		case '{', '[', '(':
			stack = append(stack, c)
			if len(stack) > MaxNesting {
				return tooDeep(i)
			}
		case '}', ']', ')':
			if n := len(stack); n > 0 {
				if stack[n-1] == 'T' && c == '}' {
					inStr = true
				}
				stack = stack[:n-1]
			}
		}
	}
	return nil
}
