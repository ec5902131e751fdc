package batch

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// ReaderOptions configures NewReader.
type ReaderOptions struct {
	Name   string // file name for error messages ("-" or "stdin" for stdin)
	Column string // --column NAME: use this column; error if absent
}

// Reader streams the rows of a user list as admins export it: Entra and Microsoft 365 admin
// center CSVs, Entra bulk templates, Excel "Unicode text" files, or one user per line. It
// keeps only the de-duplication set in memory, whatever the size of the file.
type Reader struct {
	name    string
	cr      *csv.Reader
	comma   rune
	col     int    // index of the user column, -1 for a headerless list
	column  string // header cell of the user column, "" for a headerless list
	pending []string
	pendLn  int
	seen    map[digest]int32 // digest of the lower-cased key -> line of its first occurrence
	seeds   [2]maphash.Seed
	err     error // sticky: io.EOF or the fatal error
}

const (
	sniffLen  = 4096     // bytes examined to guess encoding, binary-ness and delimiter
	bufLen    = 64 << 10 // read buffer; must be at least sniffLen
	maxInput  = 256      // bytes of a cell kept in Row.Input
	ellipsis  = "…"
	binaryMsg = "looks like a binary file, not a CSV or text list of users"
)

// inputError is a fatal, human-readable input problem that keeps the parser's error for
// errors.As/Is without repeating its wording.
type inputError struct {
	msg string
	err error
}

func (e *inputError) Error() string { return e.msg }
func (e *inputError) Unwrap() error { return e.err }

