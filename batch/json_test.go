package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

const (
	adeleID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
	alexID  = "b2c6f7d1-3a4e-4f5b-8c9d-0e1f2a3b4c5d"
	tenant1 = "72f988bf-86f1-41af-91ab-2d7cd011db47"
)

// TestJSONReaderShapes: the shapes admin tools write a user list in, and what each element
// becomes. Rows are numbered by element, 1-based.
func TestJSONReaderShapes(t *testing.T) {
	adele, alex := rowUPN(1, "adele@contoso.com"), rowUPN(2, "alex@contoso.com")
	runReaderCases(t, []readerCase{
		{name: "array of strings", in: []byte(`["adele@contoso.com", "` + strings.ToUpper(adeleID) + `", " {` + alexID + `} "]`),
			want: []Row{adele, rowOID(2, strings.ToUpper(adeleID), adeleID), rowOID(3, "{"+alexID+"}", alexID)}},
		{name: "az ad user list: objects, the UPN preferred to the id",
			in:     []byte(`[{"businessPhones": [], "displayName": "Adele", "id": "` + adeleID + `", "userPrincipalName": "adele@contoso.com"}, {"id": "` + alexID + `", "userPrincipalName": "alex@contoso.com"}]`),
			column: "userPrincipalName", want: []Row{adele, alex}},
		{name: "Get-MgUser | ConvertTo-Json: PowerShell's casing",
			in:     []byte("[\r\n  {\r\n    \"Id\": \"" + adeleID + "\",\r\n    \"UserPrincipalName\": \"adele@contoso.com\"\r\n  }\r\n]\r\n"),
			column: "UserPrincipalName", want: []Row{adele}},
		{name: "ConvertTo-Json of one user: an object, not an array",
			in:     []byte(`{"Id": "` + adeleID + `", "UserPrincipalName": "adele@contoso.com", "AdditionalProperties": {"@odata.context": "x"}}`),
			column: "UserPrincipalName", want: []Row{adele}},
		{name: "a lone string in a .json file", in: []byte(` "adele@contoso.com" `), opts: ReaderOptions{Name: "u.json"}, want: []Row{adele}},
		{name: "Graph's page: value, nextLink before and after",
			in:     []byte(`{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "@odata.nextLink": "https://n", "value": [{"id": "` + adeleID + `"}, {"id": "` + alexID + `"}], "@odata.count": 2}`),
			column: "id", want: []Row{rowOID(1, adeleID, adeleID), rowOID(2, alexID, alexID)}},
		{name: "Windows PowerShell's {value, Count} of an array", in: []byte(`{"value": ["adele@contoso.com", "alex@contoso.com"], "Count": 2}`),
			want: []Row{adele, alex}},
		{name: "a page with two value lists reads both", in: []byte(`{"value": ["adele@contoso.com"], "x": {"value": [1]}, "Value": ["alex@contoso.com"]}`),
			want: []Row{adele, alex}},
		{name: "an object whose value is no list is a user object", in: []byte(`{"value": {"a": 1}, "upn": "adele@contoso.com"}`),
			column: "upn", want: []Row{adele}},
		{name: "Windows PowerShell 5.1 ConvertTo-Json of Get-Content lines: {value, PSPath, ...}",
			in:   []byte(`[{"value": "adele@contoso.com", "PSPath": "C:\\u.txt", "ReadCount": 1}, {"value": "alex@contoso.com", "PSPath": "C:\\u.txt", "ReadCount": 2}]`),
			want: []Row{adele, alex}},
		{name: "one object per line (a loop of ConvertTo-Json -Compress)", in: []byte("{\"upn\":\"adele@contoso.com\"}\n{\"upn\":\"alex@contoso.com\"}\n"),
			column: "upn", want: []Row{adele, alex}},
		{name: "two arrays one after the other", in: []byte(`["adele@contoso.com"]` + "\n" + `["alex@contoso.com"]`), want: []Row{adele, alex}},
		{name: "empty array", in: []byte("[]\n")},
		{name: "empty page", in: []byte(`{"@odata.context": "x", "value": []}`)},
		{name: "BOM", in: []byte("\ufeff[\"adele@contoso.com\"]"), want: []Row{adele}},
		{name: "UTF-16LE with BOM: Windows PowerShell's Out-File", in: utf16Bytes("[\r\n    \"adele@contoso.com\"\r\n]\r\n", false, true), want: []Row{adele}},
		{name: "UTF-16BE without BOM", in: utf16Bytes(`["adele@contoso.com"]`, true, false), want: []Row{adele}},
		{name: "the field preference is the CSV columns'", in: []byte(`[{"user": "Adele Vance", "username": "x@contoso.com", "objectId": "` + adeleID + `", "mail": "m@contoso.com"}]`),
			column: "objectId", want: []Row{rowOID(1, adeleID, adeleID)}},
		{name: "field names are matched loosely, as column names", in: []byte(`[{"User Principal Name": "adele@contoso.com", "OBJECT_ID": "x"}]`),
			column: "User Principal Name", want: []Row{adele}},
		{name: "each object is read by its own fields", in: []byte(`[{"id": "` + adeleID + `"}, {"upn": "alex@contoso.com"}]`),
			column: "id", want: []Row{rowOID(1, adeleID, adeleID), alex}},
		{name: "--column", in: []byte(`[{"id": "` + adeleID + `", "userPrincipalName": "adele@contoso.com"}]`), opts: ReaderOptions{Column: "ID"},
			column: "id", want: []Row{rowOID(1, adeleID, adeleID)}},
		{name: "--column takes no mail from an object without it", in: []byte(`[{"mail": "adele@contoso.com"}, {"id": "` + adeleID + `"}]`), opts: ReaderOptions{Column: "mail"},
			column: "mail", want: []Row{adele, rowBad(2, `{"id":"`+adeleID+`"}`, `no field "mail" (found: id)`)}},
		{name: "--column does not apply to strings", in: []byte(`["adele@contoso.com"]`), opts: ReaderOptions{Column: "upn"}, want: []Row{adele}},
	})
}

