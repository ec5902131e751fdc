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
	// TenantColumn names the column holding each row's tenant; error if absent. Without it a
	// column named like a tenant (tenantNames) is used when the header has one.
	TenantColumn string
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
	tcol    int    // index of the tenant column, -1 when there is none
	tcolumn string // header cell of the tenant column
	lineOff int    // lines consumed before the CSV parser started (comments, directives)
	rule    bool   // the next record may be the dashes under a PowerShell table's header
	pending []string
	pendLn  int
	seen    map[digest]int32 // digest of the lower-cased key -> line of its first occurrence
	seeds   [2]maphash.Seed
	js      *jsonList // set when the input is JSON (json.go); the CSV fields are then unused
	err     error     // sticky: io.EOF or the fatal error
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
	src, text, err := decodeInput(r, name)
	if err != nil {
		return nil, err
	}
	if head, _ := peekHead(src); isJSONInput(opts.Name, head) {
		return newJSONReader(src, name, text, opts)
	}
	pre, err := skipPreamble(src, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	head, _ := peekHead(src)
	comma := pre.comma
	if comma == 0 {
		comma = sniffComma(head)
	}
	cr := csv.NewReader(src)
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	// A space after the comma before a quoted field is common in hand-made lists; with tab
	// as the delimiter this would also eat empty fields and shift columns, so comma-like only.
	cr.TrimLeadingSpace = comma != '\t'
	rd := newReader(name)
	rd.cr, rd.comma, rd.lineOff = cr, comma, pre.lines
	if err := rd.readHeader(opts, lookAhead(head, comma)); err != nil {
		return nil, err
	}
	return rd, nil
}

func newReader(name string) *Reader {
	return &Reader{name: name, col: -1, tcol: -1,
		seen: make(map[digest]int32), seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
}

// Column is the header cell of the column the users are read from, "" for a headerless list.
// For JSON it is the user field of the first element, "" when that is no object or has none.
func (r *Reader) Column() string { return r.column }

// TenantColumn is the header cell of the column the rows' tenants are read from, "" if none.
func (r *Reader) TenantColumn() string { return r.tcolumn }

// Next returns the next data row, io.EOF at the end, or a fatal error (which it then keeps
// returning). Every non-blank record yields a Row, invalid ones included.
func (r *Reader) Next() (Row, error) {
	if r.err != nil {
		return Row{}, r.err
	}
	if r.js != nil {
		row, err := r.js.next()
		if err != nil {
			r.err = err
		}
		return row, err
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
		if r.rule {
			// PowerShell's Format-Table of one property (Select-Object UserPrincipalName |
			// Out-File) underlines its header with dashes: not a user, and no row of its own.
			r.rule = false
			if len(rec) == 1 && isTableRule(rec[0]) {
				continue
			}
		}
		return r.row(rec, r.line()), nil
	}
}

// line is the physical line of the record just read, counting the lines skipped before it.
func (r *Reader) line() int {
	line, _ := r.cr.FieldPos(0)
	return line + r.lineOff
}

// readHeader reads the first record and decides what it is: the header, or the first user of
// a list without one. The rule, in order (README, "Input"):
//   - with --column or --tenant-column it is the header;
//   - a record naming a user column is the header;
//   - a single value that is a user (UPN or object id) starts a list without a header, and a
//     later line with several values is an invalid row, not a reason to stop;
//   - otherwise it is a header without a recognised user column, which is fatal, except for
//     a lone bare word (an unknown one-column header or a bad first value) with a list of
//     single values under it: that stays a headerless list whose first row is invalid.
//
// Reading a CSV as a headerless list would turn every row into an invalid one with the whole
// line as its value: a page of noise that hides what is wrong, so that must be an error.
func (r *Reader) readHeader(opts ReaderOptions, look lookahead) error {
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
		line := r.line()
		if (opts.Column != "" || opts.TenantColumn != "") && noHeader(rec, opts) {
			return r.numbered(rec, line, opts)
		}
		if opts.TenantColumn != "" {
			if r.tcol = pickNamed(rec, opts.TenantColumn); r.tcol < 0 {
				return fmt.Errorf("%s:%d: no tenant column %q in the header (found: %s)", r.name, line, clip(opts.TenantColumn, 60), listCells(rec))
			}
		}
		switch {
		case opts.Column != "":
			if r.col = pickNamed(rec, opts.Column); r.col < 0 {
				return fmt.Errorf("%s:%d: no column %q in the header (found: %s)", r.name, line, clip(opts.Column, 60), listCells(rec))
			}
			if r.col == r.tcol {
				return fmt.Errorf("%s:%d: --column and --tenant-column both name the column %q; the users and their tenants must be in two columns",
					r.name, line, headerCell(rec[r.col]))
			}
		default:
			r.col = pickUserColumn(rec, r.tcol)
		}
		if r.col >= 0 {
			r.column, r.rule = headerCell(rec[r.col]), true
			if opts.TenantColumn == "" {
				r.tcol = pickTenantColumn(rec, r.col)
			}
			if r.tcol >= 0 {
				r.tcolumn = headerCell(rec[r.tcol])
			}
			return nil
		}
		if opts.TenantColumn == "" && nonBlankCells(rec) == 1 {
			cell := firstValue(rec)
			if k, _, _ := Classify(cell); k != KindInvalid {
				// One value per line and no header: this first line is already a user.
				r.pending, r.pendLn = append([]string(nil), rec...), line
				return nil
			}
			if look.table {
				return fmt.Errorf("%s:%d: this is PowerShell's table output (Format-Table, or Out-File of objects), not a list of users; "+
					"save the users with Export-Csv, or one per line with Select-Object -ExpandProperty UserPrincipalName | Out-File", r.name, line)
			}
			if len(rec) == 1 && !look.quoted && look.multi*2 <= look.later {
				// A bare word above single values: an unknown one-column header or a bad
				// first value; either way the rows below are what the admin wants read.
				r.pending, r.pendLn = append([]string(nil), rec...), line
				return nil
			}
		}
		return r.noUserColumn(rec, line, look)
	}
}

