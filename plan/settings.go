package plan

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// SettingsFile is the plans repository's settings file: where its
// clusters' runs are journaled and locked, declared once for every entry
// point (upshift apply, plan, unlock and the agent). See docs/runs.md.
//
//	journal {
//	  dir = "/var/lib/upshift/journal"      # an absolute path on this host
//	  # or
//	  postgres = env("UPSHIFT_JOURNAL_DSN") # shared by every host
//	}
const SettingsFile = "upshift.hcl"

// Settings is a decoded settings file.
type Settings struct {
	File    string
	Journal *Journal // nil when the file declares none
}

// Journal is the declared journal store: exactly one of Dir (a directory
// store) and Postgres (a PostgreSQL store, its DSN from env()).
type Journal struct {
	DeclRange hcl.Range
	Dir       String
	Postgres  Value
}

var settingsSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "journal"}},
}

var journalSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "dir"}, {Name: "postgres"}},
}

// ParseSettings decodes a settings file's source.
func ParseSettings(filename string, src []byte) (*Settings, hcl.Diagnostics) {
	_, s, diags := parseSettings(filename, src)
	return s, diags
}

func parseSettings(filename string, src []byte) (*hcl.File, *Settings, hcl.Diagnostics) {
	f, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return f, nil, diags
	}
	d := newDecoder(filename)
	d.add(diags...)
	content, cd := f.Body.Content(settingsSchema)
	d.add(cd...)
	s := &Settings{File: filename}
	if b := d.singleBlock(content.Blocks, "journal"); b != nil {
		c, jd := b.Body.Content(journalSchema)
		d.add(jd...)
		j := &Journal{DeclRange: b.DefRange, Dir: d.str(c.Attributes["dir"]), Postgres: d.value(c.Attributes["postgres"])}
		if j.Dir.Given() == j.Postgres.Given() {
			d.errorf(b.DefRange, "Give one journal", "A journal block names one store: dir = \"/ABSOLUTE/PATH\" (a directory on this host) or postgres = env(\"NAME\") (a PostgreSQL database every host reaches).")
		}
		s.Journal = j
	}
	return f, s, d.diags
}

// FindSettings looks for the settings file in the directory of path (a
// plan file or a directory) and each parent in turn, up to and including
// the first that holds .git (the repository's root). It returns "" when
// there is none.
func FindSettings(path string) (string, error) {
	dir, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("find %s: %w", SettingsFile, err)
	}
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		dir = filepath.Dir(dir)
	}
	for {
		f := filepath.Join(dir, SettingsFile)
		if _, err := os.Stat(f); err == nil {
			return f, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("find %s: %w", SettingsFile, err)
		}
		if _, err := os.Stat(filepath.Join(dir, ".git")); err == nil {
			return "", nil // the repository's root: no settings
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", nil
		}
		dir = parent
	}
}

// LoadSettings finds and decodes the settings file that governs path; nil
// without diagnostics when there is none.
func LoadSettings(path string) (*Settings, hcl.Diagnostics) {
	_, s, diags := loadSettings(path)
	return s, diags
}

func loadSettings(path string) (*hcl.File, *Settings, hcl.Diagnostics) {
	f, err := FindSettings(path)
	if err != nil {
		return nil, nil, hcl.Diagnostics{fileError(path, "Cannot read settings", err.Error()+".")}
	}
	if f == "" {
		return nil, nil, nil
	}
	src, err := readBounded(f)
	if err != nil {
		return nil, nil, hcl.Diagnostics{fileError(f, "Cannot read settings", err.Error())}
	}
	return parseSettings(f, src)
}

// loadSettings sets set.Settings from the settings file that governs the
// paths; plans governed by two different files are an error (one journal
// per lint or apply).
func (p *Parser) loadSettings(set *Set, paths []string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, path := range paths {
		f, s, d := loadSettings(path)
		diags = append(diags, d...)
		if f != nil && s != nil {
			p.hcl.AddFile(s.File, f)
		}
		switch {
		case s == nil:
		case set.Settings == nil:
			set.Settings = s
		case set.Settings.File != s.File:
			diags = append(diags, fileError(s.File, "Two settings files",
				fmt.Sprintf("The paths given are governed by %s and by %s: lint or apply the plans of one repository at a time.", set.Settings.File, s.File)))
		}
	}
	return diags
}
