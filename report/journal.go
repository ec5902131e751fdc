// Package report writes and reads bulkrevoke's per-user CSV journal, one row per input row,
// and prints the end-of-run summary. It owns the report format (columns, formula neutralisation,
// durability) and the resume parsing of a previous report; it knows nothing of HTTP.
package report

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// Header is the report's first line. Admins script against these names and this order: append
// new columns at the end only.
var Header = []string{
	"line", "input", "user_id", "user_principal_name", "status", "http_status", "error_code",
	"error_message", "attempts", "request_id", "client_request_id", "completed_at",
	"display_name", "account_enabled", "user_type", "note", "sessions_valid_from", "verified",
}

// timeLayout is fixed at milliseconds so that every row has the same width of timestamp and
// sorts as text.
const timeLayout = "2006-01-02T15:04:05.000Z"

// Journal appends Results to a report. Rows are buffered; Flush hands them to the OS so a crash
// of the process loses nothing already flushed, and Close also fsyncs.
type Journal struct {
	mu     sync.Mutex
	cw     *csv.Writer
	f      *os.File // nil when writing to a caller's io.Writer
	path   string
	closed bool
}

// Create creates path for a new report with mode 0600 (the report lists users under attack).
// It refuses an existing file unless force, then truncates it. The header is written and synced
// at once so that an unusable path fails before any revoke is sent.
func Create(path string, force bool) (*Journal, error) {
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return nil, fmt.Errorf("create report: %s is a directory", path)
	case err == nil && !st.Mode().IsRegular():
		// Truncating or chmodding a device such as /dev/null would damage the system.
		return nil, fmt.Errorf("create report: %s is not a regular file", path)
	case err == nil && !force:
		return nil, fmt.Errorf("create report: %s already exists; refusing to overwrite it: %w", path, fs.ErrExist)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("create report %s: directory %s does not exist: %w", path, filepath.Dir(path), err)
		}
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create report: %s already exists; refusing to overwrite it: %w", path, err)
		}
		return nil, fmt.Errorf("create report: %w", err)
	}
	fail := func(err error) (*Journal, error) {
		f.Close()
		if !force {
			os.Remove(path) // ours since O_EXCL; an empty leftover would block the next try
		}
		return nil, fmt.Errorf("create report: %w", err)
	}
	// The open mode is filtered by the umask and a forced file keeps its old mode: set it.
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	j := &Journal{cw: csv.NewWriter(f), f: f, path: path}
	j.cw.Write(Header)
	j.cw.Flush()
	if err := j.cw.Error(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	syncDir(filepath.Dir(path))
	return j, nil
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

// NewJournal writes a report to w (stdout, tests) without fsync. The header is buffered
// immediately and reaches w on the first Flush.
func NewJournal(w io.Writer) *Journal {
	j := &Journal{cw: csv.NewWriter(w)}
	j.cw.Write(Header)
	return j
}

// Path is the report's file name, empty for a journal made by NewJournal.
func (j *Journal) Path() string { return j.path }

// Write buffers one row per Result. It is safe for concurrent use.
func (j *Journal) Write(rs ...batch.Result) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return errors.New("write report: journal is closed")
	}
	for _, r := range rs {
		if r.Line <= 0 {
			// A row without its input line could never be matched on resume.
			return fmt.Errorf("write report: result for %q has line %d; lines start at 1", r.Input, r.Line)
		}
		if err := j.cw.Write(record(r)); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	return nil
}

// Flush pushes buffered rows to the OS, where they survive a crash of the process.
func (j *Journal) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return errors.New("flush report: journal is closed")
	}
	return j.flush()
}

func (j *Journal) flush() error {
	j.cw.Flush()
	if err := j.cw.Error(); err != nil {
		return fmt.Errorf("write report %s: %w", j.path, err)
	}
	return nil
}

// Close flushes, fsyncs and closes the report file. It does not close a writer given to
// NewJournal.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return errors.New("close report: journal is already closed")
	}
	j.closed = true
	err := j.flush()
	if j.f == nil {
		return err
	}
	if serr := j.f.Sync(); serr != nil && err == nil {
		err = fmt.Errorf("sync report: %w", serr)
	}
	if cerr := j.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close report: %w", cerr)
	}
	return err
}

func record(r batch.Result) []string {
	return []string{
		strconv.Itoa(r.Line),
		text(r.Input),
		text(r.UserID),
		text(r.UPN),
		string(r.Status),
		number(r.HTTP),
		text(r.Code),
		text(r.Message),
		number(r.Attempts),
		text(r.RequestID),
		text(r.ClientRequestID),
		timestamp(r.At),
		text(r.DisplayName),
		boolean(r.AccountEnabled),
		text(r.UserType),
		text(r.Note),
		timestamp(r.SessionsValidFrom),
		boolean(r.Verified),
	}
}

// lineBreaks turns CR and LF into spaces: csv quoting would keep them, but one row per line
// keeps the report greppable.
var lineBreaks = strings.NewReplacer("\r", " ", "\n", " ")

// text prepares a text cell: valid UTF-8, single-line, and neutralised against spreadsheet
// formula injection. A leading ' is doubled so the reader can always strip exactly one.
func text(s string) string {
	s = lineBreaks.Replace(strings.ToValidUTF8(s, "\uFFFD"))
	if s != "" && strings.IndexByte("=+-@\t\r'", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

func untext(s string) string { return strings.TrimPrefix(s, "'") }

func number(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

func boolean(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}