// columnNumber reads --column N: a positive integer, 1-based, as a column index; ok is false
// for a name.
func columnNumber(s string) (idx int, ok bool) {
	s = trimValue(s)
	if s == "" || len(s) > 6 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n - 1, n > 0
}

// noHeader decides, for --column N and --tenant-column N, whether the first record is data: when
// every such option is a number that names no header cell, and the record names none of the
// user or tenant columns the reader knows (userPrincipalName, id, ...). A name always wins, so
// a header cell "1" is still selected by --column 1.
func noHeader(rec []string, opts ReaderOptions) bool {
	for _, o := range []string{opts.Column, opts.TenantColumn} {
		if _, num := columnNumber(o); o != "" && (!num || findColumn(rec, o) >= 0) {
			return false
		}
	}
	return pickUserColumn(rec, -1) < 0 && pickTenantColumn(rec, -1) < 0
}

// pickNamed finds --column or --tenant-column in a header: by name (findColumn), else by number.
func pickNamed(rec []string, want string) int {
	if i := findColumn(rec, want); i >= 0 {
		return i
	}
	if i, ok := columnNumber(want); ok && i < len(rec) {
		return i
	}
	return -1
}

// numbered starts a list without a header whose columns --column N (and --tenant-column N)
// pick by number, such as "az ad user list --query [].[id,userPrincipalName] -o tsv": the
// first record is its first row.
func (r *Reader) numbered(rec []string, line int, opts ReaderOptions) error {
	col, ok := columnNumber(opts.Column)
	if !ok {
		return fmt.Errorf("%s:%d: --tenant-column %s picks a column by number and the first line names no user column; "+
			"give the users' column too: --column NAME of a header, or --column N in a list without one",
			r.name, line, clip(trimValue(opts.TenantColumn), 60))
	}
	r.col = col
	if opts.TenantColumn != "" {
		r.tcol, _ = columnNumber(opts.TenantColumn)
	}
	for _, c := range []struct {
		flag string
		idx  int
	}{{"--column", r.col}, {"--tenant-column", r.tcol}} {
		if c.idx >= len(rec) {
			return fmt.Errorf("%s:%d: %s %d, but the first line has %d %s (found: %s)", r.name, line, c.flag, c.idx+1, len(rec),
				plural(len(rec), "column", "columns"), listCells(rec))
		}
	}
	if r.col == r.tcol {
		return fmt.Errorf("%s:%d: --column and --tenant-column both name column %d; the users and their tenants must be in two columns", r.name, line, r.col+1)
	}
	r.pending, r.pendLn = append([]string(nil), rec...), line
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// noUserColumn explains a header without a user column: what it holds, and what to do.
func (r *Reader) noUserColumn(rec []string, line int, look lookahead) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: no user column in the header (found: %s); name one with --column NAME", r.name, line, listValues(rec))
	for _, c := range rec {
		if k, _, _ := Classify(c); k != KindInvalid {
			b.WriteString("; this line looks like data: add a header line naming the columns first, " +
				"or give the users' column by number: --column 1 for the first")
			return errors.New(b.String())
		}
	}
	if look.multiLine > 0 && nonBlankCells(rec) == 1 {
		fmt.Fprintf(&b, "; yet line %d has several columns (%s): if that is the header, delete the lines above it",
			look.multiLine+r.lineOff, look.multiCells)
	}
	var names []string
	for _, c := range rec {
		if len(c) <= 64 && nameColumns[normalizeHeader(c)] && len(names) < 3 {
			names = append(names, headerCell(c))
		}
	}
	if len(names) > 0 {
		verb := "holds"
		if len(names) > 1 {
			verb = "hold"
		}
		fmt.Fprintf(&b, "; %s %s names, which cannot address a user: export the userPrincipalName or object id column too",
			strings.Join(names, ", "), verb)
	}
	return errors.New(b.String())
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
	var tenant, why string
	if r.tcol >= 0 {
		why = "missing the tenant column"
		if r.tcol < len(rec) {
			if tenant, why = ParseTenant(rec[r.tcol]); why != "" {
				why = "tenant " + why
			}
		}
	}
	return r.value(line, cell, tenant, why)
}