// TestJSONReaderNotUsers: an element that names no user is an invalid row with the reason,
// never dropped and never fatal; the rows after it are read.
func TestJSONReaderNotUsers(t *testing.T) {
	long := strings.Repeat("x", 600)
	runReaderCases(t, []readerCase{
		{name: "values that are no user",
			in: []byte(`[null, 42, -1.5e3, true, false, [1, "a@b.co"], {}, {"displayName": "Adele Vance", "mail": "adele@contoso.com"}, "", "not a user", "adele@contoso.com"]`),
			want: []Row{
				rowBad(1, "null", "null, not a user"),
				rowBad(2, "42", "a number, not a user: a userPrincipalName or object id is written as a string, in quotes"),
				rowBad(3, "-1.5e3", "a number, not a user: a userPrincipalName or object id is written as a string, in quotes"),
				rowBad(4, "true", "true, not a user"),
				rowBad(5, "false", "false, not a user"),
				rowBad(6, `[1,"a@b.co"]`, "a list, not a user"),
				rowBad(7, "{}", "no user field (found: none); name one with --column NAME"),
				rowBad(8, `{"displayName":"Adele Vance","mail":"adele@contoso.com"}`, "no user field (found: displayName, mail); name one with --column NAME"),
				rowBad(9, "", "empty"),
				rowBad(10, "not a user", "contains a space"),
				rowUPN(11, "adele@contoso.com"),
			}},
		{name: "user fields that hold no string",
			in:     []byte(`[{"userPrincipalName": null}, {"id": 42}, {"upn": {"a": 1}}, {"upn": ["a@b.co"]}, {"upn": true}, {"upn": "  "}]`),
			column: "userPrincipalName", want: []Row{
				rowBad(1, "null", "userPrincipalName is null"),
				rowBad(2, "42", "id is a number, not a string"),
				rowBad(3, `{"a":1}`, "upn is an object, not a string"),
				rowBad(4, `["a@b.co"]`, "upn is a list, not a string"),
				rowBad(5, "true", "upn is true or false, not a string"),
				rowBad(6, "", "empty"),
			}},
		{name: "a pretty-printed object is shown compact", in: []byte("[\n  {\n    \"name\": \"A\",\n    \"tags\": [\n      1,\n      2\n    ]\n  }\n]\n"),
			want: []Row{rowBad(1, `{"name":"A","tags":[1,2]}`, "no user field (found: name, tags); name one with --column NAME")}},
		{name: "a large element is shown cut", in: []byte(`[{"note": "` + long + `"}, ["` + long + `", "` + long + `"], "` + long + `"]`),
			want: []Row{
				rowBad(1, clip(`{"note":"`+long, maxInput), "no user field (found: note); name one with --column NAME"),
				rowBad(2, clip(`["`+long, maxInput), "a list, not a user"),
				rowBad(3, clip(long, maxInput), "no @"),
			}},
		{name: "many fields are listed in part", in: []byte(`[{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1,"j":1}]`),
			want: []Row{rowBad(1, `{"a":1,"b":1,"c":1,"d":1,"e":1,"f":1,"g":1,"h":1,"i":1,"j":1}`, "no user field (found: a, b, c, d, e, f, g, h, … and 2 more); name one with --column NAME")}},
	})
}

