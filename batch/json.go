package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// jsonList reads a user list written as JSON, as admin tools write it:
//
//   - an array of strings (a UPN or object id each);
//   - an array of objects: "az ad user list" (id, userPrincipalName, ...), "Get-MgUser |
//     ConvertTo-Json" (Id, UserPrincipalName, ...), and a single object where ConvertTo-Json
//     had only one user;
//   - Graph's page {"@odata.context": ..., "value": [...], "@odata.nextLink": ...}, as "az rest"
//     and Graph Explorer save it, and Windows PowerShell's {"value": [...], "Count": n};
//   - several of these one after the other (one object per line, as a loop of ConvertTo-Json
//     -Compress writes).
//
// It streams: encoding/json's Decoder takes one element at a time (Token, More, Decode), so a
// million-user file costs the memory of its largest element, plus the reader's de-duplication
// set. Each element is one Row, numbered by its place in the list (1-based): JSON's line breaks
// are up to the writer, and a file on one line would give every row the same line. An element
// that names no user (null, a number, a list, an object without a user field) is an invalid
// row with the reason.
//
// An object's user field is found as a CSV's user column is (pickUserColumn, or findColumn for
// --column), and its tenant as the tenant column is; each object by its own fields, since JSON
// has no header. The first element stands for the header where one matters: --column and
// --tenant-column must name one of its fields (a typo would otherwise turn every row invalid),
// its fields name Column() and TenantColumn(), and when it has a tenant, every element must.
type jsonList struct {
	r    *Reader // classifies values, checks tenants and finds duplicates (Reader.value)
	dec  *json.Decoder
	tail *tail // the text since the last mark, for the place of a syntax error
	ctx  string
	name string
	text textInfo
	opts ReaderOptions

	inArray bool // between the elements of a list
	started bool // the list has had an element
	inPage  bool // between the fields of a Graph page after (or between) its "value" lists
	index   int  // elements so far: the Line of the last row
	tenants bool // every element must have a tenant: the first one had, or --tenant-column
	pending *Row // the first element's row, read by NewReader
	// The fields of the element being read, reused: their values are slices of arena.
	keys     []string
	vals     []json.RawMessage
	arena    []byte
	scratch  json.RawMessage
	head     []string
	headCol  int
	headTcol int
	nextLink string
}

// isJSONInput reports whether the input is read as JSON: a name ending in ".json", or text
// whose first non-blank byte opens an array or an object. "{" followed by a hex digit is not
// JSON but the braced object id "{87D349ED-...}" that PowerShell's [guid] writes, starting a
// list of one user per line.
func isJSONInput(name string, head []byte) bool {
	if strings.HasSuffix(strings.ToLower(name), ".json") {
		return true
	}
	head = bytes.TrimLeft(head, " \t\r\n")
	switch {
	case len(head) == 0:
		return false
	case head[0] == '[':
		return true
	case head[0] == '{':
		return len(head) == 1 || !isHex(head[1])
	}
	return false
}

// newJSONReader reads the first element, which decides Column and TenantColumn and whether the
// list has tenants, and checks the options against it.
func newJSONReader(src *bufio.Reader, name string, text textInfo, opts ReaderOptions) (*Reader, error) {
	rd := newReader(name)
	tail := &tail{r: src}
	dec := json.NewDecoder(tail)
	dec.UseNumber()
	j := &jsonList{r: rd, dec: dec, tail: tail, name: name, text: text, opts: opts, headCol: -1, headTcol: -1,
		tenants: opts.TenantColumn != ""}
	rd.js = j
	row, err := j.next()
	switch {
	case err == io.EOF:
		rd.err = io.EOF // empty: the caller reports "no users"
		return rd, nil
	case err != nil:
		return nil, err
	}
	if j.head != nil {
		if err := j.checkHead(); err != nil {
			return nil, err
		}
		if j.headCol >= 0 {
			rd.column = headerCell(j.head[j.headCol])
		}
		if j.headTcol >= 0 {
			rd.tcolumn = headerCell(j.head[j.headTcol])
		}
	}
	j.pending = &row
	return rd, nil
}