// value makes the Row of one user value (a CSV cell or a JSON string) and its tenant, as
// ParseTenant gave it; noTenant says why a list with tenants has none for this row ("" when
// the list has no tenants or the row has a good one). Both formats classify values, check
// tenants and find duplicates here.
func (r *Reader) value(line int, cell, tenant, noTenant string) Row {
	in := trimValue(cell)
	kind, key, reason := Classify(in)
	row := Row{Line: line, Input: capInput(in), Kind: kind, Reason: reason, Tenant: tenant}
	if noTenant != "" && kind != KindInvalid {
		// Sent without its tenant, the row would go to the run's default tenant: maybe
		// the wrong one, where the same UPN can name someone else.
		row.Kind, row.Reason = KindInvalid, noTenant
		return row
	}
	if kind == KindInvalid {
		return row
	}
	// Never a substring of the record, which csv (and encoding/json) hand out as one string:
	// that would keep a megabyte line alive. Input is already a copy, usually equal to the key.
	row.Key = row.Input
	if key != row.Input {
		row.Key = strings.Clone(key)
	}
	// Valid keys are ASCII, so ToLower is the case folding Graph applies. The same user in two
	// tenants is two users; "/" can be in neither a key nor a tenant, so the pair is unambiguous.
	fold := strings.ToLower(row.Key)
	if row.Tenant != "" {
		fold = row.Tenant + "/" + fold
	}
	d := r.digest(fold)
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
	line, start := pe.Line+r.lineOff, pe.StartLine+r.lineOff
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		msg = fmt.Sprintf(`%s:%d: a " in a field that does not start with a quote (byte %d of the line); `+
			`quote the whole field and write the inner quote twice ("")`, r.name, line, pe.Column)
	case errors.Is(pe.Err, csv.ErrQuote) && line > start:
		msg = fmt.Sprintf(`%s:%d: a quoted field that starts on this line is not closed where expected `+
			`(the parser got to line %d); add the missing " or write a quote inside a field twice ("")`,
			r.name, start, line)
	case errors.Is(pe.Err, csv.ErrQuote):
		msg = fmt.Sprintf(`%s:%d: a stray " in a quoted field (byte %d of the line); a quoted field must `+
			`end with " right before the delimiter, and a quote inside it is written twice ("")`,
			r.name, line, pe.Column)
	default:
		msg = fmt.Sprintf("%s:%d: %v", r.name, line, pe.Err)
	}
	return &inputError{msg: msg, err: err}
}

