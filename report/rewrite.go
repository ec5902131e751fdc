package report

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// ScanReport reads a report as ReadReport does, but hands each row to row as it is read instead
// of keeping them all: a pass over a million rows holds one. An error from row stops the scan
// and is returned, wrapped with the line it was read from.
func ScanReport(r io.Reader, name string, row func(batch.Result) error) error {
	return readTable(r, name, reportTable, func(cells []string, _ int) error {
		res, err := parseRecord(cells)
		if err != nil {
			return err
		}
		return row(res)
	})
}

// Rewrite is a new version of a report, written to a temporary file beside it and put in its
// place by Commit: fsynced, then renamed over it, so that the report on disk is at every moment
// either the old version or the new one, whole. A crash before Commit leaves the old version
// (and the temporary file, named after the report with a .tmp suffix, which can be deleted).
type Rewrite struct {
	j    *Journal
	tmp  *Journal
	name string
	done bool
}

// Rewrite starts a new version of the report, for the caller to fill with every row through
// Write and to put in the report's place with Commit, or to drop with Abort. The report's
// buffered rows are flushed first, so that a reader of the file sees every row. Until Commit or
// Abort the journal refuses rows: written to the old version, they would be lost with it.
func (j *Journal) Rewrite() (*Rewrite, error) {
	c := j.c
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, fmt.Errorf("rewrite %s: it is closed", c.what)
	case c.f == nil || c.path == "":
		return nil, fmt.Errorf("rewrite %s: it is not written to a file", c.what)
	case c.rewriting:
		return nil, fmt.Errorf("rewrite %s %s: a rewrite is already under way", c.what, c.path)
	}
	if err := c.flushLocked(); err != nil {
		return nil, err
	}
	// Beside the report, so that the rename stays within one file system; CreateTemp makes it
	// 0600, like the report (it lists users under attack).
	f, err := os.CreateTemp(filepath.Dir(c.path), filepath.Base(c.path)+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("rewrite %s %s: %w", c.what, c.path, err)
	}
	c.rewriting = true
	return &Rewrite{j: j, tmp: newJournal(f, f, f.Name()), name: f.Name()}, nil
}

// Write adds rows to the new version. It is safe for concurrent use.
func (w *Rewrite) Write(rs ...batch.Result) error { return w.tmp.Write(rs...) }

// Flush hands the new version's buffered rows to the OS.
func (w *Rewrite) Flush() error { return w.tmp.Flush() }

// Commit puts the new version in the report's place: it is flushed, fsynced and closed, the
// report's file is closed (some systems cannot rename over an open file), the new version is
// renamed over it and the directory synced. The journal is closed then: its Close returns nil.
// When Commit fails, the report on disk is the old version, whole, and the temporary file is
// gone.
func (w *Rewrite) Commit() error {
	if w.done {
		return errors.New("rewrite report: it is finished already")
	}
	w.done = true
	c := w.j.c
	if err := w.tmp.Close(); err != nil {
		os.Remove(w.name)
		c.mu.Lock()
		c.rewriting = false
		c.mu.Unlock()
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rewriting = false
	if c.closed {
		os.Remove(w.name)
		return fmt.Errorf("rewrite %s %s: it was closed meanwhile", c.what, c.path)
	}
	// Synced before the rename, so that the old version is whole on disk should the rename
	// fail; nothing is buffered (rows were refused since Rewrite flushed).
	c.closeErr = c.closeLocked()
	c.replaced = true
	if err := os.Rename(w.name, c.path); err != nil {
		os.Remove(w.name)
		return errors.Join(c.closeErr, fmt.Errorf("rewrite %s %s: %w", c.what, c.path, err))
	}
	syncDir(filepath.Dir(c.path))
	c.closeErr = nil // the file that failed to close is replaced by one that did not
	return nil
}

// Abort drops the new version: the report stays as it is, and the journal takes rows again.
func (w *Rewrite) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.tmp.Close()
	os.Remove(w.name)
	c := w.j.c
	c.mu.Lock()
	c.rewriting = false
	c.mu.Unlock()
}