// NewReader sniffs the encoding, delimiter and header of r. Its errors are fatal and
// written for the admin. An empty or header-only input is not an error: Next then returns
// io.EOF at once.
func NewReader(r io.Reader, opts ReaderOptions) (*Reader, error) {
	name := opts.Name
	switch name {
	case "":
		name = "input"
	case "-":
		name = "stdin"
	}
	src, err := decodeInput(r, name)
	if err != nil {
		return nil, err
	}
	comma, directive := sniffLayout(src)
	cr := csv.NewReader(src)
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	// A space after the comma before a quoted field is common in hand-made lists; with tab
	// as the delimiter this would also eat empty fields and shift columns, so comma-like only.
	cr.TrimLeadingSpace = comma != '\t'
	rd := &Reader{name: name, cr: cr, comma: comma, col: -1, seen: make(map[digest]int32),
		seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	if err := rd.readHeader(opts.Column, directive); err != nil {
		return nil, err
	}
	return rd, nil
}

// Column is the header cell of the column the users are read from, "" for a headerless list.
func (r *Reader) Column() string { return r.column }

// Next returns the next data row, io.EOF at the end, or a fatal error (which it then keeps
// returning). Every non-blank record yields a Row, invalid ones included.
func (r *Reader) Next() (Row, error) {
	if r.err != nil {
		return Row{}, r.err
	}
	if r.pending != nil {
		rec, line := r.pending, r.pendLn
		r.pending = nil
		return r.row(rec, line), nil
	}
	for {
		rec, err := r.cr.Read()
		if err != nil {
			r.err = r.fatal(err)
			return Row{}, r.err
		}
		if isBlank(rec) {
			continue
		}
		line, _ := r.cr.FieldPos(0)
		return r.row(rec, line), nil
	}
}

func (r *Reader) readHeader(column string, directive bool) error {
	for {
		rec, err := r.cr.Read()
		if err != nil {
			r.err = r.fatal(err)
			if r.err == io.EOF {
				return nil // empty: the caller reports "no users"
			}
			return r.err
		}
		if isBlank(rec) {
			continue
		}
		line, _ := r.cr.FieldPos(0)
		if directive {
			directive = false
			continue
		}
		if column != "" {
			i := findColumn(rec, column)
			if i < 0 {
				return fmt.Errorf("%s:%d: no column %q in the header (found: %s)", r.name, line, clip(column, 60), listCells(rec))
			}
			r.col, r.column = i, headerCell(rec[i])
			return nil
		}
		if i := pickUserColumn(rec); i >= 0 {
			r.col, r.column = i, headerCell(rec[i])
			return nil
		}
		if nonBlankCells(rec) == 1 {
			// One value per line and no header: this first line is already a user.
			r.pending, r.pendLn = append([]string(nil), rec...), line
			return nil
		}
		msg := fmt.Sprintf("%s:%d: no user column in the header (found: %s); name one with --column", r.name, line, listCells(rec))
		for _, c := range rec {
			if k, _, _ := Classify(c); k != KindInvalid {
				msg += "; this line looks like data: add a header line naming the columns first"
				break
			}
		}
		return errors.New(msg)
	}
}

func (r *Reader) row(rec []string, line int) Row {
	var cell string
	if r.col < 0 {
		idx, n := 0, 0
		for i, c := range rec {
			if trimValue(c) != "" {
				if n == 0 {
					idx = i
				}
				n++
			}
		}
		if n > 1 {
			return Row{Line: line, Input: joinInput(rec, r.comma), Kind: KindInvalid,
				Reason: "more than one value on the line; a list without a header takes one user per line"}
		}
		cell = rec[idx]
	} else {
		if r.col >= len(rec) {
			return Row{Line: line, Input: joinInput(rec, r.comma), Kind: KindInvalid, Reason: "missing the user column"}
		}
		cell = rec[r.col]
	}
	in := trimValue(cell)
	kind, key, reason := Classify(in)
	row := Row{Line: line, Input: capInput(in), Kind: kind, Reason: reason}
	if kind == KindInvalid {
		return row
	}
	// Never a substring of the record, which csv hands out as one string: that would keep a
	// megabyte line alive. Input is already a copy, usually equal to the key.
	row.Key = row.Input
	if key != row.Input {
		row.Key = strings.Clone(key)
	}
	// Valid keys are ASCII, so ToLower is the case folding Graph applies.
	d := r.digest(strings.ToLower(row.Key))
	if first, ok := r.seen[d]; ok {
		row.DupOf = int(first)
	} else {
		r.seen[d] = int32(min(line, math.MaxInt32))
	}
	return row
}

// digest stands for a key in the de-duplication set. A million keys kept as strings cost some
// 100 MB (300 MB of heap with the collector's headroom); 128 bits of hash cost 16 bytes each,
// and the chance that two of a million different keys share one is below 2^-80.
type digest [2]uint64

func (r *Reader) digest(key string) digest {
	return digest{maphash.String(r.seeds[0], key), maphash.String(r.seeds[1], key)}
}

// fatal turns a read error into the message the admin sees; io.EOF passes through.
func (r *Reader) fatal(err error) error {
	if err == io.EOF {
		return io.EOF
	}
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	var msg string
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		msg = fmt.Sprintf(`%s:%d: a " in a field that does not start with a quote (byte %d of the line); `+
			`quote the whole field and write the inner quote twice ("")`, r.name, pe.Line, pe.Column)
	case errors.Is(pe.Err, csv.ErrQuote) && pe.Line > pe.StartLine:
		msg = fmt.Sprintf(`%s:%d: a quoted field that starts on this line is not closed where expected `+
			`(the parser got to line %d); add the missing " or write a quote inside a field twice ("")`,
			r.name, pe.StartLine, pe.Line)
	case errors.Is(pe.Err, csv.ErrQuote):
		msg = fmt.Sprintf(`%s:%d: a stray " in a quoted field (byte %d of the line); a quoted field must `+
			`end with " right before the delimiter, and a quote inside it is written twice ("")`,
			r.name, pe.Line, pe.Column)
	default:
		msg = fmt.Sprintf("%s:%d: %v", r.name, pe.Line, pe.Err)
	}
	return &inputError{msg: msg, err: err}
}