// textInfo is what decodeInput did to the file's bytes, so that a byte offset in the text can
// be given as one in the file.
type textInfo struct {
	bom  int  // bytes of a UTF-8 byte-order mark dropped before the text
	wide bool // the file is UTF-16: offsets in the text are not offsets in the file
}

// decodeInput returns a reader of UTF-8 text: it drops a UTF-8 BOM, decodes UTF-16 (with a BOM,
// or without one when the NUL bytes give it away) and refuses binary files.
func decodeInput(r io.Reader, name string) (*bufio.Reader, textInfo, error) {
	var info textInfo
	raw := bufio.NewReaderSize(r, bufLen)
	head, err := peekHead(raw)
	if err != nil {
		return nil, info, fmt.Errorf("%s: %w", name, err)
	}
	var enc encoding.Encoding
	switch {
	case bytes.HasPrefix(head, []byte("\xEF\xBB\xBF")):
		raw.Discard(3)
		info.bom = 3
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
		info.wide = true
		src = bufio.NewReaderSize(transform.NewReader(raw, enc.NewDecoder()), bufLen)
	}
	text, err := peekHead(src)
	if err != nil {
		return nil, info, fmt.Errorf("%s: %w", name, err)
	}
	if looksBinary(text, enc != nil) {
		return nil, info, fmt.Errorf("%s: %s%s", name, binaryMsg, formatHint(head))
	}
	return src, info, nil
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

// preamble is what skipPreamble consumed before the header or the first user.
type preamble struct {
	lines int  // lines consumed
	comma rune // the delimiter named by Excel's "sep=" line, 0 when none
}

// skipPreamble consumes the lines before the header (or the first user of a list without
// one) that are not part of the table: blank lines; Excel's "sep=;" and the Entra bulk
// templates' "version:v1.0" directives; and comment lines starting with "#", such as the
// "#TYPE Selected.Microsoft.Graph.PowerShell.Models.MicrosoftGraphUser" line of Windows
// PowerShell's Export-Csv. They are consumed as raw lines, not CSV records, so that a comment
// with an odd quote in it cannot be a syntax error. Only what peekHead shows is examined, so
// a 1 MB first line costs nothing; a "#" line longer than that is skipped chunk by chunk.
func skipPreamble(src *bufio.Reader, opts ReaderOptions) (preamble, error) {
	var p preamble
	for {
		head, err := peekHead(src)
		if err != nil || len(head) == 0 {
			return p, err
		}
		line, whole := head, true
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line = head[:i+1]
		} else if len(head) == sniffLen {
			whole = false // the line goes on beyond what was peeked
		}
		s := trimValue(string(line))
		switch {
		case s == "":
		case directiveSep(string(line)) != 0:
			if p.comma == 0 {
				p.comma = directiveSep(string(line))
			}
		case strings.HasPrefix(strings.ToLower(strings.TrimLeft(s, `"`)), "version:v"):
			// Excel leaves the template's directive padded with delimiters when re-saved.
		case isComment(s, whole, opts):
		default:
			return p, nil
		}
		p.lines++
		if whole {
			src.Discard(len(line))
			continue
		}
		for {
			if _, err := src.ReadSlice('\n'); err != bufio.ErrBufferFull {
				if err != nil && err != io.EOF {
					return p, err
				}
				break
			}
		}
	}
}

// directiveSep returns the delimiter an Excel "sep=" line names, or 0 when s is not one.
func directiveSep(s string) rune {
	// Not trimValue: "sep=\t" names a tab.
	t := strings.ToLower(strings.Trim(s, "\r\n \""))
	if len(t) >= 5 && strings.HasPrefix(t, "sep=") && strings.IndexByte(",;\t|", t[4]) >= 0 {
		return rune(t[4])
	}
	return 0
}