// TestJSONReaderDuplicates: repeats are found as in a CSV (any case, any form of the object id,
// per tenant), whether the elements are strings or objects, and DupOf names the element.
func TestJSONReaderDuplicates(t *testing.T) {
	runReaderCases(t, []readerCase{
		{name: "strings and objects, case and braces",
			in: []byte(`["adele@contoso.com", {"upn": "ADELE@contoso.com"}, "` + adeleID + `", {"id": "{` + strings.ToUpper(adeleID) + `}"}, "alex@contoso.com"]`),
			want: []Row{
				rowUPN(1, "adele@contoso.com"),
				withDup(rowUPN(2, "ADELE@contoso.com"), 1),
				rowOID(3, adeleID, adeleID),
				withDup(rowOID(4, "{"+strings.ToUpper(adeleID)+"}", adeleID), 3),
				rowUPN(5, "alex@contoso.com"),
			}},
		{name: "an invalid element is no first occurrence", in: []byte(`[{"upn": "a b@x.com"}, "a@x.com", "A@x.com"]`),
			column: "upn", want: []Row{rowBad(1, "a b@x.com", "contains a space"), rowUPN(2, "a@x.com"), withDup(rowUPN(3, "A@x.com"), 2)}},
	})
}

// TestJSONReaderTenant: the tenant field is found by the tenant column's names; once the first
// element has one (or --tenant-column names one), every element must.
func TestJSONReaderTenant(t *testing.T) {
	a := func(line int, tenant string) Row { return withTenant(rowUPN(line, "a@x.com"), tenant) }
	runReaderCases(t, []readerCase{
		{name: "tenantId by id or domain; one user in two tenants is two users",
			in:     []byte(`[{"upn": "a@x.com", "tenantId": "` + strings.ToUpper(tenant1) + `"}, {"upn": "a@x.com", "tenantId": "Contoso.com"}, {"upn": "A@X.COM", "tenantId": "contoso.com"}]`),
			column: "upn", tenantColumn: "tenantId",
			want: []Row{a(1, tenant1), a(2, "contoso.com"), withDup(withTenant(rowUPN(3, "A@X.COM"), "contoso.com"), 2)}},
		{name: "AADTenantId wins over Log Analytics' TenantId",
			in:     []byte(`[{"TenantId": "6d9c2f1e-0b3a-4c5d-9e8f-7a6b5c4d3e2f", "UserPrincipalName": "a@x.com", "AADTenantId": "` + tenant1 + `"}]`),
			column: "UserPrincipalName", tenantColumn: "AADTenantId", want: []Row{a(1, tenant1)}},
		{name: "a missing, empty, bad or non-string tenant makes the row invalid",
			in:     []byte(`[{"upn": "a@x.com", "tenant": "x.com"}, {"upn": "a@x.com"}, "a@x.com", {"upn": "a@x.com", "tenant": ""}, {"upn": "a@x.com", "tenant": "con toso.com"}, {"upn": "a@x.com", "tenant": null}, {"upn": "a@x.com", "tenant": 7}]`),
			column: "upn", tenantColumn: "tenant",
			want: []Row{
				a(1, "x.com"),
				rowBad(2, "a@x.com", "missing the tenant field (the first element of the list has one)"),
				rowBad(3, "a@x.com", "missing the tenant field (the first element of the list has one)"),
				rowBad(4, "a@x.com", "tenant is empty"),
				rowBad(5, "a@x.com", "tenant contains a space"),
				rowBad(6, "a@x.com", "tenant is null"),
				rowBad(7, "a@x.com", "tenant is a number, not a string"),
			}},
		{name: "a tenant after a first element without one is used", in: []byte(`["a@x.com", {"upn": "a@x.com", "tenant": "y.com"}]`),
			want: []Row{rowUPN(1, "a@x.com"), a(2, "y.com")}},
		{name: "--tenant-column", in: []byte(`[{"upn": "a@x.com", "tenant": "x.com", "home": "y.com"}, {"upn": "a@x.com", "tenant": "x.com"}]`), opts: ReaderOptions{TenantColumn: "HOME"},
			column: "upn", tenantColumn: "home",
			want: []Row{a(1, "y.com"), rowBad(2, "a@x.com", `missing the tenant field "HOME"`)}},
		{name: "--tenant-column never becomes the user field", in: []byte(`[{"id": "` + tenant1 + `", "upn": "a@x.com"}]`), opts: ReaderOptions{TenantColumn: "id"},
			column: "upn", tenantColumn: "id", want: []Row{a(1, tenant1)}},
		{name: "--tenant-column absent from the first element", in: []byte(`[{"upn": "a@x.com", "tenant": "x.com"}]`), opts: ReaderOptions{Name: "u.json", TenantColumn: "customer"},
			wantErr: `u.json: the first element has no field "customer" (found: upn, tenant)`},
		{name: "--column absent from the first element", in: []byte(`[{"upn": "a@x.com"}, {"mail": "b@x.com"}]`), opts: ReaderOptions{Name: "u.json", Column: "mail"},
			wantErr: `u.json: the first element has no field "mail" (found: upn)`},
		{name: "--column N is no field number", in: []byte(`{"value": [{"id": "` + adeleID + `", "upn": "a@x.com"}]}`), opts: ReaderOptions{Name: "u.json", Column: "2"},
			wantErr: `u.json: the first element has no field "2" (found: id, upn); --column N numbers the columns of a CSV or text list without a header, and JSON names its fields`},
		{name: "--column and --tenant-column on one field", in: []byte(`[{"upn": "a@x.com", "tenant": "x.com"}]`), opts: ReaderOptions{Column: "tenant", TenantColumn: "Tenant"},
			wantErr: `input: --column and --tenant-column both name the field "tenant"; the users and their tenants must be in two fields`},
	})
}