// checkHead is readHeader's check of --column and --tenant-column, on the first object's fields.
func (j *jsonList) checkHead() error {
	for _, o := range []struct{ flag, want string }{{"--column", j.opts.Column}, {"--tenant-column", j.opts.TenantColumn}} {
		if o.want == "" || findColumn(j.head, o.want) >= 0 {
			continue
		}
		msg := fmt.Sprintf("%s: the first element has no field %q (found: %s)", j.name, clip(o.want, 60), listCells(j.head))
		if _, num := columnNumber(o.want); num {
			msg += fmt.Sprintf("; %s N numbers the columns of a CSV or text list without a header, and JSON names its fields", o.flag)
		}
		return errors.New(msg)
	}
	if j.opts.Column != "" && j.headCol == j.headTcol {
		return fmt.Errorf("%s: --column and --tenant-column both name the field %q; the users and their tenants must be in two fields",
			j.name, headerCell(j.head[j.headCol]))
	}
	return nil
}

// next returns the row of the next element, io.EOF after the last, or a fatal error.
func (j *jsonList) next() (Row, error) {
	if j.pending != nil {
		row := *j.pending
		j.pending = nil
		return row, nil
	}
	row, err := j.step()
	if err != nil && err != io.EOF {
		return Row{}, j.fail(err)
	}
	return row, err
}

func (j *jsonList) step() (Row, error) {
	for {
		switch {
		case j.inArray:
			j.mark(map[bool]string{false: "[", true: `[""`}[j.started])
			if !j.dec.More() {
				if _, err := j.dec.Token(); err != nil { // the "]", or what is wrong there
					return Row{}, inside(err)
				}
				j.inArray = false
				continue
			}
			tok, err := j.dec.Token()
			if err != nil {
				return Row{}, inside(err)
			}
			j.started = true
			row, err := j.element(tok)
			return row, inside(err)
		case j.inPage:
			j.mark(`{"":""`)
			if !j.dec.More() {
				if _, err := j.dec.Token(); err != nil { // the "}"
					return Row{}, inside(err)
				}
				j.inPage = false
				continue
			}
			list, err := j.pageField()
			if err != nil {
				return Row{}, inside(err)
			}
			j.inArray, j.started = list, false
			continue
		}
		j.mark("")
		tok, err := j.dec.Token()
		if err != nil {
			return Row{}, err // io.EOF between values is the end
		}
		switch tok {
		case json.Delim('['):
			j.inArray, j.started = true, false
		case json.Delim('{'):
			row, page, err := j.topObject()
			if err != nil {
				return Row{}, inside(err)
			}
			if !page {
				return row, nil
			}
		default:
			row, err := j.element(tok) // a lone string (or something that is no user) is a list of one
			return row, inside(err)
		}
	}
}

