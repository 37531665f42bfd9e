package backup

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestArchiveHeaderNamesPGDump: the version recorded is the third string
// of a 1.14 header (pg_dump's, not the server's or the database name);
// a format whose header layout differs (1.15, compression as a byte), a
// directory-format header and a header cut short give "" so that Backup
// asks pg_dump --version instead; fewer than 8 bytes are an error.
func TestArchiveHeaderNamesPGDump(t *testing.T) {
	header := func(minor, format byte, strs ...string) []byte {
		var b bytes.Buffer
		b.WriteString("PGDMP")
		b.Write([]byte{1, minor, 0, 4, 8, format})
		putInt := func(v int) {
			sign := byte(0)
			if v < 0 {
				sign, v = 1, -v
			}
			b.Write([]byte{sign, byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)})
		}
		putInt(-1) // compression: default
		for _, v := range []int{52, 3, 19, 6, 11, 126, 0} {
			putInt(v)
		}
		for _, s := range strs {
			putInt(len(s))
			b.WriteString(s)
		}
		putInt(0) // TOC entries
		return b.Bytes()
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name    string
		archive []byte
		want    string
		wantErr bool
	}{
		{"1.14", header(14, 1, "kong", "16.4 (Ubuntu 16.4-1)", "15.18 (Debian 15.18-0+deb12u1)"), "15.18", false},
		{"1.15", header(15, 1, "kong", "16.4", "16.4"), "", false},
		{"directory format", header(14, 5, "kong", "16.4", "15.18"), "", false},
		{"cut short", header(14, 1, "kong", "16.4")[:60], "", false},
		{"7 bytes", header(14, 1)[:7], "", true},
	} {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, c.archive, 0o600); err != nil {
			t.Fatal(err)
		}
		av, got, err := readArchiveHeader(path)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("%s: pg_dump version %q, error %v; want %q, error %v", c.name, got, err, c.want, c.wantErr)
		}
		if err == nil && av.Minor != int(c.archive[6]) {
			t.Errorf("%s: format %s", c.name, av)
		}
	}
}