// TestJSONReaderDetect: what is read as JSON: a .json name, or text starting with [ or {,
// but not a list of braced object ids.
func TestJSONReaderDetect(t *testing.T) {
	runReaderCases(t, []readerCase{
		{name: "a braced object id starts a list, not JSON", in: []byte("{" + adeleID + "}\n{" + alexID + "}\n"),
			want: []Row{rowOID(1, "{"+adeleID+"}", adeleID), rowOID(2, "{"+alexID+"}", alexID)}},
		{name: "leading blank lines before [", in: []byte("\r\n\n  \t[\"a@x.com\"]"), want: []Row{rowUPN(1, "a@x.com")}},
		{name: "an empty .json file has no users", in: nil, opts: ReaderOptions{Name: "users.json"}},
		{name: "a blank .json file has no users", in: []byte(" \n\t\n"), opts: ReaderOptions{Name: "USERS.JSON"}},
		{name: "a CSV named .json", in: []byte("upn\na@x.com\n"), opts: ReaderOptions{Name: "users.json"},
			wantErr: "users.json:0: invalid character 'u' looking for beginning of value (line 1); a file named .json is read as JSON, and this one does not start with [ or {: rename a CSV or a list of one user per line to .csv or .txt"},
		{name: "a CSV with a .json-like content is not sniffed from the middle", in: []byte("upn\n[a@x.com]\n"),
			column: "upn", want: []Row{rowBad(2, `[a@x.com]`, `contains "[", which is not allowed in a userPrincipalName`)}},
	})
}