// inside turns the end of input in the middle of a value into the error it is.
func inside(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// isPageList reports whether key names the list of a Graph page (or of Windows PowerShell's
// {"value": [...], "Count": n}).
func isPageList(key string) bool { return strings.EqualFold(key, "value") }

// topObject reads an object at the top level, after its "{": a Graph page, whose "value" list
// it enters (page is true), or a user on its own, whose row it returns.
func (j *jsonList) topObject() (row Row, page bool, err error) {
	j.arena = j.arena[:0]
	keys, vals := j.keys[:0], j.vals[:0]
	defer func() { j.keys, j.vals = keys[:0], vals[:0] }()
	for j.mark("{"); j.dec.More(); j.mark(`{"":""`) {
		key, err := j.key()
		if err != nil {
			return Row{}, false, err
		}
		if isPageList(key) {
			tok, err := j.dec.Token()
			if err != nil {
				return Row{}, false, err
			}
			if tok == json.Delim('[') {
				j.inPage, j.inArray, j.started = true, true, false
				return Row{}, true, nil
			}
			raw, err := j.rest(tok)
			if err != nil {
				return Row{}, false, err
			}
			keys, vals = append(keys, key), append(vals, raw)
			continue
		}
		raw, err := j.value()
		if err != nil {
			return Row{}, false, err
		}
		if key == "@odata.nextLink" {
			j.setNextLink(raw)
		}
		keys, vals = append(keys, key), append(vals, raw)
	}
	if _, err := j.dec.Token(); err != nil { // the "}"
		return Row{}, false, err
	}
	j.index++
	return j.object(j.index, keys, vals), false, nil
}

// pageField reads one field of a Graph page after its first list: another "value" list (list
// is true: read its elements next), or a field to skip, remembering "@odata.nextLink".
func (j *jsonList) pageField() (list bool, err error) {
	key, err := j.key()
	if err != nil {
		return false, err
	}
	if isPageList(key) {
		tok, err := j.dec.Token()
		if err != nil || tok == json.Delim('[') {
			return err == nil, err
		}
		_, err = j.rest(tok)
		return false, err
	}
	var raw json.RawMessage
	if err := j.dec.Decode(&raw); err != nil {
		return false, err
	}
	if key == "@odata.nextLink" {
		j.setNextLink(raw)
	}
	return false, nil
}

func (j *jsonList) setNextLink(raw json.RawMessage) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		j.nextLink = clip(strings.ToValidUTF8(s, "\uFFFD"), 2048)
	}
}

// key reads an object's next key.
func (j *jsonList) key() (string, error) {
	tok, err := j.dec.Token()
	if err != nil {
		return "", err
	}
	s, _ := tok.(string) // the decoder allows nothing else here
	return s, nil
}

// value reads the next value into the arena.
func (j *jsonList) value() (json.RawMessage, error) {
	if err := j.dec.Decode(&j.scratch); err != nil {
		return nil, err
	}
	n := len(j.arena)
	j.arena = append(j.arena, j.scratch...)
	return j.arena[n:len(j.arena):len(j.arena)], nil
}

// fields reads the rest of an object after its "{", appending to keys and vals.
func (j *jsonList) fields(keys []string, vals []json.RawMessage) ([]string, []json.RawMessage, error) {
	for j.dec.More() {
		key, err := j.key()
		if err != nil {
			return nil, nil, err
		}
		raw, err := j.value()
		if err != nil {
			return nil, nil, err
		}
		keys, vals = append(keys, key), append(vals, raw)
	}
	_, err := j.dec.Token()
	return keys, vals, err
}

// rest reads the rest of the value that tok starts, as compact JSON (cut short after maxInput
// bytes): what a row shows of an element that is no user.
func (j *jsonList) rest(tok json.Token) (json.RawMessage, error) {
	var b bytes.Buffer
	switch tok {
	case json.Delim('{'):
		keys, vals, err := j.fields(nil, nil)
		if err != nil {
			return nil, err
		}
		writeObject(&b, keys, vals)
	case json.Delim('['):
		b.WriteByte('[')
		for n := 0; j.dec.More(); n++ {
			if err := j.dec.Decode(&j.scratch); err != nil {
				return nil, err
			}
			raw := j.scratch
			if b.Len() <= maxInput {
				if n > 0 {
					b.WriteByte(',')
				}
				writeCompact(&b, raw)
			}
		}
		if _, err := j.dec.Token(); err != nil {
			return nil, err
		}
		b.WriteByte(']')
	default:
		raw, err := json.Marshal(tok)
		return raw, err
	}
	return b.Bytes(), nil
}