// decodeInput returns a reader of UTF-8 text: it drops a UTF-8 BOM, decodes UTF-16 (with a BOM,
// or without one when the NUL bytes give it away) and refuses binary files.
func decodeInput(r io.Reader, name string) (*bufio.Reader, error) {
	raw := bufio.NewReaderSize(r, bufLen)
	head, err := peekHead(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var enc encoding.Encoding
	switch {
	case bytes.HasPrefix(head, []byte("\xEF\xBB\xBF")):
		raw.Discard(3)
	case bytes.HasPrefix(head, []byte("\xFF\xFE")):
		raw.Discard(2)
		enc = unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	case bytes.HasPrefix(head, []byte("\xFE\xFF")):
		raw.Discard(2)
		enc = unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	default:
		enc = sniffUTF16(head)
	}
	src := raw
	if enc != nil {
		src = bufio.NewReaderSize(transform.NewReader(raw, enc.NewDecoder()), bufLen)
	}
	text, err := peekHead(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if looksBinary(text, enc != nil) {
		return nil, fmt.Errorf("%s: %s%s", name, binaryMsg, formatHint(head))
	}
	return src, nil
}

// peekHead returns up to sniffLen bytes without consuming them; a short input is not an error.
func peekHead(r *bufio.Reader) ([]byte, error) {
	b, err := r.Peek(sniffLen)
	if err == io.EOF {
		err = nil
	}
	return b, err
}

// sniffUTF16 recognises BOM-less UTF-16 by its NUL half of every ASCII character, a pattern
// that binary files, with NULs on both sides, do not show.
func sniffUTF16(b []byte) encoding.Encoding {
	pairs := len(b) / 2
	if pairs == 0 {
		return nil
	}
	var zeroEven, zeroOdd int
	for i := 0; i+1 < len(b); i += 2 {
		if b[i] == 0 {
			zeroEven++
		}
		if b[i+1] == 0 {
			zeroOdd++
		}
	}
	switch {
	case zeroOdd*2 >= pairs && zeroEven*20 <= pairs:
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	case zeroEven*2 >= pairs && zeroOdd*20 <= pairs:
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	}
	return nil
}

// looksBinary judges the first bytes of the (decoded) text: any NUL, or more than a tenth of
// control characters and undecodable bytes. A legacy-encoded (Windows-1252) export with a few
// accented display names stays well below that, and its UPN cells are ASCII anyway. Anything
// decodes as UTF-16, so decoded UTF-16 must also be at least a quarter ASCII, as headers,
// UPNs and object ids are; binary data decodes to almost none.
func looksBinary(b []byte, wide bool) bool {
	if bytes.IndexByte(b, 0) >= 0 {
		return true
	}
	odd, runes, ascii := 0, 0, 0
	for i := 0; i < len(b); {
		runes++
		c := b[i]
		if c < utf8.RuneSelf {
			ascii++
			// 0x1A is the DOS end-of-file mark some old tools still append.
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1A || c == 0x7F {
				odd++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(b[i:]) {
				break // a character cut by the end of the sample
			}
			odd++
		}
		i += size
	}
	return odd*10 > len(b) || wide && ascii*4 < runes
}

// formatHint names the file formats admins most often feed by mistake.
func formatHint(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return " (it is a ZIP archive, such as an .xlsx workbook: save it as CSV)"
	case bytes.HasPrefix(head, []byte("\xD0\xCF\x11\xE0")):
		return " (it is an old .xls workbook: save it as CSV)"
	}
	return ""
}

// sniffLayout picks the delimiter from the first meaningful line and reports whether the first
// non-blank line is a directive to skip: Excel's "sep=;" or the Entra bulk templates'
// "version:v1.0". Only the sniffed bytes are looked at, so a 1 MB first line costs nothing.
func sniffLayout(src *bufio.Reader) (comma rune, directive bool) {
	head, _ := peekHead(src)
	first := true
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		s := strings.TrimSpace(string(line))
		if s == "" {
			continue
		}
		if first {
			first = false
			// Not TrimSpace: "sep=\t" names a tab.
			t := strings.ToLower(strings.Trim(string(line), "\r \""))
			if len(t) >= 5 && strings.HasPrefix(t, "sep=") && strings.IndexByte(",;\t|", t[4]) >= 0 {
				return rune(t[4]), true
			}
			// Excel leaves the template's directive padded with delimiters when re-saved.
			if strings.HasPrefix(strings.ToLower(s), "version:v") {
				directive = true
				continue
			}
		}
		switch {
		case strings.Contains(s, ","):
			return ',', directive
		case strings.Contains(s, "\t"):
			return '\t', directive
		case strings.Contains(s, ";"):
			return ';', directive
		}
		return ',', directive
	}
	return ',', directive
}

// headerNames maps normalized header names to their preference, lowest first: the UPN column
// over the object id over vaguer names. "mail" is deliberately absent: it often differs from
// the UPN.
var headerNames = map[string]int{
	"userprincipalname": 0,
	"id":                1,
	"objectid":          1,
	"userid":            1,
	"upn":               2,
	"user":              2,
	"username":          2,
}

// normalizeHeader reduces a header cell to a comparable name: the bracketed attribute of the
// Entra bulk templates ("User name [userPrincipalName] Required") or the cell itself, lower
// case, without spaces, underscores or hyphens.
func normalizeHeader(s string) string {
	s = trimValue(s)
	if i := strings.IndexByte(s, '['); i >= 0 {
		if j := strings.IndexByte(s[i:], ']'); j > 0 {
			s = s[i+1 : i+j]
		}
	}
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '_' || r == '-' {
			return -1
		}
		return r
	}, strings.ToLower(s))
}

