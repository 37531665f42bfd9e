package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/upshift-dev/upshift/internal/kongrelease"
)

// Kinds of backup.
const (
	KindPGDump      = "pg_dump"     // database-level: pg_dump -Fc of Kong's database
	KindDeclarative = "declarative" // DB-less: Kong's GET /config
)

// Manifest describes one backup; it is written next to the archive as
// <name>.json. Paths inside are relative to the manifest's directory.
type Manifest struct {
	Version     int       `json:"manifest_version"` // 1
	Name        string    `json:"name"`             // <plan>-<UTC time>
	Kind        string    `json:"kind"`
	Plan        string    `json:"plan"`
	Commit      string    `json:"commit,omitempty"`
	KongVersion string    `json:"kong_version,omitempty"`
	CreatedAt   time.Time `json:"created_at"`

	Archive string `json:"archive"` // file name
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`

	// pg_dump only.
	PGDumpVersion  string                      `json:"pg_dump_version,omitempty"`
	ArchiveFormat  string                      `json:"archive_format,omitempty"` // header version, "1.14-0"
	ServerVersion  string                      `json:"server_version,omitempty"`
	Database       string                      `json:"database,omitempty"`
	NeedsBootstrap bool                        `json:"needs_bootstrap,omitempty"`
	SchemaMeta     []kongrelease.SchemaMetaRow `json:"schema_meta,omitempty"`

	Fingerprint Fingerprint `json:"fingerprint"`

	// Deck is the decK dump taken with the database backup (a second,
	// application-level backup), when an Admin API was given.
	Deck *Artifact `json:"deck,omitempty"`

	// Verification is nil until Verify ran.
	Verification *Verification `json:"verification,omitempty"`

	dir string
}

// Artifact is a file that belongs to a backup.
type Artifact struct {
	File   string `json:"file"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Verification is the outcome of a test restore (Verify).
type Verification struct {
	At     time.Time `json:"at"`
	OK     bool      `json:"ok"`
	Reason string    `json:"reason"` // what matched, or what did not
	// PGRestoreVersion is the pg_restore that restored it.
	PGRestoreVersion string `json:"pg_restore_version,omitempty"`
	Duration         string `json:"duration"`
}

// ArchivePath is the archive's path.
func (m *Manifest) ArchivePath() string { return filepath.Join(m.dir, m.Archive) }

// Path is the manifest file's path.
func (m *Manifest) Path() string { return filepath.Join(m.dir, m.Name+".json") }

// Dir is the directory holding the manifest.
func (m *Manifest) Dir() string { return m.dir }

// ErrUnverified is wrapped by Usable for a backup that was not verified.
var ErrUnverified = errors.New("backup not verified")

// Usable says whether an upgrade may proceed on this backup: only when a
// verification restore succeeded. The error says why not.
func (m *Manifest) Usable() error {
	switch {
	case m.Verification == nil:
		return fmt.Errorf("%s: %w (no test restore has been made)", m.Name, ErrUnverified)
	case !m.Verification.OK:
		return fmt.Errorf("%s: %w: the test restore failed: %s", m.Name, ErrUnverified, m.Verification.Reason)
	}
	return nil
}

// Save writes the manifest atomically (temp file, fsync, rename).
func (m *Manifest) Save() error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(m.Path(), append(b, '\n'))
}

// LoadManifest reads a manifest file.
func LoadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", path, err)
	}
	if m.Version != 1 {
		return nil, fmt.Errorf("read manifest %s: unknown manifest_version %d", path, m.Version)
	}
	m.dir = filepath.Dir(path)
	return &m, nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
