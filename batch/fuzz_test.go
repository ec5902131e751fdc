package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzReader(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "input", "*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no sample files: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "")
	}
	f.Add([]byte(excelUnicodeText), "")
	f.Add(utf16Bytes(excelUnicodeText, false, true), "Object Id")
	f.Add(utf16Bytes("a@b.co\nc@d.co", true, false), "")
	f.Add([]byte("sep=;\nupn;x\na@b.co;1\n"), "")
	f.Add([]byte("version:v1.0\nUser name [userPrincipalName] Required\na@b.co\n"), "userPrincipalName")
	f.Add([]byte("upn\n\"a@b.co\nb@c.co\n"), "")
	f.Add([]byte("a,b\n1,2\n"), "b")
	f.Add([]byte("\xef\xbb\xbfid\r\n{87D349ED-44D7-43E1-9A83-5F2406DEE5BD}\r\n"), "")
	// Exports from the field (../testdata/exports) and the shapes around them.
	exports, _ := filepath.Glob(filepath.Join("..", "testdata", "exports", "*"))
	for _, name := range exports {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b, "")
		}
	}
	f.Add([]byte("#TYPE Selected.Microsoft.Graph.PowerShell.Models.MicrosoftGraphUser\r\n\"Id\",\"UserPrincipalName\"\r\n\"87d349ed-44d7-43e1-9a83-5f2406dee5bd\",\"a@b.co\"\r\n"), "")
	f.Add([]byte("# a \"comment\", with; delimiters\n#ops@b.co\n#\n"), "")
	f.Add([]byte("#,upn\n1,a@b.co\n"), "")
	f.Add([]byte("upn,tenant\na@b.co,x.com\na@b.co,y.com\nA@B.CO,X.COM\nb@b.co,\nc@b.co\n"), "")
	f.Add([]byte("TenantId,UserPrincipalName,AADTenantId\nx,a@b.co,72f988bf-86f1-41af-91ab-2d7cd011db47\n"), "TenantId")
	f.Add([]byte("Title\nDate,User ID\n1,2\n"), "")
	f.Add([]byte("\r\nId   UserPrincipalName\r\n--   -----------------\r\n"), "")
	f.Add([]byte("UserPrincipalName\n-----\na@b.co\n"), "")
	f.Add([]byte("Konto\na@b.co;x\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, column string) {
		r, err := NewReader(bytes.NewReader(data), ReaderOptions{Name: "fuzz", Column: column})
		if err != nil {
			checkErr(t, err, "fuzz")
			return
		}
		if !utf8.ValidString(r.Column()) {
			t.Fatalf("Column() = %q, not valid UTF-8", r.Column())
		}
		// Every row of a CSV starts on its own line, so there are never more rows than lines
		// (a JSON list numbers its elements, which can share a line).
		maxRows := bytes.Count(data, []byte{'\n'}) + bytes.Count(data, []byte{'\r'}) + 1
		seen := firstLines{}
		prev := 0
		for n := 0; ; n++ {
			row, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				checkErr(t, err, "fuzz")
				if _, again := r.Next(); again != err {
					t.Fatalf("Next after error %v returned %v", err, again)
				}
				return
			}
			if n >= maxRows && r.js == nil {
				t.Fatalf("more rows (%d) than lines (%d)", n+1, maxRows)
			}
			checkRow(t, row)
			if row.Line <= prev {
				t.Fatalf("row line %d after line %d", row.Line, prev)
			}
			prev = row.Line
			seen.check(t, row)
		}
	})
}

