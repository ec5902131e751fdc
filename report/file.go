package report

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// file is what a journal writes to: an *os.File, or a test's stand-in that fails on demand.
type file interface {
	io.Writer
	Sync() error
	Close() error
}

// createFile creates path for one of a run's files with mode 0600 (they list users under
// attack). It refuses an existing file unless force, then truncates it. what names the file in
// errors ("report", "devices report").
func createFile(path string, force bool, what string) (*os.File, error) {
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return nil, fmt.Errorf("create %s: %s is a directory", what, path)
	case err == nil && !st.Mode().IsRegular():
		// Truncating or chmodding a device such as /dev/null would damage the system.
		return nil, fmt.Errorf("create %s: %s is not a regular file", what, path)
	case err == nil && !force:
		return nil, fmt.Errorf("create %s: %s already exists; refusing to overwrite it: %w", what, path, fs.ErrExist)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("create %s %s: directory %s does not exist: %w", what, path, filepath.Dir(path), err)
		}
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create %s: %s already exists; refusing to overwrite it: %w", what, path, err)
		}
		return nil, fmt.Errorf("create %s: %w", what, err)
	}
	// The open mode is filtered by the umask and a forced file keeps its old mode: set it.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		if !force {
			os.Remove(path)
		}
		return nil, fmt.Errorf("create %s: %w", what, err)
	}
	return f, nil
}

// createWithHeader creates path and puts header on disk at once, so that an unusable path fails
// before anything is sent to Graph.
func createWithHeader(path string, force bool, what string, header []string) (*csvFile, error) {
	f, err := createFile(path, force, what)
	if err != nil {
		return nil, err
	}
	c := newCSVFile(f, f, path, what)
	c.cw.Write(header)
	c.cw.Flush()
	err = c.cw.Error()
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		if !force {
			os.Remove(path) // ours since O_EXCL; an empty leftover would block the next try
		}
		return nil, fmt.Errorf("create %s: %w", what, err)
	}
	syncDir(filepath.Dir(path))
	return c, nil
}

// syncDir makes a new file's directory entry durable. Best effort: some systems cannot open a
// directory for syncing, and the data itself is synced on Close anyway.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// csvFile is the locked, closable CSV writer under every journal. Errors stick: once a write
// has failed, every later Write, Flush and Close reports it, so no caller can miss it.
type csvFile struct {
	mu     sync.Mutex
	cw     *csv.Writer
	f      file // nil when writing to a caller's io.Writer
	path   string
	what   string
	closed bool
	// rewriting is set while a Rewrite of the file is under way: a row written then would be
	// lost when the new version takes the file's place, so writes are refused.
	rewriting bool
	// replaced is set when a Rewrite's Commit closed the file to put the new version in its
	// place; Close then returns what closing it returned (closeErr) instead of failing.
	replaced bool
	closeErr error
}

func newCSVFile(w io.Writer, f file, path, what string) *csvFile {
	return &csvFile{cw: csv.NewWriter(w), f: f, path: path, what: what}
}

// writeLocked buffers records; the caller holds mu.
func (c *csvFile) writeLocked(recs ...[]string) error {
	if c.closed {
		return fmt.Errorf("write %s: it is closed", c.what)
	}
	if c.rewriting {
		return fmt.Errorf("write %s: it is being rewritten", c.what)
	}
	for _, rec := range recs {
		if err := c.cw.Write(rec); err != nil {
			return c.wrap(err)
		}
	}
	return nil
}

func (c *csvFile) write(recs ...[]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeLocked(recs...)
}

func (c *csvFile) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("flush %s: it is closed", c.what)
	}
	return c.flushLocked()
}

func (c *csvFile) flushLocked() error {
	c.cw.Flush()
	if err := c.cw.Error(); err != nil {
		return c.wrap(err)
	}
	return nil
}

func (c *csvFile) wrap(err error) error {
	if c.path == "" {
		return fmt.Errorf("write %s: %w", c.what, err)
	}
	return fmt.Errorf("write %s %s: %w", c.what, c.path, err)
}

// Close flushes, fsyncs and closes. Each step runs even when an earlier one failed (the file
// must not stay open), and every failure is returned.
func (c *csvFile) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		if c.replaced {
			return c.closeErr
		}
		return fmt.Errorf("close %s: it is already closed", c.what)
	}
	return c.closeLocked()
}

// closeLocked is Close with mu held.
func (c *csvFile) closeLocked() error {
	c.closed = true
	err := c.flushLocked()
	if c.f == nil {
		return err
	}
	if serr := c.f.Sync(); serr != nil {
		err = errors.Join(err, fmt.Errorf("sync %s %s: %w", c.what, c.path, serr))
	}
	if cerr := c.f.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close %s %s: %w", c.what, c.path, cerr))
	}
	return err
}

// DevicesPath is the devices report that goes with a report: report.csv -> report.devices.csv.
func DevicesPath(report string) string { return sibling(report, ".devices.csv") }

// ChangesPath is the changes journal that goes with a report: report.csv -> report.changes.csv.
func ChangesPath(report string) string { return sibling(report, ".changes.csv") }

// UsersPath is the resolved user list that goes with a report: report.csv -> report.users.csv.
func UsersPath(report string) string { return sibling(report, ".users.csv") }

func sibling(report, suffix string) string {
	if n := len(report) - len(".csv"); n >= 0 && strings.EqualFold(report[n:], ".csv") {
		return report[:n] + suffix
	}
	return report + suffix
}