// element makes the row of one element of a list, whose first token is tok.
func (j *jsonList) element(tok json.Token) (Row, error) {
	j.index++
	line := j.index
	switch t := tok.(type) {
	case string:
		if j.tenants {
			return j.r.value(line, t, "", j.noTenant()), nil
		}
		return j.r.value(line, t, "", ""), nil
	case json.Delim:
		if t == '{' {
			j.arena = j.arena[:0]
			keys, vals, err := j.fields(j.keys[:0], j.vals[:0])
			if err != nil {
				return Row{}, err
			}
			j.keys, j.vals = keys, vals
			return j.object(line, keys, vals), nil
		}
		raw, err := j.rest(tok)
		if err != nil {
			return Row{}, err
		}
		return notAUser(line, raw, "a list, not a user"), nil
	case nil:
		return notAUser(line, []byte("null"), "null, not a user"), nil
	case bool:
		return notAUser(line, []byte(strconv.FormatBool(t)), fmt.Sprintf("%t, not a user", t)), nil
	case json.Number:
		return notAUser(line, []byte(t), "a number, not a user: a userPrincipalName or object id is written as a string, in quotes"), nil
	}
	return notAUser(line, nil, "not a user"), nil // unreachable: Token returns nothing else
}

// noTenant is why an element of a list with tenants has none: the list has them when
// --tenant-column names a field or its first element has a tenant field.
func (j *jsonList) noTenant() string {
	if j.opts.TenantColumn != "" {
		return fmt.Sprintf("missing the tenant field %q", clip(j.opts.TenantColumn, 60))
	}
	return "missing the tenant field (the first element of the list has one)"
}

func notAUser(line int, raw []byte, reason string) Row {
	return Row{Line: line, Input: capInput(string(raw)), Kind: KindInvalid, Reason: reason}
}

// object makes the row of a user object: its user field, found as a CSV's user column is, and
// its tenant field.
func (j *jsonList) object(line int, keys []string, vals []json.RawMessage) Row {
	o := j.opts
	col, tcol := -1, -1
	if o.TenantColumn != "" {
		tcol = findColumn(keys, o.TenantColumn)
	}
	if o.Column != "" {
		col = findColumn(keys, o.Column)
	} else {
		col = pickUserColumn(keys, tcol)
	}
	if o.TenantColumn == "" {
		tcol = pickTenantColumn(keys, col)
	}
	if line == 1 {
		j.head, j.headCol, j.headTcol = slices.Clone(keys), col, tcol
		j.tenants = j.tenants || tcol >= 0
	}
	if col < 0 && o.Column == "" {
		col = stringValue(keys, vals)
	}
	switch {
	case col < 0 && o.Column != "":
		return notAUser(line, objectInput(keys, vals), fmt.Sprintf("no field %q (found: %s)", clip(o.Column, 60), listFields(keys)))
	case col < 0:
		return notAUser(line, objectInput(keys, vals), fmt.Sprintf("no user field (found: %s); name one with --column NAME", listFields(keys)))
	case col == tcol:
		return notAUser(line, objectInput(keys, vals), "--column and --tenant-column name the same field")
	}
	user, why := jsonText(keys[col], vals[col])
	if why != "" {
		return notAUser(line, compactValue(vals[col]), why)
	}
	var tenant, noTenant string
	switch {
	case tcol >= 0:
		t, why := jsonText("tenant", vals[tcol])
		if why == "" {
			if tenant, why = ParseTenant(t); why != "" {
				why = "tenant " + why
			}
		}
		noTenant = why
	case j.tenants:
		noTenant = j.noTenant()
	}
	return j.r.value(line, user, tenant, noTenant)
}

// stringValue finds the user of an object that has no user field but a string "value": Windows
// PowerShell 5.1's ConvertTo-Json of strings read with Get-Content, which writes each line as
// {"value": "adele@contoso.com", "PSPath": ..., "ReadCount": 1}. Otherwise it returns -1.
func stringValue(keys []string, vals []json.RawMessage) int {
	for i, k := range keys {
		if strings.EqualFold(k, "value") && len(vals[i]) > 0 && vals[i][0] == '"' {
			return i
		}
	}
	return -1
}