// FuzzJSONReader reads anything as a JSON list and checks it against encoding/json read plainly,
// value after value: the same elements, one row each, numbered 1, 2, ...; an error exactly
// where the plain decoder fails, at the same byte offset; duplicates as in a CSV.
func FuzzJSONReader(f *testing.F) {
	exports, _ := filepath.Glob(filepath.Join("..", "testdata", "exports", "*.json"))
	for _, name := range exports {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b, "")
		}
	}
	for _, s := range []string{
		`["a@b.co", "A@B.CO", null, 1, true, [], {}, {"id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd"}, "{87D349ED-44D7-43E1-9A83-5F2406DEE5BD}"]`,
		`{"@odata.context": "x", "@odata.nextLink": "y", "value": [{"userPrincipalName": "a@b.co", "tenantId": "x.com"}, {"upn": "a@b.co"}], "value": ["c@d.co"]}`,
		`{"value": {"a": [1, {"b": 2}]}, "upn": "a@b.co"}` + "\n" + `{"value": "c@d.co", "PSPath": "x"}`,
		"[\n  \"a@b.co\",\n]", `[{"upn": "a@b.co",}]`, `[{"upn" "a@b.co"}]`, `["a@b.co" "b@c.co"]`, `{'upn': 1}`,
		`[{"upn": "a@b.co"}`, `"a@b.co"`, `[1.5e3, -0, "\ud800", "\u00e9@b.co"]`, `{"value": [], "value": 5}`,
	} {
		f.Add([]byte(s), "")
	}
	f.Add([]byte(`[{"id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "upn": "a@b.co"}]`), "upn")
	f.Add([]byte(`[{"upn": "a@b.co"}, {"UPN": null}]`), "2")
	f.Fuzz(func(t *testing.T, data []byte, column string) {
		r, err := NewReader(bytes.NewReader(data), ReaderOptions{Name: "fuzz.json", Column: column})
		var rows []Row
		for err == nil {
			var row Row
			if row, err = r.Next(); err == nil {
				rows = append(rows, row)
			}
		}
		if err != io.EOF {
			checkErr(t, err, "fuzz.json")
		}
		if r != nil {
			if _, again := r.Next(); again != err {
				t.Fatalf("Next after %v returned %v", err, again)
			}
			if !utf8.ValidString(r.Column()) || !utf8.ValidString(r.TenantColumn()) || !utf8.ValidString(r.NextLink()) {
				t.Fatalf("columns %q, %q or next link %q not valid UTF-8", r.Column(), r.TenantColumn(), r.NextLink())
			}
		}
		seen := firstLines{}
		for i, row := range rows {
			checkRow(t, row)
			if row.Line != i+1 {
				t.Fatalf("row %d has line %d: rows are numbered by element", i+1, row.Line)
			}
			seen.check(t, row)
		}
		if column != "" || bytes.IndexByte(data, 0) >= 0 || bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")) ||
			bytes.HasPrefix(data, []byte("\xFF\xFE")) || bytes.HasPrefix(data, []byte("\xFE\xFF")) ||
			err != io.EOF && strings.Contains(err.Error(), binaryMsg) {
			return // the plain decoder would see other text, or --column refused the first element
		}
		want, wantErr := plainElements(data)
		switch {
		case wantErr == nil && err != io.EOF:
			t.Fatalf("error %v, the plain decoder reads it all", err)
		case wantErr == nil && len(rows) != want:
			t.Fatalf("%d rows, the plain decoder finds %d elements", len(rows), want)
		case wantErr == nil:
		case err == io.EOF:
			t.Fatalf("no error, the plain decoder fails: %v", wantErr)
		default:
			off := int64(len(data)) // cut short: the end
			var se *json.SyntaxError
			if errors.As(wantErr, &se) {
				off = se.Offset - 1
			}
			if prefix := fmt.Sprintf("fuzz.json:%d: ", off); !strings.HasPrefix(err.Error(), prefix) {
				t.Fatalf("error %q, the plain decoder fails at byte %d: %v", err, off, wantErr)
			}
		}
	})
}

// plainElements counts the elements of a JSON list with encoding/json, value after value: a
// list's items; of an object, the items of its "value" lists, or the object itself when it has
// none; any other value is one.
func plainElements(data []byte) (int, error) {
	n := 0
	d := json.NewDecoder(bytes.NewReader(data))
	for {
		var raw json.RawMessage
		if err := d.Decode(&raw); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
		raw = bytes.TrimLeft(raw, " \t\r\n")
		switch raw[0] {
		case '[':
			var items []json.RawMessage
			json.Unmarshal(raw, &items)
			n += len(items)
		case '{':
			fields := json.NewDecoder(bytes.NewReader(raw))
			fields.Token()
			lists, items := false, 0
			for fields.More() {
				k, _ := fields.Token()
				var v json.RawMessage
				fields.Decode(&v)
				if key, _ := k.(string); strings.EqualFold(key, "value") && bytes.HasPrefix(bytes.TrimLeft(v, " \t\r\n"), []byte("[")) {
					var list []json.RawMessage
					json.Unmarshal(v, &list)
					lists, items = true, items+len(list)
				}
			}
			if !lists {
				items = 1
			}
			n += items
		default:
			n++
		}
	}
}

// checkErr: an error names the file it is about (name) and stays short enough for a terminal.
func checkErr(t *testing.T, err error, name string) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, name+":") {
		t.Fatalf("error %q does not name the file", msg)
	}
	if len(msg) > 2048 {
		t.Fatalf("error message of %d bytes", len(msg))
	}
}

// firstLines holds the line each user (its key folded, in its tenant) was first read on.
type firstLines map[string]int

// check fails unless a valid row's DupOf names the line its user was first read on, and is 0 for
// a user read first.
func (seen firstLines) check(t *testing.T, row Row) {
	t.Helper()
	if row.Kind == KindInvalid {
		return
	}
	// One user in two tenants is two users.
	fold := row.Tenant + "/" + strings.ToLower(row.Key)
	if first, ok := seen[fold]; ok != (row.DupOf != 0) || ok && first != row.DupOf {
		t.Fatalf("row %+v: DupOf wrong, first seen on line %d (%v)", row, first, ok)
	} else if !ok {
		seen[fold] = row.Line
	}
}