// TestJSONReaderSyntaxErrors: a syntax error stops the reader, naming the byte offset in the
// file and the line, what is wrong and what usually causes it; the rows before it are read.
func TestJSONReaderSyntaxErrors(t *testing.T) {
	tests := []struct {
		name, in string
		opts     ReaderOptions
		rows     int
		wantErr  string
	}{
		{name: "comma after the last element", in: "[\n  \"a@x.com\",\n  \"b@x.com\",\n]\n", rows: 2,
			wantErr: "u.json:28: invalid character ']' looking for beginning of value (line 4); JSON allows no comma after the last element of a list or object"},
		{name: "comma after the last field", in: "[{\"upn\": \"a@x.com\",}]", rows: 0,
			wantErr: "u.json:19: invalid character '}' looking for beginning of object key string (line 1); JSON allows no comma after the last element of a list or object"},
		{name: "missing comma between elements", in: "[\n  \"a@x.com\"\n  \"b@x.com\"\n]\n", rows: 1,
			wantErr: "u.json:16: invalid character '\"' after array element (line 3); a comma is missing between two elements, or a list or object is closed too early or not at all"},
		{name: "missing comma between fields", in: "[{\"id\": 1 \"upn\": 2}]", rows: 0,
			wantErr: "u.json:10: invalid character '\"' after object key:value pair (line 1); a comma is missing between two elements, or a list or object is closed too early or not at all"},
		{name: "cut short", in: "[\n  {\"upn\": \"a@x.com\"},\n  {\"upn\": \"b@x", rows: 1,
			wantErr: "u.json:38: the file ends in the middle of the JSON: a list or object is not closed (line 3); the file is cut short: export or save it again"},
		{name: "cut short between elements", in: "[\"a@x.com\",", rows: 1,
			wantErr: "u.json:11: the file ends in the middle of the JSON: a list or object is not closed (line 1); the file is cut short: export or save it again"},
		{name: "cut short in a page", in: `{"value": ["a@x.com"], "@odata.nextLink": "x"`, rows: 1,
			wantErr: "u.json:45: the file ends in the middle of the JSON: a list or object is not closed (line 1); the file is cut short: export or save it again"},
		{name: "single quotes", in: "[{'upn': 'a@x.com'}]", rows: 0,
			wantErr: "u.json:2: invalid character '\\'' looking for beginning of object key string (line 1); JSON writes strings and field names in double quotes"},
		{name: "unquoted word", in: "[\"a@x.com\", b@x.com]", rows: 1,
			wantErr: "u.json:12: invalid character 'b' looking for beginning of value (line 1); a value that is not a number, true, false or null must be a string in double quotes"},
		{name: "a line break inside a string, deep in an element", in: "[\n{\"x\": [1, 2, {\"y\": \"a\nb\"}], \"upn\": \"a@x.com\"}]", rows: 0,
			wantErr: "u.json:23: invalid character '\\n' in string literal (line 2); a line break or tab inside a string must be written \\n or \\t"},
		{name: "an unquoted key", in: "{upn: \"a@x.com\"}", rows: 0,
			wantErr: "u.json:1: invalid character 'u' looking for beginning of object key string (line 1); a field name must be a string in double quotes"},
		{name: "a bad value in a skipped page field", in: "{\"value\": [\"a@x.com\"],\n \"@odata.count\": tru}", rows: 1,
			wantErr: "u.json:43: invalid character '}' in literal true (expecting 'e') (line 2); a value that is not a number, true, false or null must be a string in double quotes"},
		{name: "garbage after the list", in: "[\"a@x.com\"]\n]", rows: 1,
			wantErr: "u.json:12: invalid character ']' looking for beginning of value (line 2); JSON allows no comma after the last element of a list or object"},
		{name: "a BOM counts in the offset", in: "\ufeff[1 2]", rows: 1,
			wantErr: "u.json:6: invalid character '2' after array element (line 1); a comma is missing between two elements, or a list or object is closed too early or not at all"},
		{name: "stdin is sniffed", in: "[\"a@x.com\"", opts: ReaderOptions{Name: "-"}, rows: 1,
			wantErr: "stdin:10: the file ends in the middle of the JSON: a list or object is not closed (line 1); the file is cut short: export or save it again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.Name == "" {
				opts.Name = "u.json"
			}
			for _, slow := range []bool{false, true} {
				var src io.Reader = strings.NewReader(tt.in)
				if slow {
					src = iotest.OneByteReader(src)
				}
				var rows []Row
				r, err := NewReader(src, opts)
				for err == nil {
					var row Row
					if row, err = r.Next(); err == nil {
						rows = append(rows, row)
					}
				}
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("one byte at a time %v: error = %v\nwant %s", slow, err, tt.wantErr)
				}
				if len(rows) != tt.rows {
					t.Errorf("one byte at a time %v: %d rows before the error, want %d", slow, len(rows), tt.rows)
				}
				var se *json.SyntaxError
				if !errors.As(err, &se) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("error %v unwraps to neither a json.SyntaxError nor io.ErrUnexpectedEOF", err)
				}
				if r != nil {
					if _, again := r.Next(); again != err {
						t.Errorf("Next after the error returned %v", again)
					}
				}
			}
		})
	}
}

