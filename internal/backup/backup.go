package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/upshift-dev/upshift/internal/kong"
)

// Options is what a backup needs. The zero value of every field but DSN
// (or Admin for DB-less) and Dir is usable.
type Options struct {
	// DSN is Kong's database (DB mode). Its password goes to pg_dump as
	// PGPASSWORD only.
	DSN string
	// Admin, when set, is the node's Admin API: in DB mode a decK dump is
	// taken as a second backup; without DSN (DB-less) GET /config is the
	// backup.
	Admin *kong.Client
	Dir   string // the plan's backup directory; created if missing
	Plan  string // plan name, part of the file names
	// Commit and KongVersion are recorded in the manifest.
	Commit, KongVersion string
	Now                 func() time.Time
	Logger              *slog.Logger
}

// fingerprintFromArchive is switched off by BenchmarkBackupSeeded only, to
// time the SQL fingerprint (the fallback) in the same run.
var fingerprintFromArchive = true

var planName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Backup takes a backup and writes its manifest. In DB mode: one
// REPEATABLE READ transaction reads schema_meta and exports its snapshot,
// pg_dump -Fc dumps that same snapshot, and the fingerprint is computed
// from the archive's bytes as they are written (or from the snapshot, for
// what the archive reader cannot render), so the manifest describes
// exactly what the archive holds; then the decK dump
// when Admin is set. DB-less: GET /config and its fingerprint. The backup
// is not verified (see Verify). Repeating makes a new backup; cancellation
// stops pg_dump and leaves no archive behind.
func Backup(ctx context.Context, o Options) (*Manifest, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if !planName.MatchString(o.Plan) {
		return nil, fmt.Errorf("backup: plan name %q is not usable in a file name", o.Plan)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	now := o.Now().UTC()
	m := &Manifest{Version: 1, Plan: o.Plan, Commit: o.Commit, KongVersion: o.KongVersion, CreatedAt: now,
		Name: o.Plan + "-" + now.Format("20060102T150405.000Z"), dir: o.Dir}
	var err error
	switch {
	case o.DSN != "":
		err = dumpDatabase(ctx, o, m)
	case o.Admin != nil:
		err = dumpDeclarative(ctx, o, m)
	default:
		err = errors.New("neither a database DSN nor an Admin API given")
	}
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", m.Name, err)
	}
	if err := m.Save(); err != nil {
		return nil, fmt.Errorf("backup %s: write manifest: %w", m.Name, err)
	}
	o.Logger.Info("backup written", "name", m.Name, "kind", m.Kind, "size", m.Size, "entities", m.Fingerprint.Entities())
	return m, nil
}