// isComment reports whether the trimmed line s, seen before the header, is a comment. It
// starts with "#" (or "\"#" where a spreadsheet quoted the cell). But "#" is legal in a
// userPrincipalName, so a line that is a user ("#ops@contoso.com", perhaps with the trailing
// delimiters a spreadsheet pads rows with) is the first row of a list without a header: a user
// silently dropped from a breach list costs more than a commented-out one whose sessions are
// revoked (it only signs in again). A line naming a user column is a header whose first column
// is a row number titled "#".
func isComment(s string, whole bool, opts ReaderOptions) bool {
	if !strings.HasPrefix(strings.TrimPrefix(s, `"`), "#") {
		return false
	}
	if !whole {
		return true // longer than any user or header
	}
	v := strings.Trim(trimValue(strings.TrimRight(s, ",;\t| ")), `"`)
	if k, _, _ := Classify(v); k != KindInvalid {
		return false
	}
	for _, comma := range []rune{',', '\t', ';'} {
		cr := csv.NewReader(strings.NewReader(s))
		cr.Comma, cr.LazyQuotes, cr.FieldsPerRecord = comma, true, -1
		rec, err := cr.Read()
		if err != nil || len(rec) < 2 {
			continue
		}
		if opts.Column != "" && findColumn(rec, opts.Column) >= 0 || pickUserColumn(rec, -1) >= 0 {
			return false
		}
	}
	return true
}

// sniffComma picks the delimiter of the sniffed text: the first of comma, tab and semicolon
// in the first line. A first line with none of them is a lone header cell, a title or the
// first user of a one-column list; unless it is a user, the next lines decide, so that a
// semicolon CSV under an unknown one-word header is seen for what it is.
func sniffComma(head []byte) rune {
	first := true
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		s := trimValue(string(line))
		if s == "" {
			continue
		}
		switch {
		case strings.Contains(s, ","):
			return ','
		case strings.Contains(s, "\t"):
			return '\t'
		case strings.Contains(s, ";"):
			return ';'
		}
		if first {
			first = false
			if k, _, _ := Classify(strings.Trim(s, `"`)); k != KindInvalid {
				return ','
			}
		}
	}
	return ','
}

// lookahead is what the sniffed text shows of the lines after the first: the evidence that a
// file whose first line is a lone unknown word is a CSV rather than a one-column list.
type lookahead struct {
	quoted     bool   // the first line has a quote character: CSV, not a hand-made list
	later      int    // non-blank records after the first, at most lookLines
	multi      int    // of these, records with more than one value
	multiLine  int    // line of the first such record, 0 when none
	multiCells string // its values, for the error message
	table      bool   // the first two lines are a PowerShell table's header and its dashes
}

const lookLines = 8

// lookAhead parses the complete lines of head with the reader's settings. A syntax error ends
// the look; the reader itself reports it if it is real and not just where head was cut.
func lookAhead(head []byte, comma rune) lookahead {
	var l lookahead
	if len(head) == sniffLen {
		i := bytes.LastIndexByte(head, '\n')
		if i < 0 {
			return l
		}
		head = head[:i+1]
	}
	cr := csv.NewReader(bytes.NewReader(head))
	cr.Comma, cr.FieldsPerRecord, cr.TrimLeadingSpace = comma, -1, comma != '\t'
	var first string
	for n := 0; l.later < lookLines; {
		rec, err := cr.Read()
		if err != nil {
			break
		}
		if isBlank(rec) {
			continue
		}
		if n++; n == 1 {
			// The record's first line holds its opening quote, if any.
			line, _ := cr.FieldPos(0)
			raw := head
			for k := 1; k < line; k++ {
				raw = raw[bytes.IndexByte(raw, '\n')+1:]
			}
			if i := bytes.IndexByte(raw, '\n'); i >= 0 {
				raw = raw[:i]
			}
			l.quoted = bytes.IndexByte(raw, '"') >= 0
			first = strings.Join(rec, string(comma))
			continue
		}
		l.later++
		if n == 2 && len(rec) == 1 {
			l.table = isTableRule(rec[0]) && len(strings.Fields(first)) >= 2
		}
		if nonBlankCells(rec) > 1 {
			if l.multi++; l.multiLine == 0 {
				l.multiLine, _ = cr.FieldPos(0)
				l.multiCells = listValues(rec)
			}
		}
	}
	return l
}