// jsonText reads a field that must hold a string; why explains one that does not.
func jsonText(name string, raw json.RawMessage) (s, why string) {
	name = clip(strings.ToValidUTF8(name, "\uFFFD"), 60)
	switch {
	case len(raw) == 0:
	case raw[0] == '"':
		if json.Unmarshal(raw, &s) == nil {
			return s, ""
		}
	case raw[0] == 'n':
		return "", name + " is null"
	case raw[0] == '{':
		return "", name + " is an object, not a string"
	case raw[0] == '[':
		return "", name + " is a list, not a string"
	case raw[0] == 't' || raw[0] == 'f':
		return "", name + " is true or false, not a string"
	}
	return "", name + " is a number, not a string"
}

// listFields lists an object's field names for a reason, shorter than listCells' listing.
func listFields(keys []string) string {
	const maxFields = 8
	if len(keys) == 0 {
		return "none"
	}
	if len(keys) <= maxFields {
		return listCells(keys)
	}
	return fmt.Sprintf("%s, … and %d more", listCells(keys[:maxFields]), len(keys)-maxFields)
}

// objectInput is what a row shows of an object that names no user: its compact JSON, cut.
func objectInput(keys []string, vals []json.RawMessage) []byte {
	var b bytes.Buffer
	writeObject(&b, keys, vals)
	return b.Bytes()
}

// writeObject writes keys and values as a compact JSON object, or its first maxInput bytes.
func writeObject(b *bytes.Buffer, keys []string, vals []json.RawMessage) {
	b.WriteByte('{')
	for i, k := range keys {
		if b.Len() > maxInput {
			return
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(k))
		b.WriteByte(':')
		writeCompact(b, vals[i])
	}
	b.WriteByte('}')
}

func compactValue(raw json.RawMessage) []byte {
	var b bytes.Buffer
	writeCompact(&b, raw)
	return b.Bytes()
}

// writeCompact writes raw without the white space between its tokens (the line breaks of a
// pretty-printed object), at most some maxInput bytes of it.
func writeCompact(b *bytes.Buffer, raw json.RawMessage) {
	if len(raw) > 4*maxInput {
		// Compact needs the whole value; a long one is shown by its start, spaces and all.
		b.Write(bytes.Join(bytes.Fields(raw[:maxInput+1]), []byte(" ")))
		return
	}
	if json.Compact(b, raw) != nil {
		b.Write(raw)
	}
}

// mark records that the decoder is between values, in the state that prefix puts a fresh
// decoder in ("" at the top, "[" at the start of a list, [""  after an element, "{" at the start
// of an object, {"":"" after a field; a string, since a number would run on into a "." or "e"
// that follows): the text from here is what fail scans again.
func (j *jsonList) mark(prefix string) {
	j.ctx = prefix
	j.tail.keep(j.dec.InputOffset())
}

