package report

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// MethodsPath is the methods report that goes with a report: report.csv -> report.methods.csv.
func MethodsPath(report string) string { return sibling(report, ".methods.csv") }

// MethodsHeader is the methods report's first line, one row per authentication method a run
// listed (--remove-methods-since). A removed method cannot be put back: its row is what the
// user needs to register it again.
var MethodsHeader = []string{
	"line", "tenant_id", "user", "method_type", "method_id", "created", "display_name",
	"outcome", "http_status", "error_code", "error_message", "request_id", "completed_at",
}

var methodsTable = &table{what: "methods report", columns: MethodsHeader, required: len(MethodsHeader)}

var methodOutcomes = map[batch.MethodOutcome]bool{
	batch.MethodRemoved: true, batch.MethodWouldRemove: true, batch.MethodKeptOlder: true, batch.MethodKeptUnknownAge: true,
	batch.MethodKeptPassword: true, batch.MethodFailed: true, batch.MethodNotAttempted: true, batch.MethodRemoving: true,
}

// MethodJournal writes the methods report next to a report. It is a batch.MethodSink, safe
// for concurrent use; rows reach the OS on Flush and the disk on Close.
type MethodJournal struct {
	c *csvFile
}

var _ batch.MethodSink = (*MethodJournal)(nil)

// CreateMethods creates the methods report at path as Create does the report: mode 0600, an
// existing file refused unless force, the header on disk at once.
func CreateMethods(path string, force bool) (*MethodJournal, error) {
	c, err := createWithHeader(path, force, "methods report", MethodsHeader)
	if err != nil {
		return nil, err
	}
	return &MethodJournal{c: c}, nil
}

// Path is the methods report's file name.
func (j *MethodJournal) Path() string { return j.c.path }

// WriteMethods buffers one row per method.
func (j *MethodJournal) WriteMethods(ms ...batch.MethodResult) error {
	recs := make([][]string, len(ms))
	for i, m := range ms {
		if m.Line <= 0 {
			return fmt.Errorf("write methods report: method %q has line %d; lines start at 1", m.ID, m.Line)
		}
		recs[i] = methodRecord(m)
	}
	return j.c.write(recs...)
}

// Record writes the intent rows of removals about to be sent and hands them to the OS before
// it returns, as ChangeJournal.Record does: a process killed after Record loses none of them.
// It is batch.Config.BeforeRemove.
func (j *MethodJournal) Record(ms []batch.MethodResult) error {
	recs := make([][]string, len(ms))
	for i, m := range ms {
		if m.Line <= 0 {
			return fmt.Errorf("write methods report: method %q has line %d; lines start at 1", m.ID, m.Line)
		}
		recs[i] = methodRecord(m)
	}
	j.c.mu.Lock()
	defer j.c.mu.Unlock()
	if err := j.c.writeLocked(recs...); err != nil {
		return err
	}
	return j.c.flushLocked()
}

// Flush pushes buffered rows to the OS.
func (j *MethodJournal) Flush() error { return j.c.Flush() }

// Close flushes, fsyncs and closes the file; it reports every step that failed.
func (j *MethodJournal) Close() error { return j.c.Close() }

func methodRecord(m batch.MethodResult) []string {
	return []string{
		strconv.Itoa(m.Line),
		text(m.TenantID),
		text(m.User),
		text(m.Type),
		text(m.ID),
		timestamp(m.Created),
		text(m.DisplayName),
		string(m.Outcome),
		number(m.HTTP),
		text(m.Code),
		text(m.Message),
		text(m.RequestID),
		timestamp(m.At),
	}
}

// settled drops the intent rows (removing) a later row of the same method settled; of several
// intents of one method none settled, it keeps the last.
func settled(ms []batch.MethodResult) []batch.MethodResult {
	key := func(m batch.MethodResult) string { return strconv.Itoa(m.Line) + "/" + strings.ToLower(m.ID) }
	last := map[string]int{} // the last row of each method
	for i, m := range ms {
		last[key(m)] = i
	}
	out := ms[:0:0]
	for i, m := range ms {
		if m.Outcome == batch.MethodRemoving && last[key(m)] != i {
			continue
		}
		out = append(out, m)
	}
	return out
}

// CompactMethods rewrites a finished run's methods report without the intent rows later rows
// settled, so that each method has one row. The new version is written beside the file,
// fsynced and renamed over it: the file on disk is at every moment the old version or the new
// one, whole. It reports whether the file was rewritten.
func CompactMethods(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("compact %s: %w", path, err)
	}
	ms, err := readMethods(bufio.NewReader(f), path)
	f.Close()
	if err != nil {
		return false, err
	}
	kept := settled(ms)
	if len(kept) == len(ms) {
		return false, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return false, fmt.Errorf("compact %s: %w", path, err)
	}
	j := &MethodJournal{c: newCSVFile(tmp, tmp, tmp.Name(), "methods report")}
	j.c.cw.Write(MethodsHeader)
	err = j.WriteMethods(kept...)
	if cerr := j.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return false, fmt.Errorf("compact %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return true, nil
}

// ReadMethods reads a methods report in the order written. A torn last line is ignored as by
// ReadReport.
func ReadMethods(r io.Reader) ([]batch.MethodResult, error) {
	return readMethods(r, "")
}

func readMethods(r io.Reader, name string) ([]batch.MethodResult, error) {
	var ms []batch.MethodResult
	err := readTable(r, name, methodsTable, func(cells []string, _ int) error {
		var m batch.MethodResult
		p := cellParser{columns: MethodsHeader, cells: cells}
		p.field(0, parseLine(&m.Line))
		p.field(1, parseText(&m.TenantID))
		p.field(2, parseText(&m.User))
		p.field(3, parseText(&m.Type))
		p.field(4, parseText(&m.ID))
		p.field(5, parseTime(&m.Created))
		p.field(6, parseText(&m.DisplayName))
		p.field(7, oneOf(&m.Outcome, methodOutcomes, "outcome"))
		p.field(8, parseNumber(&m.HTTP))
		p.field(9, parseText(&m.Code))
		p.field(10, parseText(&m.Message))
		p.field(11, parseText(&m.RequestID))
		p.field(12, parseTime(&m.At))
		if p.err != nil {
			return p.err
		}
		ms = append(ms, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ms, nil
}
