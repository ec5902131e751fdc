package report

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// rowAt is where one row of a file is: 16 bytes a row, so that the index of a million-row
// report is 16 MB while the rows themselves (hundreds of bytes each) stay on disk.
type rowAt struct {
	off  int64
	size uint32
	line uint32
}

// OrderByLine puts the rows of a finished report, or of its devices report, in input-line
// order: rows are written as they finish, so invalid rows (answered at once) come first and
// users come in the order Graph answered them. Rows of one line keep their order. It reports
// whether the file was rewritten: a file already in order is left alone.
//
// The file must be closed, whole (every line ending in a newline) and have the line number in
// its first column, as every file a csvFile writes does. The new version is written beside it
// (same name, .tmp suffix), fsynced and renamed over it, as Rewrite does: at every moment the
// file on disk is either the old version or the new one, whole, and a failure leaves the old
// one. Only an index of where each row is (rowAt) is held in memory, not the rows, which are
// copied byte for byte: nothing is parsed and written again.
func OrderByLine(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("order %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("order %s: %w", path, err)
	}
	// Counted first, so that the index is allocated once at its size: grown by append, its
	// old copies would double what a million rows take.
	lines, err := countLines(f, st.Size())
	if err != nil {
		return false, fmt.Errorf("order %s: %w", path, err)
	}
	header, rows, ordered, err := indexRows(io.NewSectionReader(f, 0, st.Size()), path, lines)
	if err != nil || ordered {
		return false, err
	}
	slices.SortFunc(rows, func(a, b rowAt) int {
		return cmp.Or(cmp.Compare(a.line, b.line), cmp.Compare(a.off, b.off))
	})

	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return false, fmt.Errorf("order %s: %w", path, err)
	}
	fail := func(err error) (bool, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return false, fmt.Errorf("order %s: %w", path, err)
	}
	w := bufio.NewWriterSize(tmp, 256<<10)
	// One buffer for every read: io.Copy would allocate one per row.
	buf := make([]byte, 256<<10)
	written, err := copyRange(w, f, 0, header, buf)
	if err != nil {
		return fail(err)
	}
	for i := 0; i < len(rows); {
		// Rows that were written one after the other and stay so are copied in one read: a
		// report mostly in order costs few reads.
		start, end := rows[i].off, rows[i].off+int64(rows[i].size)
		for i++; i < len(rows) && rows[i].off == end; i++ {
			end += int64(rows[i].size)
		}
		n, err := copyRange(w, f, start, end-start, buf)
		written += n
		if err != nil {
			return fail(err)
		}
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if written != st.Size() {
		// The file changed under us: its new version would lose or repeat rows.
		return fail(fmt.Errorf("wrote %d bytes of %d", written, st.Size()))
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return false, fmt.Errorf("order %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return false, fmt.Errorf("order %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return true, nil
}

// copyRange copies n bytes of f from off to w through buf.
func copyRange(w io.Writer, f io.ReaderAt, off, n int64, buf []byte) (int64, error) {
	var done int64
	for done < n {
		chunk := buf[:min(int64(len(buf)), n-done)]
		k, err := f.ReadAt(chunk, off+done)
		if k < len(chunk) && err == nil {
			err = io.ErrUnexpectedEOF
		}
		if err != nil && !(err == io.EOF && k == len(chunk)) {
			return done, err
		}
		if _, err := w.Write(chunk); err != nil {
			return done, err
		}
		done += int64(k)
	}
	return done, nil
}

// countLines counts the newlines in the first size bytes of f.
func countLines(f io.ReaderAt, size int64) (int, error) {
	buf := make([]byte, 256<<10)
	n := 0
	for off := int64(0); off < size; {
		k, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		n += bytes.Count(buf[:k], []byte{'\n'})
		off += int64(k)
		if err != nil && !(err == io.EOF && off == size) {
			return 0, err
		}
	}
	return n, nil
}

// indexRows reads a file a csvFile wrote (one row per line, the line number first) and returns
// the size of its header line, where each row is, and whether the rows are in order already.
func indexRows(r io.Reader, path string, lines int) (header int64, rows []rowAt, ordered bool, err error) {
	br := bufio.NewReaderSize(r, 256<<10)
	ordered = true
	rows = make([]rowAt, 0, max(lines-1, 0))
	var off int64
	var last uint32
	for n := 1; ; n++ {
		b, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A row longer than the buffer: read it whole (rare, a long error message).
			head := bytes.Clone(b) // ReadSlice's bytes are the buffer's: the next read overwrites them
			rest, err2 := br.ReadBytes('\n')
			b, err = append(head, rest...), err2
		}
		if err == io.EOF && len(b) == 0 {
			return header, rows, ordered, nil
		}
		if err != nil {
			if err == io.EOF {
				return 0, nil, false, fmt.Errorf("order %s: line %d has no newline: the file is not whole", path, n)
			}
			return 0, nil, false, fmt.Errorf("order %s: %w", path, err)
		}
		size := int64(len(b))
		if size > math.MaxUint32 {
			return 0, nil, false, fmt.Errorf("order %s: line %d is too long", path, n)
		}
		if n == 1 {
			header, off = size, size
			continue
		}
		cell, _, _ := bytes.Cut(b, []byte{','})
		line, err := strconv.ParseUint(string(cell), 10, 32)
		if err != nil || line == 0 {
			return 0, nil, false, fmt.Errorf("order %s: line %d: %w", path, n, cmp.Or(err, errors.New("line number 0")))
		}
		if uint32(line) < last {
			ordered = false
		}
		last = uint32(line)
		rows = append(rows, rowAt{off: off, size: uint32(size), line: uint32(line)})
		off += size
	}
}
