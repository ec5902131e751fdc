package report

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// table describes one kind of file a run writes, for reading it back.
type table struct {
	what    string   // "report", "devices report", ... for errors
	columns []string // the columns this release writes, in order
	// required is how many of columns every file has: the columns of the oldest release that
	// wrote this kind of file. Later columns may be missing (an older file) and columns this
	// release does not know are ignored (a newer one).
	required int
}

// headerLine is the header as written, to tell a torn header from a foreign file.
func (t *table) headerLine(n int) string { return strings.Join(t.columns[:n], ",") }

// readTable reads a file written by a csvFile line by line: no cell holds a line break, so a
// line is a record, and a crash mid-write can only damage the last line. That line is ignored
// when it has no newline, is not valid CSV on its own, or has the wrong number of fields; any
// other damage is an error naming its line. row gets each record's cells in t.columns order
// ("" for a column the file lacks).
func readTable(r io.Reader, name string, t *table, row func(cells []string, line int) error) error {
	where := func(line int) string {
		if name == "" {
			return fmt.Sprintf("line %d", line)
		}
		return fmt.Sprintf("%s:%d", name, line)
	}
	br := bufio.NewReaderSize(r, 64<<10)
	// A file opened and saved again by a spreadsheet may have gained a BOM.
	if b, err := br.Peek(3); err == nil && string(b) == "\uFEFF" {
		br.Discard(3)
	}

	var pos []int // t.columns index -> field index, -1 when absent; nil until the header
	fields := 0
	// Reused from line to line: row copies what it keeps.
	var rec []string
	cells := make([]string, len(t.columns))
	handle := func(text string, line int, last bool) error {
		text = strings.TrimSuffix(text, "\r")
		if text == "" {
			return nil
		}
		var err error
		rec, err = splitLine(rec[:0], text)
		if pos == nil {
			if err == nil {
				pos, err = t.header(rec)
			}
			if err != nil {
				return fmt.Errorf("%s: not a bulkrevoke %s: the header does not match (%v)", where(line), t.what, err)
			}
			fields = len(rec)
			return nil
		}
		if err == nil && len(rec) != fields {
			err = csv.ErrFieldCount
		}
		if err != nil {
			if last {
				return nil // torn by a crash
			}
			return fmt.Errorf("%s: malformed %s line: %w", where(line), t.what, err)
		}
		for i, p := range pos {
			cells[i] = ""
			if p >= 0 {
				cells[i] = rec[p]
			}
		}
		if err := row(cells, line); err != nil {
			return fmt.Errorf("%s: %w", where(line), err)
		}
		return nil
	}

	// Lines are handled one behind the reader: only at the end is it known which was last.
	var pending string
	pendingLine, line := 0, 0
	for {
		s, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			if name != "" {
				return fmt.Errorf("read %s %s: %w", t.what, name, err)
			}
			return fmt.Errorf("read %s: %w", t.what, err)
		}
		if s == "" {
			break
		}
		line++
		if pendingLine > 0 {
			if err := handle(pending, pendingLine, false); err != nil {
				return err
			}
			pendingLine = 0
		}
		if !strings.HasSuffix(s, "\n") {
			// Torn: the crash came before the newline. A torn header must still be the start
			// of a header this program writes, or any one-line file would pass for an empty one.
			if pos == nil && !t.headerPrefix(strings.TrimSuffix(s, "\r")) && strings.TrimSpace(s) != "" {
				return fmt.Errorf("%s: not a bulkrevoke %s: the header does not match", where(line), t.what)
			}
			break
		}
		pending, pendingLine = strings.TrimSuffix(s, "\n"), line
	}
	if pendingLine > 0 {
		return handle(pending, pendingLine, true)
	}
	return nil
}

// header maps a header's cells to t.columns.
func (t *table) header(rec []string) ([]int, error) {
	pos := make([]int, len(t.columns))
	for i := range pos {
		pos[i] = -1
	}
	for p, cell := range rec {
		for i, c := range t.columns {
			if cell == c {
				if pos[i] >= 0 {
					return nil, fmt.Errorf("column %s appears twice", c)
				}
				pos[i] = p
			}
		}
	}
	for i := range t.required {
		if pos[i] < 0 {
			return nil, fmt.Errorf("no column %s", t.columns[i])
		}
	}
	return pos, nil
}

// headerPrefix reports whether s can be the start of a header some release wrote.
func (t *table) headerPrefix(s string) bool {
	for n := t.required; n <= len(t.columns); n++ {
		if strings.HasPrefix(t.headerLine(n), s) {
			return true
		}
	}
	return false
}

// splitLine appends the fields of one line of CSV to rec, as encoding/csv reads them with its
// defaults: fields are separated by commas; a quoted field has its quotes doubled and must be
// closed on this line.
func splitLine(rec []string, s string) ([]string, error) {
	for {
		if s == "" || s[0] != '"' {
			f, rest, more := strings.Cut(s, ",")
			if strings.IndexByte(f, '"') >= 0 {
				return nil, csv.ErrBareQuote
			}
			rec = append(rec, f)
			if !more {
				return rec, nil
			}
			s = rest
			continue
		}
		s = s[1:]
		var b strings.Builder
		for {
			i := strings.IndexByte(s, '"')
			if i < 0 {
				return nil, csv.ErrQuote // open at the end of the line
			}
			b.WriteString(s[:i])
			s = s[i+1:]
			if s != "" && s[0] == '"' {
				b.WriteByte('"')
				s = s[1:]
				continue
			}
			break
		}
		rec = append(rec, b.String())
		if s == "" {
			return rec, nil
		}
		if s[0] != ',' {
			return nil, csv.ErrQuote
		}
		s = s[1:]
	}
}

// cellParser parses the cells of one record into a value; the first error names its column.
type cellParser struct {
	columns []string
	cells   []string
	err     error
}

func (p *cellParser) field(i int, parse func(string) error) {
	if p.err == nil {
		if e := parse(p.cells[i]); e != nil {
			p.err = fmt.Errorf("column %s: %w", p.columns[i], e)
		}
	}
}

func parseLine(n *int) func(string) error {
	return func(s string) error {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			return fmt.Errorf("%q is not a positive line number", s)
		}
		*n = v
		return nil
	}
}

// parseText accepts only what the writers write, so that a row read back is written again
// byte for byte: valid UTF-8 on a single line.
func parseText(dst *string) func(string) error {
	return func(s string) error {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%q is not valid UTF-8 (was the file saved again in another encoding?)", s)
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

// parseCount reads a count that may be unknown: empty is nil, and 0 is a count of zero.
func parseCount(n **int) func(string) error {
	return func(s string) error {
		if s == "" {
			return nil
		}
		v, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		*n = &v
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

// parseFlag reads what fact wrote: "true", or empty for false.
func parseFlag(b *bool) func(string) error {
	return func(s string) error {
		switch s {
		case "":
		case "true":
			*b = true
		default:
			return fmt.Errorf("%q is not true or empty", s)
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

// oneOf accepts one of a closed set of values, such as a status.
func oneOf[T ~string](dst *T, known map[T]bool, what string) func(string) error {
	return func(s string) error {
		if !known[T(s)] {
			return fmt.Errorf("unknown %s %q", what, s)
		}
		*dst = T(s)
		return nil
	}
}
