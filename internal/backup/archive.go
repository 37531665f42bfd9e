package backup

import (
	"bufio"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"strings"
)

// This file reads the table data of a pg_dump custom-format archive as it
// streams out of pg_dump (no seeking), so that Backup computes the
// fingerprint from the very bytes it archives instead of a second read of
// the database. Layout (PostgreSQL's pg_backup_archiver.c ReadHead/ReadToc
// and pg_backup_custom.c): a header, the table of contents, then one data
// block per TABLE DATA entry: a block type byte (1 = data), the entry's
// dump id, and the COPY text in chunks (int length, bytes; 0 ends), one
// zlib stream across the chunks unless the archive is uncompressed.
// Only the format versions this was tested on are read; any other is
// refused, and the caller reads the database instead.

// archiveTable is a TABLE DATA entry of the archive.
type archiveTable struct {
	Schema, Name string
	Columns      []string // from the entry's COPY statement
}

// archiveReader reads the primitives of the format.
type archiveReader struct {
	r       *bufio.Reader
	intSize int
	minor   int
}

var errArchiveFormat = errors.New("archive: unexpected custom-format layout")

func (a *archiveReader) byte() (byte, error) { return a.r.ReadByte() }

// int is ReadInt: a sign byte, then intSize bytes, least significant first.
func (a *archiveReader) int() (int64, error) {
	sign, err := a.r.ReadByte()
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := 0; i < a.intSize; i++ {
		b, err := a.r.ReadByte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b) << (8 * i)
	}
	if v > 1<<40 {
		return 0, errArchiveFormat
	}
	if sign != 0 {
		return -int64(v), nil
	}
	return int64(v), nil
}

// str is ReadStr: a length (-1 for NULL) and the bytes.
func (a *archiveReader) str() (string, bool, error) {
	n, err := a.int()
	if err != nil {
		return "", false, err
	}
	if n < 0 {
		return "", false, nil
	}
	if n > 1<<30 {
		return "", false, errArchiveFormat
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(a.r, b); err != nil {
		return "", false, err
	}
	return string(b), true, nil
}

// readArchive reads a custom-format archive from r and calls data for the
// COPY text of each TABLE DATA entry that want selects; the other blocks
// are skipped. It reads r to its end even when it fails, so that a writer
// feeding it through a pipe is never blocked.
func readArchive(r io.Reader, want func(archiveTable) bool, data func(archiveTable, io.Reader) error) (err error) {
	defer func() {
		if err != nil {
			_, _ = io.Copy(io.Discard, r)
		}
	}()
	a := &archiveReader{r: bufio.NewReaderSize(r, 64<<10)}
	var h [11]byte
	if _, err := io.ReadFull(a.r, h[:]); err != nil {
		return fmt.Errorf("archive header: %w", err)
	}
	if string(h[:5]) != "PGDMP" {
		return errors.New("archive: not a pg_dump custom-format archive")
	}
	// h[5:8] version; h[8] intSize; h[9] offSize; h[10] format (1 = custom).
	if h[5] != 1 || h[6] != 14 {
		return fmt.Errorf("archive: format %d.%d is not one this reader was tested on (1.14)", h[5], h[6])
	}
	a.minor, a.intSize = int(h[6]), int(h[8])
	offSize := int(h[9])
	if h[10] != 1 || a.intSize < 4 || a.intSize > 8 || offSize < 4 || offSize > 8 {
		return errArchiveFormat
	}
	compression, err := a.int()
	if err != nil {
		return fmt.Errorf("archive header: %w", err)
	}
	for i := 0; i < 7; i++ { // creation time: sec, min, hour, mday, mon, year, isdst
		if _, err := a.int(); err != nil {
			return fmt.Errorf("archive header: %w", err)
		}
	}
	for i := 0; i < 3; i++ { // database name, server version, pg_dump version
		if _, _, err := a.str(); err != nil {
			return fmt.Errorf("archive header: %w", err)
		}
	}
	count, err := a.int()
	if err != nil {
		return fmt.Errorf("archive TOC: %w", err)
	}
	tables := map[int64]archiveTable{}
	for i := int64(0); i < count; i++ {
		id, te, isData, err := a.tocEntry(offSize)
		if err != nil {
			return fmt.Errorf("archive TOC entry %d: %w", i, err)
		}
		if isData {
			tables[id] = te
		}
	}
	for {
		typ, err := a.byte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("archive data: %w", err)
		}
		if typ != 1 { // 3 is large objects, which Kong's tables do not use
			return fmt.Errorf("archive data: block type %d not read", typ)
		}
		id, err := a.int()
		if err != nil {
			return fmt.Errorf("archive data: %w", err)
		}
		chunks := &chunkReader{a: a}
		te, ok := tables[id]
		if !ok || !want(te) {
			if _, err := io.Copy(io.Discard, chunks); err != nil {
				return fmt.Errorf("archive data: %w", err)
			}
			continue
		}
		var body io.Reader = chunks
		if compression != 0 {
			z, err := deflateBody(chunks)
			if err != nil {
				return fmt.Errorf("archive data of %s: %w", te.Name, err)
			}
			body = z
		}
		if err := data(te, body); err != nil {
			return err
		}
		// Whatever data left unread (and zlib's trailer) up to the end mark.
		if _, err := io.Copy(io.Discard, body); err != nil {
			return fmt.Errorf("archive data of %s: %w", te.Name, err)
		}
		if _, err := io.Copy(io.Discard, chunks); err != nil {
			return fmt.Errorf("archive data of %s: %w", te.Name, err)
		}
	}
}