// TestJSONSyntaxErrorOffsets: for every one-byte corruption of a sample, the offset the reader
// names is where a plain decoder of the whole text, value after value, stops too (the reader
// mixes Token and Decode, whose own offsets then drift).
func TestJSONSyntaxErrorOffsets(t *testing.T) {
	sample := []byte("{\"@odata.context\": \"x\",\n \"value\": [\n  {\"id\": \"" + adeleID + "\", \"upn\": \"a@x.com\", \"n\": [1, {\"k\": null}]},\n  \"b@x.com\", 7, true\n ],\n \"@odata.nextLink\": \"y\"\n}\n")
	checked := 0
	for i := range sample {
		for _, c := range []byte{'x', '}', ']', '{', '[', ',', ':', '"', '\'', '.', '0', 'e', '\n', 0xff, 0} {
			bad := bytes.Clone(sample)
			if c == 0 {
				bad = slices.Delete(bad, i, i+1) // 0 stands for deleting the byte
			} else {
				bad[i] = c
			}
			var refErr error
			for d := json.NewDecoder(bytes.NewReader(bad)); refErr == nil; {
				var ref any
				refErr = d.Decode(&ref)
			}
			var want *json.SyntaxError
			if !errors.As(refErr, &want) {
				continue // still valid, or only cut short
			}
			_, _, err := readRows(t, bad, ReaderOptions{Name: "u.json"})
			if err == nil {
				t.Fatalf("byte %d set to %q: no error, the decoder says %v\n%s", i, c, refErr, bad)
			}
			if prefix := fmt.Sprintf("u.json:%d: ", want.Offset-1); !strings.HasPrefix(err.Error(), prefix) {
				t.Fatalf("byte %d set to %q: error %q, want the offset of %q\n%s", i, c, err, prefix, bad)
			}
			line := bytes.Count(bad[:want.Offset-1], []byte{'\n'}) + 1
			if !strings.Contains(err.Error(), fmt.Sprintf("(line %d)", line)) {
				t.Fatalf("byte %d set to %q: error %q, want line %d", i, c, err, line)
			}
			checked++
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d corruptions checked", checked)
	}
}

// TestJSONReaderIOError: a read error is the file's, not a syntax error.
func TestJSONReaderIOError(t *testing.T) {
	boom := errors.New("boom")
	data := "[" + strings.Repeat(`"a@x.com",`, 2*bufLen/10)
	r, err := NewReader(io.MultiReader(strings.NewReader(data), iotest.ErrReader(boom)), ReaderOptions{Name: "f"})
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = r.Next()
	}
	if !errors.Is(err, boom) || err.Error() != "f: boom" {
		t.Fatalf("Next error = %v, want f: boom", err)
	}
}

