package backup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/upshift-dev/upshift/internal/kong"
)

// conn is a DSN split for PostgreSQL's command-line tools: Arg is the DSN
// without its password (safe for argv), Env carries PGPASSWORD when the
// DSN had one. Passwords never reach argv, a log or an error.
type conn struct {
	Arg      string
	Env      []string
	Database string
	dsn      string // the full DSN, for pgx
}

var rePassword = regexp.MustCompile(`(^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

func parseConn(dsn string) (conn, error) {
	db, err := kong.ParseDSN(dsn)
	if err != nil {
		return conn{}, err
	}
	c := conn{Database: db.Database, dsn: dsn}
	if db.Password != "" {
		c.Env = []string{"PGPASSWORD=" + db.Password}
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return conn{}, errors.New("invalid database URL")
		}
		if u.User != nil {
			u.User = url.User(u.User.Username())
		}
		q := u.Query()
		q.Del("password")
		u.RawQuery = q.Encode()
		c.Arg = u.String()
	} else {
		c.Arg = strings.TrimSpace(rePassword.ReplaceAllString(dsn, "$1"))
	}
	return c, nil
}

// withDatabase returns the DSN pointing at another database of the same
// server.
func withDatabase(dsn, db string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errors.New("invalid database URL")
		}
		u.Path = "/" + db
		return u.String(), nil
	}
	re := regexp.MustCompile(`(^|\s)dbname\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)
	if re.MatchString(dsn) {
		return re.ReplaceAllString(dsn, "${1}dbname="+db), nil
	}
	return dsn + " dbname=" + db, nil
}

// run runs a PostgreSQL tool with the password in the environment and
// returns its stderr in the error.
func run(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

var toolVersions sync.Map // name → [2]any{version, major}

// toolVersion is `name --version`'s version ("15.18") and major (15),
// asked once per process and tool.
func toolVersion(ctx context.Context, name string) (string, int, error) {
	if v, ok := toolVersions.Load(name); ok {
		p := v.([2]any)
		return p[0].(string), p[1].(int), nil
	}
	out, err := run(ctx, nil, name, "--version")
	if err != nil {
		return "", 0, err
	}
	f := strings.Fields(string(out)) // pg_dump (PostgreSQL) 15.18 (Debian ...)
	if len(f) < 3 {
		return "", 0, fmt.Errorf("%s --version: unexpected %q", name, out)
	}
	v := f[2]
	major, err := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	if err != nil {
		return "", 0, fmt.Errorf("%s --version: unexpected %q", name, out)
	}
	toolVersions.Store(name, [2]any{v, major})
	return v, major, nil
}

// ArchiveVersion is the format version in a custom-format archive's header
// (PGDMP, then major, minor, revision bytes): 1.14 from pg_dump 12–15,
// 1.15 from 16, 1.16 from 17.
type ArchiveVersion struct{ Major, Minor, Rev int }

func (v ArchiveVersion) String() string { return fmt.Sprintf("%d.%d-%d", v.Major, v.Minor, v.Rev) }

func (v ArchiveVersion) less(o ArchiveVersion) bool {
	if v.Major != o.Major {
		return v.Major < o.Major
	}
	return v.Minor < o.Minor
}

// ReadArchiveVersion reads the header of a pg_dump -Fc archive.
func ReadArchiveVersion(path string) (ArchiveVersion, error) {
	av, _, err := readArchiveHeader(path)
	return av, err
}

// readArchiveHeader reads a custom-format archive's format version and,
// for formats 1.10 to 1.14 (pg_dump 9.x to 15), the version of the
// pg_dump that wrote it ("15.18"). After the 11 bytes of magic, version,
// sizes and format, ReadHead (pg_backup_archiver.c) reads the compression
// level as an int (one byte from 1.15 on, which no pg_dump here could
// write to test), the creation time as 7 ints, then the database name,
// the server's version and pg_dump's PG_VERSION as strings; pg_dump 15's
// archives (1.14) were read to confirm it. The pg_dump version is "" for
// other formats and for a header it cannot read past the first 8 bytes:
// the caller asks pg_dump --version instead.
func readArchiveHeader(path string) (ArchiveVersion, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return ArchiveVersion{}, "", err
	}
	defer f.Close()
	a := &archiveReader{r: bufio.NewReader(f)}
	var h [11]byte
	if n, err := io.ReadFull(a.r, h[:]); err != nil && n < 8 {
		return ArchiveVersion{}, "", fmt.Errorf("read archive header of %s: %w", path, err)
	}
	if string(h[:5]) != "PGDMP" {
		return ArchiveVersion{}, "", fmt.Errorf("%s is not a pg_dump custom-format archive", path)
	}
	av := ArchiveVersion{Major: int(h[5]), Minor: int(h[6]), Rev: int(h[7])}
	if av.Major != 1 || av.Minor < 10 || av.Minor > 14 || h[8] < 4 || h[8] > 8 || h[10] != 1 {
		return av, "", nil
	}
	a.intSize = int(h[8])
	for i := 0; i < 8; i++ { // compression, creation time
		if _, err := a.int(); err != nil {
			return av, "", nil
		}
	}
	var v string
	for i := 0; i < 3; i++ { // database name, server version, pg_dump version
		if v, _, err = a.str(); err != nil {
			return av, "", nil
		}
	}
	if f := strings.Fields(v); len(f) > 0 {
		return av, f[0], nil
	}
	return av, "", nil
}

// maxArchiveFor is the newest archive format a pg_restore of this major
// version reads (PostgreSQL's K_VERS_MAX in pg_backup_archiver.h).
func maxArchiveFor(major int) ArchiveVersion {
	switch {
	case major >= 17:
		return ArchiveVersion{1, 16, 0}
	case major == 16:
		return ArchiveVersion{1, 15, 0}
	case major >= 12:
		return ArchiveVersion{1, 14, 0}
	case major == 11:
		return ArchiveVersion{1, 13, 0}
	default:
		return ArchiveVersion{1, 12, 0}
	}
}

// CheckRestorable refuses an archive written by a newer pg_dump than the
// local pg_restore reads (pg_restore would fail with "unsupported version
// (1.15) in file header"; kong-upgrade-failures §7).
func CheckRestorable(ctx context.Context, path string) error {
	av, err := ReadArchiveVersion(path)
	if err != nil {
		return err
	}
	v, major, err := toolVersion(ctx, "pg_restore")
	if err != nil {
		return err
	}
	if max := maxArchiveFor(major); max.less(av) {
		return &RefusedError{Reason: fmt.Sprintf("archive %s has format %d.%d, written by a newer pg_dump than the local pg_restore %s reads (up to %d.%d); install a pg_restore at least as new as the pg_dump that made it",
			path, av.Major, av.Minor, v, max.Major, max.Minor)}
	}
	return nil
}