func checkRow(t *testing.T, row Row) {
	t.Helper()
	if row.Line <= 0 {
		t.Fatalf("row %+v: Line %d", row, row.Line)
	}
	if !utf8.ValidString(row.Input) || len(row.Input) > maxInput+len(ellipsis) {
		t.Fatalf("row %+v: Input not valid UTF-8 or too long (%d)", row, len(row.Input))
	}
	switch row.Kind {
	case KindInvalid:
		if row.Reason == "" || row.Key != "" || row.DupOf != 0 {
			t.Fatalf("invalid row %+v: want a reason, no key, no DupOf", row)
		}
	default:
		if row.Key == "" || row.Reason != "" {
			t.Fatalf("valid row %+v: want a key and no reason", row)
		}
		if k, key, _ := Classify(row.Key); k != row.Kind || key != row.Key {
			t.Fatalf("row %+v: key reclassifies as %v %q", row, k, key)
		}
		if row.DupOf < 0 || row.DupOf >= row.Line {
			t.Fatalf("row %+v: DupOf out of range", row)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"alice@contoso.com", "$adele@contoso.com", "o'brien@x.com", "a#EXT#@b.onmicrosoft.com",
		"{87D349ED-44D7-43E1-9A83-5F2406DEE5BD}", "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
		"", " ", "\u00a0a@b.co\u200b", "a b@c.d", "a+b@c.d", "a@b..c", "a@b@c.d", "\xff", "jösé@x.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, key, reason := Classify(s)
		if len(reason) > 120 {
			t.Fatalf("reason of %d bytes: %q", len(reason), reason)
		}
		switch kind {
		case KindInvalid:
			if key != "" || reason == "" {
				t.Fatalf("Classify(%q) = invalid, key %q, reason %q", s, key, reason)
			}
		case KindObjectID:
			if len(key) != 36 || strings.Trim(key, "0123456789abcdef-") != "" || reason != "" {
				t.Fatalf("Classify(%q) = object id %q, reason %q", s, key, reason)
			}
		case KindUPN:
			body := strings.TrimPrefix(key, "$")
			if strings.Count(body, "@") != 1 || reason != "" {
				t.Fatalf("Classify(%q) = upn %q, reason %q", s, key, reason)
			}
			for _, c := range body {
				if c != '@' && !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'.-_!#^~", c) {
					t.Fatalf("Classify(%q) = upn %q with %q in it", s, key, c)
				}
			}
		default:
			t.Fatalf("Classify(%q) = kind %d", s, kind)
		}
		if kind != KindInvalid {
			if k2, key2, r2 := Classify(key); k2 != kind || key2 != key || r2 != "" {
				t.Fatalf("Classify(%q) = %v %q %q, not idempotent on %q", key, k2, key2, r2, s)
			}
		}
		// Padding with what exports leave around values changes nothing.
		if k2, key2, r2 := Classify(" \u00a0\u200b" + s + "\t\ufeff"); k2 != kind || key2 != key || r2 != reason {
			t.Fatalf("padded %q classifies as %v %q %q, bare as %v %q %q", s, k2, key2, r2, kind, key, reason)
		}
	})
}

func FuzzUserPath(f *testing.F) {
	for _, s := range []string{
		"alice@contoso.com", "$adele@contoso.com", "$o'brien#x@y.com", "a+b%c d", "é", "\x00\xff", "''", "$''",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		esc := EscapeKey(key)
		checkEscaped(t, esc, "")
		if un, err := url.PathUnescape(esc); err != nil || un != key {
			t.Fatalf("PathUnescape(EscapeKey(%q)) = %q, %v", key, un, err)
		}
		if key != "" && utf8.ValidString(key) {
			if want, got := sdkRevokePath(t, key), "/v1.0/users/"+esc+"/revokeSignInSessions"; got != want {
				t.Fatalf("key %q: EscapeKey gives %q, SDK sends %q", key, got, want)
			}
		}

		p := UserPath(key)
		if !strings.HasPrefix(key, "$") {
			if p != "/users/"+esc {
				t.Fatalf("UserPath(%q) = %q", key, p)
			}
			return
		}
		inner, ok := strings.CutPrefix(p, "/users('")
		if inner, ok = strings.CutSuffix(inner, "')"); !ok {
			t.Fatalf("UserPath(%q) = %q, want the key-literal form", key, p)
		}
		checkEscaped(t, inner, "'$@")
		if strings.Contains(strings.ReplaceAll(inner, "''", ""), "'") {
			t.Fatalf("UserPath(%q) = %q has an undoubled quote", key, p)
		}
		if un, err := url.PathUnescape(inner); err != nil || strings.ReplaceAll(un, "''", "'") != key {
			t.Fatalf("UserPath(%q) = %q does not decode back: %q, %v", key, p, un, err)
		}
	})
}

// checkEscaped fails unless s holds only unreserved characters, those in keep, and %XX
// escapes with upper-case hex.
func checkEscaped(t *testing.T, s, keep string) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isUnreserved(c) || strings.IndexByte(keep, c) >= 0:
		case c == '%' && i+2 < len(s) && strings.IndexByte("0123456789ABCDEF", s[i+1]) >= 0 && strings.IndexByte("0123456789ABCDEF", s[i+2]) >= 0:
			i += 2
		default:
			t.Fatalf("%q: byte %q at %d is neither unreserved nor an escape", s, c, i)
		}
	}
}