// TestJSONNextLink: a page with more pages says so, so that the caller can warn that the list is
// only the first page of a listing; other inputs have none.
func TestJSONNextLink(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$skiptoken=x", "value": ["a@x.com"]}`, "https://graph.microsoft.com/v1.0/users?$skiptoken=x"},
		{`{"value": ["a@x.com"], "@odata.nextLink": "https://n"}`, "https://n"},
		{`{"value": ["a@x.com"]}`, ""},
		{`["a@x.com"]`, ""},
		{"upn\na@x.com\n", ""},
	} {
		r, err := NewReader(strings.NewReader(tt.in), ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for err == nil {
			_, err = r.Next()
		}
		if err != io.EOF || r.NextLink() != tt.want {
			t.Errorf("%s: NextLink %q (%v), want %q", tt.in, r.NextLink(), err, tt.want)
		}
	}
}

// jsonStream is an az-ad-user-list-style array of user objects (or of strings), endless when
// limit is 0.
func jsonStream(limit int, strs bool) *genStream {
	return &genStream{limit: limit, end: "\n]\n", elem: func(buf []byte, n int) []byte {
		if n == 1 {
			buf = append(buf, "[\n"...)
		} else {
			buf = append(buf, ",\n"...)
		}
		if strs {
			return fmt.Appendf(buf, "  \"user%d@contoso.com\"", n)
		}
		return fmt.Appendf(buf, "  {\n    \"businessPhones\": [],\n    \"displayName\": \"User %d\",\n    \"id\": \"%08x-0000-4000-8000-000000000000\",\n    \"jobTitle\": null,\n    \"mail\": \"user%d@contoso.com\",\n    \"userPrincipalName\": \"user%d@contoso.com\"\n  }", n, n, n, n)
	}}
}

// TestJSONReaderStreams proves the JSON reader does not slurp its input: after many elements it
// has read only a buffer's worth beyond them.
func TestJSONReaderStreams(t *testing.T) {
	const rows = 20000
	checkStreams(t, jsonStream(0, false), rows, rowUPN(rows, fmt.Sprintf("user%d@contoso.com", rows)))
}

// BenchmarkJSONReaderMillion reads a million generated users, as "az ad user list" writes them
// (objects, one field a line) or as an array of strings (-strings), and reports the peak heap
// and the process's peak RSS: they must stay under 128 MB, the de-duplication set being the
// only thing that grows.
//
//	go test ./batch -run '^$' -bench JSONReaderMillion -benchtime 1x
func BenchmarkJSONReaderMillion(b *testing.B) {
	for _, strs := range []bool{false, true} {
		b.Run(map[bool]string{false: "objects", true: "strings"}[strs], func(b *testing.B) {
			const users = 1_000_000
			for b.Loop() {
				src := jsonStream(users, strs)
				runtime.GC()
				var ms runtime.MemStats
				peak := uint64(0)
				n := readUPNs(b, src, ReaderOptions{Name: "users.json"}, func(n int) {
					if n%20000 == 0 {
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapInuse)
					}
				})
				if n != users {
					b.Fatalf("read %d rows, want %d", n, users)
				}
				b.SetBytes(int64(src.read))
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
				if rss := peakRSS(); rss > 0 {
					b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
					if rss > 128<<20 {
						b.Errorf("peak RSS %d MB, want under 128 MB", rss>>20)
					}
				}
				if peak > 128<<20 {
					b.Errorf("peak heap %d MB, want under 128 MB", peak>>20)
				}
			}
		})
	}
}

// peakRSS is the process's peak resident set (VmHWM), 0 where /proc does not tell.
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func BenchmarkJSONReader(b *testing.B) {
	data, _ := io.ReadAll(jsonStream(100000, false))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if n := readUPNs(b, bytes.NewReader(data), ReaderOptions{}, nil); n != 100000 {
			b.Fatalf("read %d rows", n)
		}
	}
}