// isTableRule recognises the dashes PowerShell's Format-Table draws under its column names.
func isTableRule(s string) bool {
	s = strings.TrimSpace(s)
	return s != "" && strings.Trim(s, "- ") == "" && strings.Contains(s, "-")
}

// userColumns maps normalized header names to their preference, lowest first. Among several
// candidates the lowest wins, the leftmost among equals:
//
//	0 a column named as a UPN: userPrincipalName (Entra, Microsoft 365, Graph, Sentinel),
//	  AccountUpn (Defender XDR hunting: the account the event is about)
//	1 an object id: id, objectId, userId (Entra sign-in logs' "User ID"), AadUserId,
//	  AccountObjectId
//	2 looser UPN names: upn, username (the sign-in logs' "Username")
//	3 the Defender account that started a process: InitiatingProcessAccountUpn, then (4)
//	  InitiatingProcessAccountObjectId; the Account* columns are the event's subject
//	5 user: a UPN in hand-made lists, but a display name in sign-in logs (which also have
//	  "User ID", so never chosen there)
//
// The UPN is preferred over the object id because the report is read by people. Display-name
// columns (nameColumns) are never chosen: Graph cannot address a user by name, so every row
// would be invalid; they only improve the error. "mail" is deliberately absent: it often
// differs from the UPN, and revoking by it could hit someone else.
var userColumns = map[string]int{
	"userprincipalname":                0,
	"accountupn":                       0,
	"id":                               1,
	"objectid":                         1,
	"userid":                           1,
	"aaduserid":                        1,
	"accountobjectid":                  1,
	"upn":                              2,
	"username":                         2,
	"initiatingprocessaccountupn":      3,
	"initiatingprocessaccountobjectid": 4,
	"user":                             5,
}

// nameColumns are display-name-like columns, named in the error when no user column is found.
var nameColumns = map[string]bool{
	"displayname":                  true,
	"accountname":                  true,
	"accountdisplayname":           true,
	"userdisplayname":              true,
	"initiatingprocessaccountname": true,
	"name":                         true,
}

// tenantNames maps normalized names of a tenant column to their preference, lowest first.
// AADTenantId comes first because in Log Analytics (Sentinel) exports "TenantId" is the
// workspace id, not the Entra tenant; where AADTenantId is present it is the right one.
var tenantNames = map[string]int{
	"aadtenantid": 0,
	"tenantid":    1,
	"tenant":      1,
}

// NormalizeHeader is how the reader compares column names, for callers that pick columns
// themselves.
func NormalizeHeader(s string) string { return normalizeHeader(s) }

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

// pickUserColumn returns the preferred user column of a header (see userColumns), never the
// column skip (the tenant's), or -1.
func pickUserColumn(rec []string, skip int) int {
	return pickColumn(rec, userColumns, skip)
}

// pickTenantColumn returns the preferred tenant column (see tenantNames), never skip, or -1.
func pickTenantColumn(rec []string, skip int) int {
	return pickColumn(rec, tenantNames, skip)
}

func pickColumn(rec []string, names map[string]int, skip int) int {
	best, bestPrio := -1, math.MaxInt
	for i, c := range rec {
		if i == skip || len(c) > 64 {
			continue // no header name is that long; skip normalizing megabytes
		}
		if p, ok := names[normalizeHeader(c)]; ok && p < bestPrio {
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

// listValues is listCells of the non-blank cells only: a spreadsheet pads short rows with
// empty cells, which would only clutter the message.
func listValues(rec []string) string {
	vals := make([]string, 0, min(len(rec), 31))
	for _, c := range rec {
		if trimValue(c) != "" {
			vals = append(vals, c)
		}
	}
	return listCells(vals)
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

// firstValue returns the first non-blank cell of rec.
func firstValue(rec []string) string {
	for _, c := range rec {
		if trimValue(c) != "" {
			return c
		}
	}
	return ""
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
	if utf8.ValidString(s) {
		return strings.Clone(clip(s, maxInput))
	}
	// Each run of bad bytes becomes a three-byte U+FFFD, which can lengthen the text: replace
	// first, in no more than the bytes that can be kept, and cut after.
	return clip(strings.ToValidUTF8(s[:min(len(s), maxInput+1)], "\uFFFD"), maxInput)
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