func dumpDatabase(ctx context.Context, o Options, m *Manifest) error {
	c, err := parseConn(o.DSN)
	if err != nil {
		return err
	}
	m.Kind, m.Database = KindPGDump, c.Database
	db, err := pgx.Connect(ctx, o.DSN)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", c.Database, err)
	}
	defer db.Close(context.WithoutCancel(ctx))
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var snapshot, schema, encoding string
	if err := tx.QueryRow(ctx, `SELECT pg_export_snapshot(), current_setting('server_version'), current_schema(), current_setting('server_encoding')`).Scan(&snapshot, &m.ServerVersion, &schema, &encoding); err != nil {
		return fmt.Errorf("export snapshot: %w", err)
	}
	st, err := kong.ReadSchemaFrom(ctx, tx)
	if err != nil {
		return err
	}
	ek, err := readEntityKinds(ctx, tx)
	if err != nil {
		return err
	}
	// The fingerprint is read from pg_dump's output as it is written (the
	// database is read once; on a loaded host a second read of the
	// snapshot cost 60-75% of pg_dump's time). A kind the archive reader
	// cannot render is read from the snapshot afterwards, with SQL.
	af := newArchiveFingerprint(ek, schema)
	pw := newSpool(64 << 20)
	parsed := af.readInBackground(pw)

	m.Archive = m.Name + ".dump"
	tmp := m.ArchivePath() + ".partial"
	defer os.Remove(tmp)
	var sink io.Writer = pw
	switch {
	case encoding != "UTF8":
		// The archive holds the database's encoding; the SQL fingerprint
		// is computed on UTF-8 text.
		sink = nil
		pw.CloseWithError(fmt.Errorf("server encoding %s, not UTF8", encoding))
	case !fingerprintFromArchive:
		sink = nil
		pw.CloseWithError(errors.New("reading the archive is switched off"))
	}
	m.Size, m.SHA256, err = pgDumpTo(ctx, c, snapshot, tmp, sink)
	pw.CloseWithError(err)
	perr := <-parsed
	if err != nil {
		return err
	}
	var fp Fingerprint
	if perr != nil {
		o.Logger.Warn("fingerprint read from the database: the archive could not be read for it", "reason", perr.Error())
		fp, err = ek.fingerprint(ctx, tx, newFingerprintHash(), nil)
	} else {
		if read := af.complete(); len(read) < len(ek.kinds) {
			o.Logger.Info("fingerprint partly read from the database", "kinds_from_archive", len(read), "kinds", len(ek.kinds))
		}
		fp, err = af.fingerprint(ctx, tx)
	}
	if err != nil {
		return err
	}
	m.NeedsBootstrap, m.SchemaMeta, m.Fingerprint = st.NeedsBootstrap, st.Rows, fp
	// The archive's header names the pg_dump that wrote it; asking
	// pg_dump --version (through Debian's wrapper) cost a process's first
	// backup 30 ms.
	av, dumpVersion, err := readArchiveHeader(tmp)
	if err != nil {
		return err
	}
	m.ArchiveFormat, m.PGDumpVersion = av.String(), dumpVersion
	if dumpVersion == "" {
		if m.PGDumpVersion, _, err = toolVersion(ctx, "pg_dump"); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, m.ArchivePath()); err != nil {
		return err
	}
	if o.Admin != nil {
		d, err := Dump(ctx, o.Admin)
		if err != nil {
			return fmt.Errorf("decK dump (second backup): %w", err)
		}
		y, err := d.YAML("")
		if err != nil {
			return err
		}
		a, err := writeArtifact(o.Dir, m.Name+".deck.yaml", y)
		if err != nil {
			return err
		}
		m.Deck = a
	}
	return nil
}

func dumpDeclarative(ctx context.Context, o Options, m *Manifest) error {
	m.Kind = KindDeclarative
	conf, err := o.Admin.Config(ctx)
	if err != nil {
		return err
	}
	if m.Fingerprint, err = FingerprintDeclarative(conf); err != nil {
		return err
	}
	a, err := writeArtifact(o.Dir, m.Name+".kong.yaml", conf)
	if err != nil {
		return err
	}
	m.Archive, m.Size, m.SHA256 = a.File, a.Size, a.SHA256
	return nil
}

// pgDumpTo runs pg_dump -Fc of the exported snapshot into path, hashing
// the stream as it is written (no second read of the archive) and, when
// also is not nil, copying it there.
func pgDumpTo(ctx context.Context, c conn, snapshot, path string, also io.Writer) (int64, string, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	ws := []io.Writer{f, h}
	if also != nil {
		ws = append(ws, also)
	}
	cw := &countWriter{w: io.MultiWriter(ws...)}
	cmd := exec.CommandContext(ctx, "pg_dump", "-Fc", "--snapshot="+snapshot, "-d", c.Arg)
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Stdout = cw
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return 0, "", fmt.Errorf("pg_dump: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if err := f.Sync(); err != nil {
		return 0, "", err
	}
	return cw.n, hex.EncodeToString(h.Sum(nil)), f.Close()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func writeArtifact(dir, name string, b []byte) (*Artifact, error) {
	if err := writeFileAtomic(filepath.Join(dir, name), b); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return &Artifact{File: name, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}, nil
}

func fileDigest(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
