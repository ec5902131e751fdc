package report

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulkrevoke/bulkrevoke/batch"
)

// ReadReport reads a report written by Journal and returns its rows by input line. A report cut
// short by a crash is accepted: its last line is ignored when it has no trailing newline or the
// wrong number of fields. Any other malformed line is an error naming its line.
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

// lastByte remembers the last byte read, to tell a complete last line from a torn one.
type lastByte struct {
	r    io.Reader
	last byte
}

func (l *lastByte) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if n > 0 {
		l.last = p[n-1]
	}
	return n, err
}

type rawRecord struct {
	fields []string
	line   int
	err    error
}

func readReport(r io.Reader, name string) (map[int]batch.Result, error) {
	where := func(line int) string {
		if name == "" {
			return fmt.Sprintf("line %d", line)
		}
		return fmt.Sprintf("%s:%d", name, line)
	}
	br := bufio.NewReader(r)
	// A report opened and saved again by a spreadsheet may have gained a BOM.
	if b, err := br.Peek(3); err == nil && string(b) == "\uFEFF" {
		br.Discard(3)
	}
	lb := &lastByte{r: br}
	cr := csv.NewReader(lb)
	cr.FieldsPerRecord = len(Header)

	rows := make(map[int]batch.Result)
	at := make(map[int]int) // input line -> report line, for duplicate errors
	header := true
	handle := func(rec rawRecord) error {
		if header && (errors.Is(rec.err, csv.ErrFieldCount) || rec.err == nil && !slices.Equal(rec.fields, Header)) {
			return fmt.Errorf("%s: not a bulkrevoke report: the header does not match", where(rec.line))
		}
		if rec.err != nil {
			var pe *csv.ParseError
			if errors.As(rec.err, &pe) {
				return fmt.Errorf("%s: malformed report line: %w", where(pe.StartLine), pe.Err)
			}
			return fmt.Errorf("%s: %w", where(rec.line), rec.err)
		}
		if header {
			header = false
			return nil
		}
		res, err := parseRecord(rec.fields)
		if err != nil {
			return fmt.Errorf("%s: %w", where(rec.line), err)
		}
		if first, dup := at[res.Line]; dup {
			return fmt.Errorf("%s: input line %d is already in the report at line %d", where(rec.line), res.Line, first)
		}
		at[res.Line] = rec.line
		rows[res.Line] = res
		return nil
	}

	// Records are handled one behind the reader, because only at EOF do we know whether the
	// pending one was the last line and may be torn.
	var pending *rawRecord
	for {
		fields, err := cr.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if err != nil && !errors.As(err, &pe) {
			if name != "" {
				return nil, fmt.Errorf("read report %s: %w", name, err)
			}
			return nil, fmt.Errorf("read report: %w", err)
		}
		var line int
		if pe != nil {
			line = pe.StartLine
		} else {
			line, _ = cr.FieldPos(0)
		}
		if pending != nil {
			if err := handle(*pending); err != nil {
				return nil, err
			}
		}
		pending = &rawRecord{fields: fields, line: line, err: err}
	}
	if pending != nil && !torn(*pending, lb.last) {
		if err := handle(*pending); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

// torn reports whether the last record is what a crash mid-write leaves: a line without its
// newline, or with the wrong number of fields. Journal never writes a line break inside a
// field, so a record that holds one is an open quote that swallowed the lines after it:
// corruption, and ignoring it would silently drop rows.
func torn(rec rawRecord, last byte) bool {
	for _, f := range rec.fields {
		if strings.ContainsAny(f, "\r\n") {
			return false
		}
	}
	return last != '\n' || errors.Is(rec.err, csv.ErrFieldCount)
}

var statuses = map[batch.Status]bool{}

func init() {
	for _, s := range Statuses() {
		statuses[s] = true
	}
}

func parseRecord(f []string) (batch.Result, error) {
	var r batch.Result
	var err error
	field := func(i int, parse func(string) error) {
		if err == nil {
			if e := parse(f[i]); e != nil {
				err = fmt.Errorf("column %s: %w", Header[i], e)
			}
		}
	}
	field(0, func(s string) error {
		n, e := strconv.Atoi(s)
		if e == nil && n <= 0 {
			return fmt.Errorf("%q is not a positive line number", s)
		}
		r.Line = n
		return e
	})
	field(1, parseText(&r.Input))
	field(2, parseText(&r.UserID))
	field(3, parseText(&r.UPN))
	field(4, func(s string) error {
		r.Status = batch.Status(s)
		if !statuses[r.Status] {
			return fmt.Errorf("unknown status %q", s)
		}
		return nil
	})
	field(5, parseNumber(&r.HTTP))
	field(6, parseText(&r.Code))
	field(7, parseText(&r.Message))
	field(8, parseNumber(&r.Attempts))
	field(9, parseText(&r.RequestID))
	field(10, parseText(&r.ClientRequestID))
	field(11, parseTime(&r.At))
	field(12, parseText(&r.DisplayName))
	field(13, parseBool(&r.AccountEnabled))
	field(14, parseText(&r.UserType))
	field(15, parseText(&r.Note))
	field(16, parseTime(&r.SessionsValidFrom))
	field(17, parseBool(&r.Verified))
	return r, err
}

// parseText accepts only what Journal writes, so that a row read back is written again
// byte for byte: valid UTF-8 on a single line.
func parseText(dst *string) func(string) error {
	return func(s string) error {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%q is not valid UTF-8 (was the report saved again in another encoding?)", s)
		}
		if strings.ContainsAny(s, "\r\n") {
			return fmt.Errorf("%q holds a line break", s)
		}
		*dst = untext(s)
		return nil
	}
}

func parseNumber(n *int) func(string) error {
	return func(s string) error {
		if s == "" {
			return nil
		}
		var err error
		*n, err = strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		return nil
	}
}

func parseTime(t *time.Time) func(string) error {
	return func(s string) error {
		if s == "" {
			return nil
		}
		var err error
		*t, err = time.Parse(timeLayout, s)
		if err != nil {
			return fmt.Errorf("%q is not a time like 2026-11-28T15:04:05.123Z", s)
		}
		return nil
	}
}

func parseBool(b **bool) func(string) error {
	return func(s string) error {
		switch s {
		case "":
		case "true", "false":
			v := s == "true"
			*b = &v
		default:
			return fmt.Errorf("%q is not true or false", s)
		}
		return nil
	}
}