// fail turns a decoding error into the admin's message: the file, the byte offset and the line
// of the mistake, what is wrong and what to do. The decoder's own offsets cannot be trusted
// once Token and Decode are mixed (its scanner counts only the bytes Decode read), so the place
// is found again: a fresh decoder, put by the mark's prefix in the state the reader was in,
// reads the text from the mark to where the reader stopped and fails at the same byte.
func (j *jsonList) fail(err error) error {
	var se *json.SyntaxError
	if !errors.As(err, &se) && err != io.ErrUnexpectedEOF {
		return fmt.Errorf("%s: %w", j.name, err) // reading the file failed
	}
	t := j.tail
	text := t.buf[t.off:]
	off := t.base + int64(len(text)) // the end of the text, for a file cut short
	msg := "the file ends in the middle of the JSON: a list or object is not closed"
	if se != nil {
		msg, off = strings.TrimSpace(se.Error()), j.dec.InputOffset() // in case the scan fails
		var again *json.SyntaxError
		var v json.RawMessage
		d := json.NewDecoder(io.MultiReader(strings.NewReader(j.ctx), bytes.NewReader(text)))
		if errors.As(d.Decode(&v), &again) && again.Offset > int64(len(j.ctx)) {
			msg, off = again.Error(), t.base+again.Offset-1-int64(len(j.ctx))
		}
	}
	at := min(max(int(off-t.base), 0), len(text))
	var bad byte
	if at < len(text) {
		bad = text[at]
	}
	line := t.lines + bytes.Count(text[:at], []byte{'\n'}) + 1
	where := fmt.Sprintf("%s:%d", j.name, off+int64(j.text.bom))
	if j.text.wide {
		where = fmt.Sprintf("%s:%d (of the text as UTF-8; the file is UTF-16)", j.name, off)
	}
	return &inputError{msg: fmt.Sprintf("%s: %s (line %d); %s", where, msg, line, jsonHint(msg, bad, off, j.name)), err: err}
}

// jsonHint says what usually causes a JSON syntax error, from the decoder's message and the
// byte it stopped at.
func jsonHint(msg string, bad byte, off int64, name string) string {
	named := strings.HasSuffix(strings.ToLower(name), ".json")
	switch {
	case has(msg, "exceeded max depth"):
		return "lists or objects nested 10,000 deep: this is no user list"
	case has(msg, "ends in the middle"):
		return "the file is cut short: export or save it again"
	case off == 0 && named && bad != '[' && bad != '{':
		return "a file named .json is read as JSON, and this one does not start with [ or {: " +
			"rename a CSV or a list of one user per line to .csv or .txt"
	case bad == '\'':
		return "JSON writes strings and field names in double quotes"
	case (bad == ']' || bad == '}') && (has(msg, "beginning of value") || has(msg, "beginning of object key")):
		return "JSON allows no comma after the last element of a list or object"
	case has(msg, "after array element") || has(msg, "after object key:value pair") || has(msg, "expected comma"):
		return "a comma is missing between two elements, or a list or object is closed too early or not at all"
	case has(msg, "in string literal"):
		return "a line break or tab inside a string must be written \\n or \\t"
	case has(msg, "beginning of object key"):
		return "a field name must be a string in double quotes"
	case has(msg, "in literal") || has(msg, "beginning of value") || has(msg, "in numeric literal"):
		return "a value that is not a number, true, false or null must be a string in double quotes"
	}
	return "the file is not valid JSON there: export it again, or fix it by hand"
}

func has(msg, part string) bool { return strings.Contains(msg, part) }

// tail keeps the text the decoder read since the last mark, and counts the line breaks before
// it. Between marks it holds one element and the decoder's read-ahead.
type tail struct {
	r     io.Reader
	buf   []byte
	off   int   // buf[off:] is the text from the mark on
	base  int64 // offset in the text of buf[off]
	lines int   // line breaks before base
}

func (t *tail) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	return n, err
}

// keep drops the text before offset from.
func (t *tail) keep(from int64) {
	n := min(int(from-t.base), len(t.buf)-t.off)
	if n <= 0 {
		return
	}
	t.lines += bytes.Count(t.buf[t.off:t.off+n], []byte{'\n'})
	t.off += n
	t.base += int64(n)
	if t.off >= 4096 && t.off*2 >= len(t.buf) {
		t.buf = t.buf[:copy(t.buf, t.buf[t.off:])]
		t.off = 0
	}
}

// NextLink is the "@odata.nextLink" of a Graph page read as the list: set when the file is one
// page of a longer listing, as "az rest" and Graph Explorer save the first page, so that the
// caller can say that the users of the other pages are not in it. Known once Next returned
// io.EOF; "" for other inputs.
func (r *Reader) NextLink() string {
	if r.js == nil {
		return ""
	}
	return r.js.nextLink
}
