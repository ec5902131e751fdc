package report

import (
	"fmt"
	"io"
	"os"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// ReadReport reads a report written by Journal, by this release or the first one (whose
// reports lack the containment and tenant columns), and returns its rows by input line. A
// report cut short by a crash is accepted: its last line is ignored when it has no newline, is
// not valid CSV on its own or has the wrong number of fields. Any other malformed line is an
// error naming its line.
func ReadReport(r io.Reader) (map[int]batch.Result, error) {
	return readReport(r, "")
}

// Previous is a report from an earlier run of the same input, read for --resume.
type Previous struct {
	path string
	rows map[int]batch.Result
}

// OpenPrevious reads the report at path. Errors name the file.
func OpenPrevious(path string) (*Previous, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open previous report: %w", err)
	}
	defer f.Close()
	rows, err := readReport(f, path)
	if err != nil {
		return nil, err
	}
	return &Previous{path: path, rows: rows}, nil
}

// Path is the previous report's file name.
func (p *Previous) Path() string { return p.path }

// Len is the number of rows read from the previous report.
func (p *Previous) Len() int { return len(p.rows) }

// Result returns the previous report's row for an input line.
func (p *Previous) Result(line int) (batch.Result, bool) {
	r, ok := p.rows[line]
	return r, ok
}

// Revoked returns the previous row for line when it was revoked there, so the caller can carry
// it over instead of sending it again.
func (p *Previous) Revoked(line int) (batch.Result, bool) {
	r, ok := p.rows[line]
	if !ok || r.Status != batch.StatusRevoked {
		return batch.Result{}, false
	}
	return r, true
}

// Check reports a *MismatchError when the previous report has a row for row.Line with another
// input: the report then belongs to a different input file and must not be used to skip users.
func (p *Previous) Check(row batch.Row) error {
	r, ok := p.rows[row.Line]
	if !ok {
		return nil
	}
	// Compare the cell as the report stores it: the report flattens line breaks and bad UTF-8.
	if is := untext(text(row.Input)); r.Input != is {
		return &MismatchError{Path: p.path, Line: row.Line, Was: r.Input, Is: is}
	}
	return nil
}

// MismatchError says a previous report does not match the input file.
type MismatchError struct {
	Path    string
	Line    int
	Was, Is string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s: line %d was %q in that report but is %q in the input: the report is from a different input file",
		e.Path, e.Line, e.Was, e.Is)
}

// Hint is the advice a CLI prints under the error.
func (e *MismatchError) Hint() string {
	return "use the report produced from this input file"
}

var statuses = map[batch.Status]bool{}

func init() {
	for _, s := range Statuses() {
		statuses[s] = true
	}
}

func readReport(r io.Reader, name string) (map[int]batch.Result, error) {
	rows := make(map[int]batch.Result)
	at := make(map[int]int) // input line -> report line, for duplicate errors
	err := readTable(r, name, reportTable, func(cells []string, line int) error {
		res, err := parseRecord(cells)
		if err != nil {
			return err
		}
		if first, dup := at[res.Line]; dup {
			return fmt.Errorf("input line %d is already in the report at line %d", res.Line, first)
		}
		at[res.Line] = line
		rows[res.Line] = res
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// parseRecord reads a report row's cells, in Header order.
func parseRecord(cells []string) (batch.Result, error) {
	var r batch.Result
	p := cellParser{columns: Header, cells: cells}
	p.field(0, parseLine(&r.Line))
	p.field(1, parseText(&r.Input))
	p.field(2, parseText(&r.UserID))
	p.field(3, parseText(&r.UPN))
	p.field(4, oneOf(&r.Status, statuses, "status"))
	p.field(5, parseNumber(&r.HTTP))
	p.field(6, parseText(&r.Code))
	p.field(7, parseText(&r.Message))
	p.field(8, parseNumber(&r.Attempts))
	p.field(9, parseText(&r.RequestID))
	p.field(10, parseText(&r.ClientRequestID))
	p.field(11, parseTime(&r.At))
	p.field(12, parseText(&r.DisplayName))
	p.field(13, parseBool(&r.AccountEnabled))
	p.field(14, parseText(&r.UserType))
	p.field(15, parseText(&r.Note))
	p.field(16, parseTime(&r.SessionsValidFrom))
	p.field(17, parseBool(&r.Verified))
	p.field(18, parseBool(&r.PriorAccountEnabled))
	p.field(19, parseBool(&r.Blocked))
	p.field(20, parseText(&r.BlockError))
	p.field(21, parseCount(&r.Devices))
	p.field(22, parseCount(&r.DevicesDisabled))
	p.field(23, parseText(&r.TenantID))
	return r, p.err
}
