// Package report writes and reads bulkrevoke's CSV files (the per-user report, its devices
// report, changes journal and resolved user list) and prints the end-of-run summary. It owns
// their formats (columns, formula neutralisation, durability) and what a resumed run or a
// rollback reads back from them; it knows nothing of HTTP.
package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// Header is the report's first line. Admins script against these names and this order: append
// new columns at the end only.
var Header = []string{
	"line", "input", "user_id", "user_principal_name", "status", "http_status", "error_code",
	"error_message", "attempts", "request_id", "client_request_id", "completed_at",
	"display_name", "account_enabled", "user_type", "note", "sessions_valid_from", "verified",
	"prior_account_enabled", "blocked", "block_error", "devices", "devices_disabled", "tenant_id",
	"password_reset", "password_reset_error", "methods_removed", "methods_error", "risk_confirmed", "risk_confirmed_error",
	"on_premises_synced", "block_http_status", "password_reset_http_status", "risk_http_status",
}

// legacyColumns is how many columns of Header the first release wrote; its reports must
// still resume.
const legacyColumns = 18

var reportTable = &table{what: "report", columns: Header, required: legacyColumns}

// timeLayout is fixed at milliseconds so that every row has the same width of timestamp and
// sorts as text.
const timeLayout = "2006-01-02T15:04:05.000Z"

// Journal appends Results to a report. Rows are buffered; Flush hands them to the OS so a crash
// of the process loses nothing already flushed, and Close also fsyncs.
type Journal struct {
	c *csvFile
}

// Create creates path for a new report with mode 0600 (the report lists users under attack).
// It refuses an existing file unless force, then truncates it. The header is written and synced
// at once so that an unusable path fails before any revoke is sent.
func Create(path string, force bool) (*Journal, error) {
	c, err := createWithHeader(path, force, "report", Header)
	if err != nil {
		return nil, err
	}
	return &Journal{c: c}, nil
}

// NewJournal writes a report to w (stdout, tests) without fsync. The header is buffered
// immediately and reaches w on the first Flush.
func NewJournal(w io.Writer) *Journal {
	return newJournal(w, nil, "")
}

func newJournal(w io.Writer, f file, path string) *Journal {
	j := &Journal{c: newCSVFile(w, f, path, "report")}
	j.c.cw.Write(Header)
	return j
}

// Path is the report's file name, empty for a journal made by NewJournal.
func (j *Journal) Path() string { return j.c.path }

// Write buffers one row per Result. It is safe for concurrent use.
func (j *Journal) Write(rs ...batch.Result) error {
	recs := make([][]string, len(rs))
	for i, r := range rs {
		if r.Line <= 0 {
			// A row without its input line could never be matched on resume.
			return fmt.Errorf("write report: result for %q has line %d; lines start at 1", r.Input, r.Line)
		}
		recs[i] = record(r)
	}
	return j.c.write(recs...)
}

// Flush pushes buffered rows to the OS, where they survive a crash of the process.
func (j *Journal) Flush() error { return j.c.Flush() }

// Close flushes, fsyncs and closes the report file; it reports every step that failed. It does
// not close a writer given to NewJournal.
func (j *Journal) Close() error { return j.c.Close() }

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
		boolean(r.PriorAccountEnabled),
		boolean(r.Blocked),
		text(r.BlockError),
		count(r.Devices),
		count(r.DevicesDisabled),
		text(r.TenantID),
		boolean(r.Reset),
		text(r.ResetError),
		count(r.MethodsRemoved),
		text(r.MethodsError),
		boolean(r.RiskConfirmed),
		text(r.RiskError),
		fact(r.Synced),
		number(r.BlockHTTP),
		number(r.ResetHTTP),
		number(r.RiskHTTP),
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

// count writes a count that may be unknown: nil is empty, 0 is written.
func count(n *int) string {
	if n == nil {
		return ""
	}
	return strconv.Itoa(*n)
}

func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// fact writes what is true or not known: "true" or empty.
func fact(b bool) string {
	if b {
		return "true"
	}
	return ""
}

func boolean(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}