func pickUserColumn(rec []string) int {
	best, bestPrio := -1, len(headerNames)
	for i, c := range rec {
		if len(c) > 64 {
			continue // no header name is that long; skip normalizing megabytes
		}
		if p, ok := headerNames[normalizeHeader(c)]; ok && p < bestPrio {
			best, bestPrio = i, p
		}
	}
	return best
}

// findColumn finds --column: an exact case-insensitive match first, then the same loose
// matching as header detection, so "userPrincipalName" also finds the bulk template's cell.
func findColumn(rec []string, want string) int {
	want = trimValue(want)
	for i, c := range rec {
		if strings.EqualFold(trimValue(c), want) {
			return i
		}
	}
	nw := normalizeHeader(want)
	for i, c := range rec {
		if len(c) <= 1024 && normalizeHeader(c) == nw {
			return i
		}
	}
	return -1
}

// listCells lists header cells for an error message, bounded so garbage cannot flood it.
func listCells(rec []string) string {
	const maxCells, maxCell = 30, 40
	var b strings.Builder
	for i, c := range rec {
		if i == maxCells {
			fmt.Fprintf(&b, ", … and %d more", len(rec)-maxCells)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(clip(strings.ToValidUTF8(trimValue(c), "\uFFFD"), maxCell))
	}
	return b.String()
}

// headerCell copies a header cell for Column(), readable in logs whatever the file holds.
func headerCell(c string) string {
	return strings.Clone(strings.ToValidUTF8(trimValue(c), "\uFFFD"))
}

func isBlank(rec []string) bool {
	for _, c := range rec {
		if trimValue(c) != "" {
			return false
		}
	}
	return true
}

func nonBlankCells(rec []string) int {
	n := 0
	for _, c := range rec {
		if trimValue(c) != "" {
			n++
		}
	}
	return n
}

// capInput copies at most maxInput bytes of s, cut on a character boundary and marked with
// "…", and makes it valid UTF-8 so the report never carries raw undecodable bytes.
func capInput(s string) string {
	s = clip(s, maxInput)
	if !utf8.ValidString(s) {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return strings.Clone(s)
}

// joinInput shows a whole record as Input when no single cell can stand for it.
func joinInput(rec []string, comma rune) string {
	var b strings.Builder
	for i, c := range rec {
		if i > 0 {
			b.WriteRune(comma)
		}
		if b.Len()+len(c) > maxInput {
			b.WriteString(c[:min(len(c), maxInput+1)])
			break
		}
		b.WriteString(c)
	}
	return capInput(trimValue(b.String()))
}

// clip cuts s to at most n bytes plus "…" for a message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:runeCut(s, n)] + ellipsis
}

// runeCut returns the largest index <= n that does not split a UTF-8 sequence of s.
func runeCut(s string, n int) int {
	if n >= len(s) {
		return len(s)
	}
	// Garbage may be all continuation bytes: back up at most one sequence's worth.
	for k := 1; k < utf8.UTFMax && n > 0 && !utf8.RuneStart(s[n]); k++ {
		n--
	}
	return n
}