// deflateBody reads a data block's zlib stream without checking its
// Adler-32 trailer (a fifth of zlib's time here): the bytes are covered by
// the archive's SHA-256, taken as they are written, and pg_restore checks
// the trailer when a verification restores the archive.
func deflateBody(r io.Reader) (io.Reader, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	// RFC 1950: CM 8 (deflate), a window of at most 32 KB (CINFO ≤ 7), the
	// header a multiple of 31, no preset dictionary.
	if h[0]&0x0f != 8 || h[0]>>4 > 7 || (uint(h[0])<<8|uint(h[1]))%31 != 0 || h[1]&0x20 != 0 {
		return nil, errors.New("zlib: invalid header")
	}
	return flate.NewReader(r), nil
}

// tocEntry reads one TOC entry (ReadToc for format 1.14, with the custom
// format's data offset); isData when it is a TABLE DATA entry with a COPY
// statement.
func (a *archiveReader) tocEntry(offSize int) (id int64, te archiveTable, isData bool, err error) {
	if id, err = a.int(); err != nil {
		return
	}
	if _, err = a.int(); err != nil { // hadDumper
		return
	}
	var s [12]string
	// tableoid, oid, tag, desc; then section (int); then defn, dropStmt,
	// copyStmt, namespace, tablespace, tableam, owner, withOids.
	for i := 0; i < 4; i++ {
		if s[i], _, err = a.str(); err != nil {
			return
		}
	}
	if _, err = a.int(); err != nil { // section
		return
	}
	for i := 4; i < 12; i++ {
		if s[i], _, err = a.str(); err != nil {
			return
		}
	}
	for { // dependencies, ended by a NULL string
		var ok bool
		if _, ok, err = a.str(); err != nil {
			return
		}
		if !ok {
			break
		}
	}
	if _, err = a.byte(); err != nil { // data offset: a flag, then offSize bytes
		return
	}
	if _, err = a.r.Discard(offSize); err != nil {
		return
	}
	tag, desc, copyStmt, namespace := s[2], s[3], s[6], s[7]
	if desc != "TABLE DATA" || copyStmt == "" {
		return id, te, false, nil
	}
	cols, err := copyColumns(copyStmt)
	if err != nil {
		return id, te, false, err
	}
	return id, archiveTable{Schema: namespace, Name: tag, Columns: cols}, true, nil
}

// copyColumns reads the column list of pg_dump's COPY statement,
// `COPY schema.table (a, "b c") FROM stdin;`.
func copyColumns(stmt string) ([]string, error) {
	i := strings.Index(stmt, " (")
	j := strings.LastIndex(stmt, ") FROM stdin;")
	if i < 0 || j < i {
		return nil, fmt.Errorf("archive: COPY statement without a column list")
	}
	list := stmt[i+2 : j]
	var cols []string
	for len(list) > 0 {
		var c string
		if list[0] == '"' {
			k := 1
			var b strings.Builder
			for {
				if k >= len(list) {
					return nil, errArchiveFormat
				}
				if list[k] == '"' {
					if k+1 < len(list) && list[k+1] == '"' {
						b.WriteByte('"')
						k += 2
						continue
					}
					k++
					break
				}
				b.WriteByte(list[k])
				k++
			}
			c, list = b.String(), list[k:]
		} else {
			k := strings.IndexByte(list, ',')
			if k < 0 {
				k = len(list)
			}
			c, list = list[:k], list[k:]
		}
		cols = append(cols, c)
		list = strings.TrimPrefix(list, ", ")
	}
	return cols, nil
}

// chunkReader reads a data block's chunks up to the zero-length end mark.
type chunkReader struct {
	a    *archiveReader
	left int64
	done bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for c.left == 0 {
		if c.done {
			return 0, io.EOF
		}
		n, err := c.a.int()
		if err != nil {
			return 0, err
		}
		if n < 0 {
			return 0, errArchiveFormat
		}
		if n == 0 {
			c.done = true
			return 0, io.EOF
		}
		c.left = n
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.a.r.Read(p)
	c.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
