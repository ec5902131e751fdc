package batch

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf16"
)

var update = flag.Bool("update", false, "rewrite the golden files under ../testdata/golden/exports")

// readAll drains a Reader; it stops at the first error, which it returns with the rows so far.
func readRows(t testing.TB, data []byte, opts ReaderOptions) (rows []Row, column string, err error) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data), opts)
	if err != nil {
		return nil, "", err
	}
	for {
		row, err := r.Next()
		if err == io.EOF {
			return rows, r.Column(), nil
		}
		if err != nil {
			if _, again := r.Next(); again != err {
				t.Errorf("Next after a fatal error returned %v, want the same error again", again)
			}
			return rows, r.Column(), err
		}
		rows = append(rows, row)
	}
}

func inputSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "input", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rowUPN(line int, key string) Row {
	return Row{Line: line, Input: key, Key: key, Kind: KindUPN}
}

func rowOID(line int, input, key string) Row {
	return Row{Line: line, Input: input, Key: key, Kind: KindObjectID}
}

func rowBad(line int, input, reason string) Row {
	return Row{Line: line, Input: input, Kind: KindInvalid, Reason: reason}
}

func withDup(r Row, of int) Row {
	r.DupOf = of
	return r
}

func withTenant(r Row, tenant string) Row {
	r.Tenant = tenant
	return r
}

func utf16Bytes(s string, bigEndian, bom bool) []byte {
	var b []byte
	units := utf16.Encode([]rune(s))
	if bom {
		units = append([]uint16{0xFEFF}, units...)
	}
	for _, u := range units {
		if bigEndian {
			b = append(b, byte(u>>8), byte(u))
		} else {
			b = append(b, byte(u), byte(u>>8))
		}
	}
	return b
}

// excelUnicodeText is what Excel's "Unicode text" save of an M365 export looks like once decoded.
const excelUnicodeText = "Display name\tUser principal name\tObject Id\r\n" +
	"Adele Vance\tAdeleV@contoso.com\t87d349ed-44d7-43e1-9a83-5f2406dee5bd\r\n" +
	"\"Seán O'Brien, Ops\"\tsean.o'brien@contoso.com\t4782e723-f4f4-4af3-a76e-25e3bab0d896\r\n" +
	"\t\t\r\n" +
	"Zoë Test\tzoë@contoso.com\t\r\n"

var excelUnicodeRows = []Row{
	rowUPN(2, "AdeleV@contoso.com"),
	rowUPN(3, "sean.o'brien@contoso.com"),
	rowBad(5, "zoë@contoso.com", `contains "ë", which is not allowed in a userPrincipalName`),
}

func TestReaderSamples(t *testing.T) {
	tests := []struct {
		name   string
		data   []byte
		opts   ReaderOptions
		column string
		want   []Row
	}{
		{
			name:   "entra_export.csv",
			data:   inputSample(t, "entra_export.csv"),
			column: "userPrincipalName",
			want: []Row{
				rowUPN(2, "AdeleV@contoso.onmicrosoft.com"),
				rowUPN(3, "john.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com"),
				rowUPN(4, "Sean.O'Brien@contoso.com"),
				rowUPN(5, "$svc-backup@contoso.com"),
				rowUPN(6, "MeganB@contoso.onmicrosoft.com"),
			},
		},
		{
			name:   "entra_export.csv",
			data:   inputSample(t, "entra_export.csv"),
			opts:   ReaderOptions{Column: "ID"},
			column: "id",
			want: []Row{
				rowOID(2, "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "87d349ed-44d7-43e1-9a83-5f2406dee5bd"),
				rowOID(3, "5bde3e51-d13b-4db1-9948-fe4b109d11a7", "5bde3e51-d13b-4db1-9948-fe4b109d11a7"),
				rowOID(4, "4782e723-f4f4-4af3-a76e-25e3bab0d896", "4782e723-f4f4-4af3-a76e-25e3bab0d896"),
				rowOID(5, "0a4f1e2b-77c1-4c0e-9d0b-3b1e8c2f9a11", "0a4f1e2b-77c1-4c0e-9d0b-3b1e8c2f9a11"),
				rowOID(6, "48d31887-5fad-4d73-a9f5-3c356e68a038", "48d31887-5fad-4d73-a9f5-3c356e68a038"),
			},
		},
		{
			name:   "m365_export.csv",
			data:   inputSample(t, "m365_export.csv"),
			column: "User principal name",
			want: []Row{
				rowUPN(2, "AdeleV@contoso.onmicrosoft.com"),
				rowUPN(3, "AlexW@contoso.com"),
				rowUPN(4, "helpdesk@contoso.com"),
				withDup(rowUPN(5, "adelev@CONTOSO.onmicrosoft.com"), 2),
			},
		},
		{
			name:   "m365_export.csv",
			data:   inputSample(t, "m365_export.csv"),
			opts:   ReaderOptions{Column: "object id"},
			column: "Object Id",
			want: []Row{
				rowOID(2, "87D349ED-44D7-43E1-9A83-5F2406DEE5BD", "87d349ed-44d7-43e1-9a83-5f2406dee5bd"),
				rowOID(3, "b2c6f7d1-3a4e-4f5b-8c9d-0e1f2a3b4c5d", "b2c6f7d1-3a4e-4f5b-8c9d-0e1f2a3b4c5d"),
				rowOID(4, "c0ffee00-1234-4abc-8def-0123456789ab", "c0ffee00-1234-4abc-8def-0123456789ab"),
				withDup(rowOID(5, "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "87d349ed-44d7-43e1-9a83-5f2406dee5bd"), 2),
			},
		},
		{
			name:   "entra_bulk_template.csv",
			data:   inputSample(t, "entra_bulk_template.csv"),
			column: "User name [userPrincipalName] Required",
			want: []Row{
				rowUPN(3, "chris@contoso.com"),
				rowUPN(4, "lee.gu@contoso.com"),
				rowBad(6, "pradeep gupta@contoso.com", "contains a space"),
			},
		},
		{
			name:   "entra_bulk_template.csv",
			data:   inputSample(t, "entra_bulk_template.csv"),
			opts:   ReaderOptions{Column: "userPrincipalName"},
			column: "User name [userPrincipalName] Required",
			want: []Row{
				rowUPN(3, "chris@contoso.com"),
				rowUPN(4, "lee.gu@contoso.com"),
				rowBad(6, "pradeep gupta@contoso.com", "contains a space"),
			},
		},
		{
			name: "headerless.txt",
			data: inputSample(t, "headerless.txt"),
			want: []Row{
				rowUPN(1, "alice@contoso.com"),
				rowUPN(3, "bob@contoso.com"),
				rowUPN(4, "carol@contoso.com"),
				rowOID(5, "{4782E723-F4F4-4AF3-A76E-25E3BAB0D896}", "4782e723-f4f4-4af3-a76e-25e3bab0d896"),
				withDup(rowOID(6, "4782e723-f4f4-4af3-a76e-25e3bab0d896", "4782e723-f4f4-4af3-a76e-25e3bab0d896"), 5),
				rowBad(8, "dave+test@contoso.com", `contains "+", which is not allowed in a userPrincipalName`),
				withDup(rowUPN(9, "ALICE@CONTOSO.COM"), 1),
				rowBad(10, "erin@contoso", "the domain after the @ has no dot"),
			},
		},
		{
			name:   "bom_crlf.csv",
			data:   inputSample(t, "bom_crlf.csv"),
			column: "UPN",
			want: []Row{
				rowUPN(2, "alice@contoso.com"),
				rowUPN(4, "bob@contoso.com"),
				rowUPN(5, "carol@contoso.com"),
				rowUPN(7, "dave@contoso.com"),
			},
		},
		{
			name:   "utf-16le with BOM, tabs (Excel Unicode text)",
			data:   utf16Bytes(excelUnicodeText, false, true),
			column: "User principal name",
			want:   excelUnicodeRows,
		},
		{
			name:   "utf-16be with BOM",
			data:   utf16Bytes(excelUnicodeText, true, true),
			column: "User principal name",
			want:   excelUnicodeRows,
		},
		{
			name:   "utf-16le without BOM",
			data:   utf16Bytes(excelUnicodeText, false, false),
			column: "User principal name",
			want:   excelUnicodeRows,
		},
		{
			name:   "utf-16be without BOM",
			data:   utf16Bytes(excelUnicodeText, true, false),
			column: "User principal name",
			want:   excelUnicodeRows,
		},
		{
			name: "utf-16le headerless single line",
			data: utf16Bytes("a@b.co", false, false),
			want: []Row{rowUPN(1, "a@b.co")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, column, err := readRows(t, tt.data, tt.opts)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if column != tt.column {
				t.Errorf("Column() = %q, want %q", column, tt.column)
			}
			checkRows(t, rows, tt.want)
		})
	}
}

func checkRows(t *testing.T, got, want []Row) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	for i := range max(len(got), len(want)) {
		var g, w Row
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			t.Errorf("row %d:\n got  %+v\n want %+v", i, g, w)
		}
	}
}

// exportCases reads every sample under ../testdata/exports, some with options too; the rows
// must match the golden listing ("go test ./batch -run TestReaderExports -update" rewrites it).
var exportCases = []struct {
	file, golden string
	opts         ReaderOptions
}{
	{"entra-download-users.csv", "entra-download-users.txt", ReaderOptions{}},
	{"m365-active-users.csv", "m365-active-users.txt", ReaderOptions{}},
	{"ps51-export-csv.csv", "ps51-export-csv.txt", ReaderOptions{}},
	{"ps51-export-csv.csv", "ps51-export-csv-by-id.txt", ReaderOptions{Column: "Id"}},
	{"ps51-export-csv-utf8bom.csv", "ps51-export-csv-utf8bom.txt", ReaderOptions{}},
	{"ps7-export-csv.csv", "ps7-export-csv.txt", ReaderOptions{}},
	{"defender-advanced-hunting.csv", "defender-advanced-hunting.txt", ReaderOptions{}},
	{"defender-advanced-hunting.csv", "defender-advanced-hunting-by-id.txt", ReaderOptions{Column: "AccountObjectId"}},
	{"sentinel-signinlogs.csv", "sentinel-signinlogs.txt", ReaderOptions{}},
	{"sentinel-device-process.csv", "sentinel-device-process.txt", ReaderOptions{}},
	{"entra-signin-log.csv", "entra-signin-log.txt", ReaderOptions{}},
	{"entra-signin-log.csv", "entra-signin-log-tenant.txt", ReaderOptions{TenantColumn: "Resource tenant ID"}},
	{"outfile-utf16le.txt", "outfile-utf16le.txt", ReaderOptions{}},
	{"outfile-format-table.txt", "outfile-format-table.txt", ReaderOptions{}},
	{"outfile-format-table-wide.txt", "outfile-format-table-wide.txt", ReaderOptions{}},
	{"multi-tenant-list.csv", "multi-tenant-list.txt", ReaderOptions{}},
	{"az-ad-user-list.json", "az-ad-user-list.txt", ReaderOptions{}},
	{"az-ad-user-list.json", "az-ad-user-list-by-id.txt", ReaderOptions{Column: "id"}},
	{"az-rest-users-page.json", "az-rest-users-page.txt", ReaderOptions{}},
	{"get-mguser-ps7.json", "get-mguser-ps7.txt", ReaderOptions{}},
	{"get-mguser-single-ps51.json", "get-mguser-single-ps51.txt", ReaderOptions{}},
	{"az-ad-user-list.tsv", "az-ad-user-list-tsv.txt", ReaderOptions{}},
	{"az-ad-user-list.tsv", "az-ad-user-list-tsv-column-2.txt", ReaderOptions{Column: "2"}},
	{"az-ad-user-list.tsv", "az-ad-user-list-tsv-column-1.txt", ReaderOptions{Column: "1"}},
}

func TestReaderExports(t *testing.T) {
	dir := filepath.Join("..", "testdata", "exports")
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample exports in %s: %v", dir, err)
	}
	covered := map[string]bool{}
	for _, tc := range exportCases {
		covered[tc.file] = true
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s has no case in exportCases", f)
		}
	}
	for _, tc := range exportCases {
		t.Run(tc.golden, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			opts := tc.opts
			opts.Name = "testdata/exports/" + tc.file
			got := renderRead(t, data, opts)
			// The same bytes behind a reader that hands out one byte at a time must read the same.
			r, err := NewReader(iotest.OneByteReader(bytes.NewReader(data)), opts)
			if slow := renderReader(r, err); slow != got {
				t.Errorf("read one byte at a time:\n%s\nin one piece:\n%s", slow, got)
			}
			golden(t, filepath.Join("..", "testdata", "golden", "exports", tc.golden), got)
		})
	}
}

// renderRead lists what the Reader makes of data, one row a line, for a golden file.
func renderRead(t *testing.T, data []byte, opts ReaderOptions) string {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data), opts)
	return renderReader(r, err)
}

func renderReader(r *Reader, err error) string {
	var b strings.Builder
	if err != nil {
		fmt.Fprintf(&b, "error: %s\n", err)
		return b.String()
	}
	fmt.Fprintf(&b, "column %q, tenant column %q\n", r.Column(), r.TenantColumn())
	for {
		row, err := r.Next()
		if err == io.EOF {
			if r.NextLink() != "" {
				fmt.Fprintf(&b, "next link %q\n", r.NextLink())
			}
			return b.String()
		}
		if err != nil {
			fmt.Fprintf(&b, "error: %s\n", err)
			return b.String()
		}
		fmt.Fprintf(&b, "%d %s", row.Line, row.Kind)
		if row.Kind == KindInvalid {
			fmt.Fprintf(&b, " input %q reason %q", row.Input, row.Reason)
		} else {
			fmt.Fprintf(&b, " key %q", row.Key)
			if row.Input != row.Key {
				fmt.Fprintf(&b, " input %q", row.Input)
			}
		}
		if row.Tenant != "" {
			fmt.Fprintf(&b, " tenant %q", row.Tenant)
		}
		if row.DupOf != 0 {
			fmt.Fprintf(&b, " duplicate of %d", row.DupOf)
		}
		b.WriteString("\n")
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./batch -run TestReaderExports -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test ./batch -run TestReaderExports -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestReaderInline(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	capped := strings.Repeat("x", maxInput) + "…"
	tests := []struct {
		name   string
		in     string
		opts   ReaderOptions
		column string
		want   []Row
	}{
		{"empty", "", ReaderOptions{}, "", nil},
		{"only blank lines", "\n\r\n  \n\t\n", ReaderOptions{}, "", nil},
		{"only a BOM", "\ufeff", ReaderOptions{}, "", nil},
		{"header only", "userPrincipalName,displayName\r\n", ReaderOptions{}, "userPrincipalName", nil},
		{"header only with --column", "userPrincipalName,mail\n", ReaderOptions{Column: "mail"}, "mail", nil},
		{"template header only", "version:v1.0\nUser name [userPrincipalName] Required\n", ReaderOptions{}, "User name [userPrincipalName] Required", nil},
		{"directive only", "version:v1.0\n", ReaderOptions{}, "", nil},
		{
			"blank lines before and between rows",
			"\n\nupn\n\nalice@x.com\n\n\nbob@x.com",
			ReaderOptions{}, "upn",
			[]Row{rowUPN(5, "alice@x.com"), rowUPN(8, "bob@x.com")},
		},
		{
			"quoted fields with delimiters, quotes and line breaks",
			"name,userPrincipalName,notes\n" +
				"\"Doe, John\",\"john@x.com\",\"said \"\"stop\"\"\"\n" +
				"\"multi\nline\",mary@x.com,\"a\nb\nc\"\n" +
				"x, \"  quoted.space@x.com \",y\n" +
				"last,lee@x.com,\n",
			ReaderOptions{}, "userPrincipalName",
			[]Row{rowUPN(2, "john@x.com"), rowUPN(3, "mary@x.com"), rowUPN(7, "quoted.space@x.com"), rowUPN(8, "lee@x.com")},
		},
		{
			"unclosed quote on a data line ends up inside one cell",
			"upn\n\"alice@x.com\nbob@x.com\"\ncarol@x.com\n",
			ReaderOptions{}, "upn",
			[]Row{rowBad(2, "alice@x.com\nbob@x.com", "contains a line break (a quote left open?)"), rowUPN(4, "carol@x.com")},
		},
		{
			"duplicates across forms",
			"id\n{87D349ED-44D7-43E1-9A83-5F2406DEE5BD}\nalice@x.com\n87d349ed-44d7-43e1-9a83-5f2406dee5bd\nAlice@X.com\nbad value\nbad value\nalice@x.com\n",
			ReaderOptions{}, "id",
			[]Row{
				rowOID(2, "{87D349ED-44D7-43E1-9A83-5F2406DEE5BD}", "87d349ed-44d7-43e1-9a83-5f2406dee5bd"),
				rowUPN(3, "alice@x.com"),
				withDup(rowOID(4, "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "87d349ed-44d7-43e1-9a83-5f2406dee5bd"), 2),
				withDup(rowUPN(5, "Alice@X.com"), 3),
				rowBad(6, "bad value", "contains a space"),
				rowBad(7, "bad value", "contains a space"),
				withDup(rowUPN(8, "alice@x.com"), 3),
			},
		},
		{
			"$ and non-$ keys are different users",
			"$a@x.com\na@x.com\n$A@X.COM\n",
			ReaderOptions{}, "",
			[]Row{rowUPN(1, "$a@x.com"), rowUPN(2, "a@x.com"), withDup(rowUPN(3, "$A@X.COM"), 1)},
		},
		{
			"record shorter than the user column",
			"displayName,department,userPrincipalName\nAlice,Sales,alice@x.com\nBob\nCarol,,\n,,\n",
			ReaderOptions{}, "userPrincipalName",
			[]Row{rowUPN(2, "alice@x.com"), rowBad(3, "Bob", "missing the user column"), rowBad(4, "", "empty")},
		},
		{
			"headerless with more than one value on a line",
			"alice@x.com\nbob@x.com, carol@x.com\ndave@x.com,\n,erin@x.com\n",
			ReaderOptions{}, "",
			[]Row{
				rowUPN(1, "alice@x.com"),
				rowBad(2, "bob@x.com,carol@x.com", "more than one value on the line; a list without a header takes one user per line"),
				rowUPN(3, "dave@x.com"),
				rowUPN(4, "erin@x.com"),
			},
		},
		{
			"single unknown header cell is taken as data",
			"Email\nalice@x.com\n",
			ReaderOptions{}, "",
			[]Row{rowBad(1, "Email", "no @"), rowUPN(2, "alice@x.com")},
		},
		{
			"header preference: userPrincipalName over id over upn",
			"upn,id,mail,User_Principal_Name\na@x.com,87d349ed-44d7-43e1-9a83-5f2406dee5bd,m@x.com,b@x.com\n",
			ReaderOptions{}, "User_Principal_Name",
			[]Row{rowUPN(2, "b@x.com")},
		},
		{
			"header preference: object id over user",
			"User,Mail,Object ID\na@x.com,m@x.com,87d349ed-44d7-43e1-9a83-5f2406dee5bd\n",
			ReaderOptions{}, "Object ID",
			[]Row{rowOID(2, "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "87d349ed-44d7-43e1-9a83-5f2406dee5bd")},
		},
		{
			"header with a zero-width space and quotes",
			"\"\u200bUserPrincipalName\",x\na@x.com,1\n",
			ReaderOptions{}, "UserPrincipalName",
			[]Row{rowUPN(2, "a@x.com")},
		},
		{
			"--column exact match wins over loose match",
			"user name,username\na@x.com,b@x.com\n",
			ReaderOptions{Column: "USERNAME"}, "username",
			[]Row{rowUPN(2, "b@x.com")},
		},
		{
			"--column makes the first line a header even with one cell",
			"Accounts\na@x.com\n",
			ReaderOptions{Column: "accounts"}, "Accounts",
			[]Row{rowUPN(2, "a@x.com")},
		},
		{
			"--column may pick mail when the admin asks",
			"userPrincipalName,mail\na@x.com,m@x.com\n",
			ReaderOptions{Column: "mail"}, "mail",
			[]Row{rowUPN(2, "m@x.com")},
		},
		{
			"tab delimited UTF-8",
			"displayName\tuserPrincipalName\nDoe, John\tjohn@x.com\n",
			ReaderOptions{}, "userPrincipalName",
			[]Row{rowUPN(2, "john@x.com")},
		},
		{
			"tab delimited keeps empty fields",
			"a\t\tb\tid\n1\t\t\t87d349ed-44d7-43e1-9a83-5f2406dee5bd\n",
			ReaderOptions{}, "id",
			[]Row{rowOID(2, "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "87d349ed-44d7-43e1-9a83-5f2406dee5bd")},
		},
		{
			"semicolon delimited",
			"Anzeigename;Benutzerprinzipalname;UPN\nMüller, Jörg;x;joerg@x.de\n",
			ReaderOptions{}, "UPN",
			[]Row{rowUPN(2, "joerg@x.de")},
		},
		{
			"sep= directive",
			"sep=;\r\nname;upn\r\nA, B;a@x.com\r\n",
			ReaderOptions{}, "upn",
			[]Row{rowUPN(3, "a@x.com")},
		},
		{
			"sep= tab directive",
			"sep=\t\nname\tupn\nA, B\ta@x.com\n",
			ReaderOptions{}, "upn",
			[]Row{rowUPN(3, "a@x.com")},
		},
		{
			"template directive without padding and with blank lines",
			"\nversion:v1.0\n\nUser name [userPrincipalName] Required\nchris@x.com\n",
			ReaderOptions{}, "User name [userPrincipalName] Required",
			[]Row{rowUPN(5, "chris@x.com")},
		},
		{
			"version text later in the file is data",
			"upn\nversion:v1.0\n",
			ReaderOptions{}, "upn",
			[]Row{rowBad(2, "version:v1.0", `contains ":", which is not allowed in a userPrincipalName`)},
		},
		{
			"1 MB line in the middle of a headerless list",
			"a@x.com\n" + big + "\nb@x.com\n",
			ReaderOptions{}, "",
			[]Row{rowUPN(1, "a@x.com"), rowBad(2, capped, "longer than 1024 characters"), rowUPN(3, "b@x.com")},
		},
		{
			"1 MB first line",
			big + "@x.com\nb@x.com\n",
			ReaderOptions{}, "",
			[]Row{rowBad(1, capped, "longer than 1024 characters"), rowUPN(2, "b@x.com")},
		},
		{
			"1 MB cell in another column",
			"notes,upn\n\"" + big + "\",a@x.com\n",
			ReaderOptions{}, "upn",
			[]Row{rowUPN(2, "a@x.com")},
		},
		{
			"1 MB header cell",
			big + ",upn\nz,a@x.com\n",
			ReaderOptions{}, "upn",
			[]Row{rowUPN(2, "a@x.com")},
		},
		{
			"long input is cut on a character boundary",
			"upn\n" + "a" + strings.Repeat("é", 300) + "\n",
			ReaderOptions{}, "upn",
			[]Row{rowBad(2, "a"+strings.Repeat("é", 127)+"…", `contains "é", which is not allowed in a userPrincipalName`)},
		},
		{
			"Windows-1252 export is read, not refused",
			"Display name,User principal name\nJ\xf6rg M\xfcller,joerg@x.de\nJ\xf6rg,j\xf6rg@x.de\n",
			ReaderOptions{}, "User principal name",
			[]Row{rowUPN(2, "joerg@x.de"), rowBad(3, "j\uFFFDrg@x.de", "not valid UTF-8")},
		},
		{
			"DOS end-of-file mark",
			"a@x.com\r\nb@x.com\r\n\x1a",
			ReaderOptions{}, "",
			[]Row{rowUPN(1, "a@x.com"), rowUPN(2, "b@x.com"), rowBad(3, "\x1a", "contains a control character (U+001A)")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, column, err := readRows(t, []byte(tt.in), tt.opts)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if column != tt.column {
				t.Errorf("Column() = %q, want %q", column, tt.column)
			}
			checkRows(t, rows, tt.want)
		})
	}
}

func TestReaderErrors(t *testing.T) {
	garbage := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	noNUL := bytes.ReplaceAll(garbage, []byte{0}, []byte{1})
	binary := "looks like a binary file, not a CSV or text list of users"
	tests := []struct {
		name    string
		in      []byte
		opts    ReaderOptions
		rows    []Row // read before the error
		wantErr string
	}{
		{
			name:    "no user column",
			in:      []byte("a,b,c\n1,2,3\n"),
			wantErr: "input:1: no user column in the header (found: a, b, c); name one with --column NAME",
		},
		{
			name:    "no user column, first line is data",
			in:      []byte("\nalice@x.com,Alice Smith\n"),
			opts:    ReaderOptions{Name: "-"},
			wantErr: "stdin:2: no user column in the header (found: alice@x.com, Alice Smith); name one with --column NAME; this line looks like data: add a header line naming the columns first, or give the users' column by number: --column 1 for the first",
		},
		{
			name: "mail is not a user column",
			in:   []byte("mail,displayName\nm@x.com,M\n"),
			opts: ReaderOptions{Name: "users.csv"},
			wantErr: "users.csv:1: no user column in the header (found: mail, displayName); name one with --column NAME; " +
				"displayName holds names, which cannot address a user: export the userPrincipalName or object id column too",
		},
		{
			name:    "--column absent",
			in:      inputSample(t, "m365_export.csv"),
			opts:    ReaderOptions{Name: "export.csv", Column: "email"},
			wantErr: `export.csv:1: no column "email" in the header (found: Block credential, City, Country/Region, Department, DirSyncEnabled, Display name, Fax, First name, Last dirsync time, Last name, Last password change time stamp, License reconciliation needed, Licenses, Liveid, MFA state, Mobile Phone, Object Id, Office, Password never expires, Phone number, Postal code, Preferred data location, Preferred language, Proxy addresses, Release track, Soft deletion time stamp, State, Street address, Strong password required, Title, … and 3 more)`,
		},
		{
			name:    "--column absent, long header listing is bounded",
			in:      []byte(strings.Repeat("c,", 40) + strings.Repeat("y", 50) + "\n"),
			opts:    ReaderOptions{Column: "upn"},
			wantErr: `input:1: no column "upn" in the header (found: c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, … and 11 more)`,
		},
		{
			name:    "--column absent, long cell is cut",
			in:      []byte(strings.Repeat("y", 50) + ",z\n"),
			opts:    ReaderOptions{Column: "upn"},
			wantErr: `input:1: no column "upn" in the header (found: ` + strings.Repeat("y", 40) + `…, z)`,
		},
		{
			name:    "unbalanced quote swallowing the rest of the file",
			in:      []byte("upn,note\nalice@x.com,ok\n\"bob@x.com,oops\ncarol@x.com,x\ndave@x.com,y\n"),
			opts:    ReaderOptions{Name: "list.csv"},
			rows:    []Row{rowUPN(2, "alice@x.com")},
			wantErr: `list.csv:3: a quoted field that starts on this line is not closed where expected (the parser got to line 5); add the missing " or write a quote inside a field twice ("")`,
		},
		{
			name:    "stray quote after a closed quoted field",
			in:      []byte("upn,note\n\"alice@x.com\"x,ok\nbob@x.com,y\n"),
			wantErr: `input:2: a stray " in a quoted field (byte 13 of the line); a quoted field must end with " right before the delimiter, and a quote inside it is written twice ("")`,
		},
		{
			name:    "bare quote in an unquoted field",
			in:      []byte("upn\nalice@x.com\nbo\"b@x.com\n"),
			rows:    []Row{rowUPN(2, "alice@x.com")},
			wantErr: `input:3: a " in a field that does not start with a quote (byte 3 of the line); quote the whole field and write the inner quote twice ("")`,
		},
		{
			name:    "bad quote in the header",
			in:      []byte("\"upn\nalice@x.com\n"),
			wantErr: `input:1: a quoted field that starts on this line is not closed where expected (the parser got to line 2); add the missing " or write a quote inside a field twice ("")`,
		},
		{
			name:    "random binary",
			in:      garbage,
			opts:    ReaderOptions{Name: "x.bin"},
			wantErr: "x.bin: " + binary,
		},
		{
			name:    "random binary without NUL bytes",
			in:      noNUL,
			wantErr: "input: " + binary,
		},
		{
			name:    "xlsx",
			in:      append([]byte("PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00"), garbage[:200]...),
			opts:    ReaderOptions{Name: "users.xlsx"},
			wantErr: "users.xlsx: " + binary + " (it is a ZIP archive, such as an .xlsx workbook: save it as CSV)",
		},
		{
			name:    "xls",
			in:      append([]byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"), make([]byte, 100)...),
			wantErr: "input: " + binary + " (it is an old .xls workbook: save it as CSV)",
		},
		{
			name:    "text with a NUL",
			in:      []byte("upn\nalice@x.com\x00\n"),
			wantErr: "input: " + binary,
		},
		{
			name:    "UTF-16 BOM then binary",
			in:      append([]byte("\xFF\xFE"), garbage[:64]...),
			wantErr: "input: " + binary,
		},
		{
			name:    "short control garbage",
			in:      []byte("\x01\x02\x03"),
			wantErr: "input: " + binary,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, _, err := readRows(t, tt.in, tt.opts)
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error = %v\nwant    %s", err, tt.wantErr)
			}
			checkRows(t, rows, tt.rows)
		})
	}
}

func TestReaderIOError(t *testing.T) {
	boom := errors.New("boom")
	// Failing during the sniff: NewReader reports it.
	_, err := NewReader(io.MultiReader(strings.NewReader("upn\n"), iotest.ErrReader(boom)), ReaderOptions{Name: "f"})
	if !errors.Is(err, boom) || err.Error() != "f: boom" {
		t.Fatalf("NewReader error = %v, want f: boom", err)
	}
	// Failing later: Next reports it after the rows it could read.
	data := "upn\n" + strings.Repeat("a@x.com\n", 2*bufLen/8)
	r, err := NewReader(io.MultiReader(strings.NewReader(data), iotest.ErrReader(boom)), ReaderOptions{Name: "f"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, err = r.Next()
		if err != nil {
			break
		}
		n++
	}
	if !errors.Is(err, boom) || err.Error() != "f: boom" {
		t.Fatalf("Next error = %v, want f: boom", err)
	}
	if want := 2 * bufLen / 8; n != want {
		t.Errorf("read %d rows before the error, want %d", n, want)
	}
}

// TestReaderParseErrorUnwraps lets callers tell syntax errors apart without parsing messages.
func TestReaderParseErrorUnwraps(t *testing.T) {
	_, _, err := readRows(t, []byte("upn\n\"a\n"), ReaderOptions{})
	var ie *inputError
	if !errors.As(err, &ie) || errors.Unwrap(err) == nil {
		t.Fatalf("error %v does not unwrap to the parse error", err)
	}
}

// genStream produces a user list element by element, so that a test can feed the reader more
// than it would want to hold, and counts what was read from it. elem appends element n
// (1-based) with whatever precedes it; end closes the list after element limit; limit 0 never
// ends.
type genStream struct {
	n, read, limit int
	elem           func(buf []byte, n int) []byte
	end            string
	buf            []byte
}

func (s *genStream) Read(p []byte) (int, error) {
	for len(s.buf) < len(p) && (s.limit == 0 || s.n < s.limit) {
		s.n++
		s.buf = s.elem(s.buf, s.n)
		if s.n == s.limit {
			s.buf = append(s.buf, s.end...)
		}
	}
	if len(s.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	s.read += n
	return n, nil
}

// userStream is an endless Entra-style export.
func userStream() *genStream {
	return &genStream{elem: func(buf []byte, n int) []byte {
		if n == 1 {
			buf = append(buf, "userPrincipalName,displayName,id\n"...)
		}
		return fmt.Appendf(buf, "user%d@contoso.com,User %d,%08x-0000-4000-8000-000000000000\n", n, n, n)
	}}
}

// checkStreams reads rows rows from src and fails unless the last is want and the reader took
// at most two buffers beyond those rows: a reader that slurps its input never returns from an
// endless one, and one that reads far ahead holds more than a million-user list allows.
func checkStreams(t *testing.T, src *genStream, rows int, want Row) {
	t.Helper()
	r, err := NewReader(src, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var last Row
	for range rows {
		if last, err = r.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if last != want {
		t.Errorf("last row = %+v, want %+v", last, want)
	}
	upTo, _ := io.ReadAll(&genStream{limit: rows, elem: src.elem})
	if limit := len(upTo) + 2*bufLen; src.read > limit {
		t.Errorf("read %d bytes for %d rows, want at most %d", src.read, rows, limit)
	}
}

// readUPNs reads a generated list to its end, calling each (if any) with the count so far, and
// fails on an error or on a row that is not a distinct UPN: the generators write nothing else.
func readUPNs(tb testing.TB, src io.Reader, opts ReaderOptions, each func(n int)) int {
	tb.Helper()
	r, err := NewReader(src, opts)
	if err != nil {
		tb.Fatal(err)
	}
	for n := 0; ; {
		row, err := r.Next()
		if err == io.EOF {
			return n
		}
		if err != nil || row.Kind != KindUPN || row.DupOf != 0 {
			tb.Fatal(err, row)
		}
		if n++; each != nil {
			each(n)
		}
	}
}

// TestReaderStreams proves the reader does not slurp its input: after many rows it has read
// only a buffer's worth beyond them.
func TestReaderStreams(t *testing.T) {
	const rows = 50000
	checkStreams(t, userStream(), rows, rowUPN(rows+1, fmt.Sprintf("user%d@contoso.com", rows)))
}

func BenchmarkReader(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("userPrincipalName,displayName,surname,mail,givenName,id,userType,jobTitle,department,accountEnabled\n")
	for i := range 100000 {
		fmt.Fprintf(&buf, "user%d@contoso.onmicrosoft.com,\"User %d, Test\",Test,user%d@contoso.com,User,%08x-44d7-43e1-9a83-5f2406dee5bd,Member,Engineer,R&D,True\n", i, i, i, i)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if n := readUPNs(b, bytes.NewReader(data), ReaderOptions{}, nil); n != 100000 {
			b.Fatalf("read %d rows", n)
		}
	}
}

// readerCase is one input and what the Reader must make of it: the rows and chosen columns,
// and the fatal error from NewReader or Next that ends them, if any.
type readerCase struct {
	name         string
	in           []byte
	opts         ReaderOptions
	column       string
	tenantColumn string
	want         []Row
	wantErr      string
}

func runReaderCases(t *testing.T, tests []readerCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr := func(err error) {
				t.Helper()
				if got := fmt.Sprint(err); err != nil && got != tt.wantErr || err == nil && tt.wantErr != "" {
					t.Fatalf("error = %v\nwant    %s", err, tt.wantErr)
				}
			}
			r, err := NewReader(bytes.NewReader(tt.in), tt.opts)
			if err != nil {
				checkErr(err)
				return
			}
			if r.Column() != tt.column || r.TenantColumn() != tt.tenantColumn {
				t.Errorf("columns %q and %q, want %q and %q", r.Column(), r.TenantColumn(), tt.column, tt.tenantColumn)
			}
			var rows []Row
			for {
				row, err := r.Next()
				if err == io.EOF {
					err = nil
				}
				if err != nil || row == (Row{}) {
					checkErr(err)
					break
				}
				rows = append(rows, row)
			}
			checkRows(t, rows, tt.want)
		})
	}
}

const (
	psType   = "#TYPE Selected.Microsoft.Graph.PowerShell.Models.MicrosoftGraphUser\r\n"
	psHeader = "\"Id\",\"UserPrincipalName\",\"DisplayName\"\r\n"
	psRow    = "\"87d349ed-44d7-43e1-9a83-5f2406dee5bd\",\"AdeleV@contoso.com\",\"Adele Vance\"\r\n"
)

// TestReaderPreamble: what may come before the header, in the encodings PowerShell and Excel
// write. A "#" line before the header is a comment unless it is a user or names a user column.
func TestReaderPreamble(t *testing.T) {
	adele := rowUPN(3, "AdeleV@contoso.com")
	runReaderCases(t, []readerCase{
		{name: "Windows PowerShell 5.1 Export-Csv: #TYPE, quoted header", in: []byte(psType + psHeader + psRow),
			column: "UserPrincipalName", want: []Row{adele}},
		{name: "Export-Csv -Encoding UTF8: BOM, #TYPE", in: []byte("\ufeff" + psType + psHeader + psRow),
			column: "UserPrincipalName", want: []Row{adele}},
		{name: "Export-Csv -Encoding Unicode: UTF-16LE BOM, #TYPE", in: utf16Bytes(psType+psHeader+psRow, false, true),
			column: "UserPrincipalName", want: []Row{adele}},
		{name: "Export-Csv -Encoding BigEndianUnicode: UTF-16BE BOM, #TYPE", in: utf16Bytes(psType+psHeader+psRow, true, true),
			column: "UserPrincipalName", want: []Row{adele}},
		{name: "PowerShell 7 Export-Csv: quoted header, no #TYPE", in: []byte(psHeader + psRow),
			column: "UserPrincipalName", want: []Row{rowUPN(2, "AdeleV@contoso.com")}},
		{name: "PowerShell 7 -Encoding utf8BOM", in: []byte("\ufeff" + psHeader + psRow),
			column: "UserPrincipalName", want: []Row{rowUPN(2, "AdeleV@contoso.com")}},
		{name: "Excel CSV UTF-8 save of a PowerShell export: BOM, #TYPE padded", in: []byte("\ufeff#TYPE Selected.Microsoft.Graph.PowerShell.Models.MicrosoftGraphUser,,\r\nId,UserPrincipalName,DisplayName\r\n87d349ed-44d7-43e1-9a83-5f2406dee5bd,AdeleV@contoso.com,Adele Vance\r\n"),
			column: "UserPrincipalName", want: []Row{adele}},
		{name: "two BOMs, as when a BOM-ed file is appended to another", in: []byte("\ufeff\ufeff" + psType + psHeader + psRow),
			column: "UserPrincipalName", want: []Row{adele}},
		{name: "BOM, blank lines and comments with quotes and delimiters",
			in:     []byte("\ufeff\r\n# exported by \"jdoe\", INC-42; do not edit\r\n#\r\n  # \"unbalanced\r\n\r\nupn\r\na@x.com\r\n"),
			column: "upn", want: []Row{rowUPN(7, "a@x.com")}},
		{name: "comment quoted by a spreadsheet", in: []byte("\"# note, from Excel\",,\nupn,x\na@x.com,1\n"),
			column: "upn", want: []Row{rowUPN(3, "a@x.com")}},
		{name: "comment longer than the sniffed head", in: []byte("#" + strings.Repeat("x", 3*bufLen) + "\nupn\na@x.com\n"),
			column: "upn", want: []Row{rowUPN(3, "a@x.com")}},
		{name: "comment, then sep= directive", in: []byte("# from Excel\nsep=;\nname;upn\nA, B;a@x.com\n"),
			column: "upn", want: []Row{rowUPN(4, "a@x.com")}},
		{name: "comments above a list without a header", in: []byte("# compromised, per INC-42\nalice@x.com\nbob@x.com\n"),
			want: []Row{rowUPN(2, "alice@x.com"), rowUPN(3, "bob@x.com")}},
		{name: "a first user starting with # is a user, not a comment", in: []byte("#ops@x.com\nb@x.com\n#dev@x.com\n"),
			want: []Row{rowUPN(1, "#ops@x.com"), rowUPN(2, "b@x.com"), rowUPN(3, "#dev@x.com")}},
		{name: "a first user starting with #, padded by a spreadsheet", in: []byte("#ops@x.com,,\r\nb@x.com,,\r\n"),
			want: []Row{rowUPN(1, "#ops@x.com"), rowUPN(2, "b@x.com")}},
		{name: "a first user starting with #, quoted", in: []byte("\"#ops@x.com\"\n"),
			want: []Row{rowUPN(1, "#ops@x.com")}},
		{name: "a row-number column titled #", in: []byte("#,UserPrincipalName,Display name\n1,a@x.com,A\n"),
			column: "UserPrincipalName", want: []Row{rowUPN(2, "a@x.com")}},
		{name: "a row-number column titled #, with --column", in: []byte("#;Konto\n1;a@x.com\n"), opts: ReaderOptions{Column: "konto"},
			column: "Konto", want: []Row{rowUPN(2, "a@x.com")}},
		{name: "after the header a # line is data", in: []byte("upn\n# not a comment here\n#x@y.com\n"),
			column: "upn", want: []Row{rowBad(2, "# not a comment here", "contains a space"), rowUPN(3, "#x@y.com")}},
		{name: "after the first user a # line is data", in: []byte("a@x.com\n#note\n"),
			want: []Row{rowUPN(1, "a@x.com"), rowBad(2, "#note", "no @")}},
		{name: "only comments", in: []byte(psType + "# nothing else\n")},
		{name: "syntax error after comments names the right line", in: []byte(psType + psHeader + psRow + "\"a@x.com\r\nb@x.com\r\n"),
			column: "UserPrincipalName", want: []Row{adele},
			wantErr: `input:4: a quoted field that starts on this line is not closed where expected (the parser got to line 5); add the missing " or write a quote inside a field twice ("")`},
	})
}

// TestReaderNotAList: a CSV whose header was not recognised must not be read as a list
// without a header, one invalid row per line; a hand-made list must still be read.
func TestReaderNotAList(t *testing.T) {
	runReaderCases(t, []readerCase{
		{name: "title line above a CSV", in: []byte("Sign-ins 2026-11-28\nDate (UTC),Request ID,User\n2026-11-28T08:14:03Z,0d1a,Adele\n"),
			opts:    ReaderOptions{Name: "signins.csv"},
			wantErr: "signins.csv:1: no user column in the header (found: Sign-ins 2026-11-28); name one with --column NAME; yet line 2 has several columns (Date (UTC), Request ID, User): if that is the header, delete the lines above it"},
		{name: "unknown one-word header over a semicolon CSV", in: []byte("Konto\na@x.com;Alice\nb@x.com;Bob\n"),
			wantErr: "input:1: no user column in the header (found: Konto); name one with --column NAME; yet line 2 has several columns (a@x.com, Alice): if that is the header, delete the lines above it"},
		{name: "unknown header padded by a spreadsheet", in: []byte("Email,,\na@x.com,,\n"),
			wantErr: "input:1: no user column in the header (found: Email); name one with --column NAME"},
		{name: "quoted unknown one-column header (Select-Object Mail | Export-Csv)", in: []byte("\"Mail\"\r\n\"a@x.com\"\r\n"),
			wantErr: "input:1: no user column in the header (found: Mail); name one with --column NAME"},
		{name: "quoted unknown header after #TYPE", in: []byte(psType + "\"Mail\",\"DisplayName\"\r\n\"a@x.com\",\"A\"\r\n"),
			wantErr: "input:2: no user column in the header (found: Mail, DisplayName); name one with --column NAME; DisplayName holds names, which cannot address a user: export the userPrincipalName or object id column too"},
		{name: "Defender export without a UPN or id column", in: []byte("Timestamp,AccountName,AccountDisplayName,DeviceName\n2026-11-28,adelev,Adele Vance,ws1\n"),
			wantErr: "input:1: no user column in the header (found: Timestamp, AccountName, AccountDisplayName, DeviceName); name one with --column NAME; AccountName, AccountDisplayName hold names, which cannot address a user: export the userPrincipalName or object id column too"},
		{name: "PowerShell Format-Table of two properties", in: []byte("\r\nId                                   UserPrincipalName\r\n--                                   -----------------\r\n87d349ed-44d7-43e1-9a83-5f2406dee5bd AdeleV@contoso.com\r\n"),
			wantErr: "input:2: this is PowerShell's table output (Format-Table, or Out-File of objects), not a list of users; save the users with Export-Csv, or one per line with Select-Object -ExpandProperty UserPrincipalName | Out-File"},
		{name: "PowerShell Format-Table of one property: the dashes are skipped", in: []byte("\r\nUserPrincipalName \r\n----------------- \r\nAdeleV@contoso.com\r\n-----\r\n"),
			column: "UserPrincipalName", want: []Row{rowUPN(4, "AdeleV@contoso.com"), rowBad(5, "-----", "no @")}},
		{name: "a bad first value and one stray comma stay a list", in: []byte("alice\nbob@x.com\ncarol@x.com, dave@x.com\nerin@x.com\n"),
			want: []Row{
				rowBad(1, "alice", "no @"),
				rowUPN(2, "bob@x.com"),
				rowBad(3, "carol@x.com,dave@x.com", "more than one value on the line; a list without a header takes one user per line"),
				rowUPN(4, "erin@x.com"),
			}},
		{name: "a bad first value over mostly several values is refused", in: []byte("alice\nbob@x.com,carol@x.com\nerin@x.com,x\n"),
			wantErr: "input:1: no user column in the header (found: alice); name one with --column NAME; yet line 2 has several columns (bob@x.com, carol@x.com): if that is the header, delete the lines above it"},
		{name: "a first user and then CSV lines stay a list", in: []byte("alice@x.com\n\"bob@x.com\",\"Bob\"\n"),
			want: []Row{rowUPN(1, "alice@x.com"), rowBad(2, "bob@x.com,Bob", "more than one value on the line; a list without a header takes one user per line")}},
	})
}

// TestReaderColumnPreference: the user column chosen among the names of the exports
// responders hold (see userColumns); an object id or UPN column always beats a name column.
func TestReaderColumnPreference(t *testing.T) {
	tests := []struct{ header, column, tenant string }{
		{"Timestamp,AccountObjectId,AccountUpn,AccountName,DeviceName,ActionType", "AccountUpn", ""},
		{"AccountName,AccountDisplayName,AccountObjectId", "AccountObjectId", ""},
		{"accountupn,AccountUPN", "accountupn", ""},
		{"Date (UTC),Request ID,User agent,Correlation ID,User,Username,User ID,User type", "User ID", ""},
		{"User,Username", "Username", ""},
		{"User,Display name", "User", ""},
		{"InitiatingProcessAccountName,InitiatingProcessAccountObjectId,InitiatingProcessAccountUpn", "InitiatingProcessAccountUpn", ""},
		{"InitiatingProcessAccountUpn,AccountObjectId", "AccountObjectId", ""},
		{"InitiatingProcessAccountObjectId,User", "InitiatingProcessAccountObjectId", ""},
		{"AADUserId,UserPrincipalName", "UserPrincipalName", ""},
		{"aad_user_id,mail", "aad_user_id", ""},
		{"Object ID,User ID", "Object ID", ""},
		{"TimeGenerated [UTC],UserPrincipalName,UserDisplayName,UserId,AADTenantId,TenantId", "UserPrincipalName", "AADTenantId"},
		{"TenantId,Id", "Id", "TenantId"},
		{"Tenant ID,User", "User", "Tenant ID"},
		{"tenant_id,upn", "upn", "tenant_id"},
		{"Tenant,UPN", "UPN", "Tenant"},
		{"TENANT-ID,upn,tenant", "upn", "TENANT-ID"},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tt.header+"\n"), ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Column() != tt.column || r.TenantColumn() != tt.tenant {
				t.Errorf("columns %q and %q, want %q and %q", r.Column(), r.TenantColumn(), tt.column, tt.tenant)
			}
		})
	}
}

func TestReaderTenant(t *testing.T) {
	const tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	a := func(line int, tenant string) Row { return withTenant(rowUPN(line, "a@x.com"), tenant) }
	runReaderCases(t, []readerCase{
		{name: "tenant by id or domain, in any case",
			in:     []byte("tenantId,upn\n" + strings.ToUpper(tid) + ",a@x.com\n{" + tid + "},a@x.com\nContoso.OnMicrosoft.com,a@x.com\n contoso.onmicrosoft.com ,A@X.COM\n"),
			column: "upn", tenantColumn: "tenantId",
			want: []Row{a(2, tid), withDup(a(3, tid), 2), a(4, "contoso.onmicrosoft.com"), withDup(withTenant(rowUPN(5, "A@X.COM"), "contoso.onmicrosoft.com"), 4)}},
		{name: "one user in two tenants is two users", in: []byte("upn,AADTenantId\na@x.com,contoso.com\na@x.com,fabrikam.com\na@x.com,contoso.com\n"),
			column: "upn", tenantColumn: "AADTenantId",
			want: []Row{a(2, "contoso.com"), a(3, "fabrikam.com"), withDup(a(4, "contoso.com"), 2)}},
		{name: "a bad or missing tenant makes the row invalid", in: []byte("upn,tenant\na@x.com,\nb@x.com,contoso\nc@x.com,con toso.com\nd@x.com\nbad value,x.com\nbad value,bad\n"),
			column: "upn", tenantColumn: "tenant",
			want: []Row{
				rowBad(2, "a@x.com", "tenant is empty"),
				rowBad(3, "b@x.com", "tenant has no dot: give the tenant id (a GUID) or a domain name such as contoso.onmicrosoft.com"),
				rowBad(4, "c@x.com", "tenant contains a space"),
				rowBad(5, "d@x.com", "missing the tenant column"),
				withTenant(rowBad(6, "bad value", "contains a space"), "x.com"),
				rowBad(7, "bad value", "contains a space"),
			}},
		{name: "AADTenantId wins over Log Analytics' TenantId, the workspace id", in: []byte("TenantId,UserPrincipalName,AADTenantId\n6d9c2f1e-0b3a-4c5d-9e8f-7a6b5c4d3e2f,a@x.com," + tid + "\n"),
			column: "UserPrincipalName", tenantColumn: "AADTenantId", want: []Row{a(2, tid)}},
		{name: "--tenant-column", in: []byte("upn,home\na@x.com,contoso.com\n"), opts: ReaderOptions{TenantColumn: "HOME"},
			column: "upn", tenantColumn: "home", want: []Row{a(2, "contoso.com")}},
		{name: "--tenant-column over a column named tenant", in: []byte("tenant,upn,home\nfabrikam.com,a@x.com,contoso.com\n"), opts: ReaderOptions{TenantColumn: "home"},
			column: "upn", tenantColumn: "home", want: []Row{a(2, "contoso.com")}},
		{name: "--tenant-column never becomes the user column", in: []byte("id,upn\n" + tid + ",a@x.com\n"), opts: ReaderOptions{TenantColumn: "id"},
			column: "upn", tenantColumn: "id", want: []Row{a(2, tid)}},
		{name: "--column naming a tenant-like column leaves no tenant column", in: []byte("TenantId,upn\n" + tid + ",a@x.com\n"), opts: ReaderOptions{Column: "TenantId"},
			column: "TenantId", want: []Row{rowOID(2, tid, tid)}},
		{name: "--tenant-column absent", in: []byte("upn,tenant\n"), opts: ReaderOptions{Name: "x.csv", TenantColumn: "customer"},
			wantErr: `x.csv:1: no tenant column "customer" in the header (found: upn, tenant)`},
		{name: "--tenant-column makes the first line a header", in: []byte("a@x.com\n"), opts: ReaderOptions{TenantColumn: "tenant"},
			wantErr: `input:1: no tenant column "tenant" in the header (found: a@x.com)`},
		{name: "--column and --tenant-column on one column", in: []byte("upn,tenant\n"), opts: ReaderOptions{Column: "tenant", TenantColumn: "Tenant"},
			wantErr: `input:1: --column and --tenant-column both name the column "tenant"; the users and their tenants must be in two columns`},
		{name: "a tenant column alone is no user column", in: []byte("tenant,name\ncontoso.com,Adele\n"),
			wantErr: "input:1: no user column in the header (found: tenant, name); name one with --column NAME; name holds names, which cannot address a user: export the userPrincipalName or object id column too"},
	})
}

// TestReaderColumnNumber: --column N (1-based) picks a column of a list without a header, such
// as "az ad user list --query [].[id,userPrincipalName] -o tsv"; a header cell of that name
// still wins, and a first line naming known columns stays the header.
func TestReaderColumnNumber(t *testing.T) {
	const id1, id2 = "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "b2c6f7d1-3a4e-4f5b-8c9d-0e1f2a3b4c5d"
	tsv := []byte(id1 + "\tadele@contoso.com\n" + id2 + "\talex@contoso.com\n\n" + id1 + "\n")
	runReaderCases(t, []readerCase{
		{name: "az -o tsv, --column 2", in: tsv, opts: ReaderOptions{Column: "2"},
			want: []Row{rowUPN(1, "adele@contoso.com"), rowUPN(2, "alex@contoso.com"), rowBad(4, id1, "missing the user column")}},
		{name: "az -o tsv, --column 1", in: tsv, opts: ReaderOptions{Column: " 1 "},
			want: []Row{rowOID(1, id1, id1), rowOID(2, id2, id2), withDup(rowOID(4, id1, id1), 1)}},
		{name: "a one-column list, --column 1", in: []byte("adele@contoso.com\nnot a user\n"), opts: ReaderOptions{Column: "1"},
			want: []Row{rowUPN(1, "adele@contoso.com"), rowBad(2, "not a user", "contains a space")}},
		{name: "a semicolon list whose first value is bad stays data", in: []byte("Adele Vance;adele@contoso.com\nAlex;alex@contoso.com\n"), opts: ReaderOptions{Column: "2"},
			want: []Row{rowUPN(1, "adele@contoso.com"), rowUPN(2, "alex@contoso.com")}},
		{name: "a header cell named 1 wins", in: []byte("0,1\nx,adele@contoso.com\n"), opts: ReaderOptions{Column: "1"},
			column: "1", want: []Row{rowUPN(2, "adele@contoso.com")}},
		{name: "a header naming known columns stays the header", in: []byte("id,userPrincipalName\n" + id1 + ",adele@contoso.com\n"), opts: ReaderOptions{Column: "2"},
			column: "userPrincipalName", want: []Row{rowUPN(2, "adele@contoso.com")}},
		{name: "--column NAME and --tenant-column N in a header", in: []byte("upn,home\nadele@contoso.com,contoso.com\n"), opts: ReaderOptions{Column: "upn", TenantColumn: "2"},
			column: "upn", tenantColumn: "home", want: []Row{withTenant(rowUPN(2, "adele@contoso.com"), "contoso.com")}},
		{name: "--column N and --tenant-column N without a header", in: []byte("contoso.com,adele@contoso.com\nfabrikam.com,adele@contoso.com\n"), opts: ReaderOptions{Column: "2", TenantColumn: "1"},
			want: []Row{withTenant(rowUPN(1, "adele@contoso.com"), "contoso.com"), withTenant(rowUPN(2, "adele@contoso.com"), "fabrikam.com")}},
		{name: "a column beyond the first line", in: tsv, opts: ReaderOptions{Name: "u.tsv", Column: "3"},
			wantErr: "u.tsv:1: --column 3, but the first line has 2 columns (found: " + id1 + ", adele@contoso.com)"},
		{name: "a tenant column beyond the first line", in: tsv, opts: ReaderOptions{Column: "2", TenantColumn: "5"},
			wantErr: "input:1: --tenant-column 5, but the first line has 2 columns (found: " + id1 + ", adele@contoso.com)"},
		{name: "both on one column", in: tsv, opts: ReaderOptions{Column: "2", TenantColumn: "2"},
			wantErr: "input:1: --column and --tenant-column both name column 2; the users and their tenants must be in two columns"},
		{name: "--tenant-column N alone", in: tsv, opts: ReaderOptions{TenantColumn: "1"},
			wantErr: "input:1: --tenant-column 1 picks a column by number and the first line names no user column; give the users' column too: --column NAME of a header, or --column N in a list without one"},
		{name: "0 is a name", in: tsv, opts: ReaderOptions{Column: "0"},
			wantErr: `input:1: no column "0" in the header (found: ` + id1 + `, adele@contoso.com)`},
		{name: "-1 is a name", in: tsv, opts: ReaderOptions{Column: "-1"},
			wantErr: `input:1: no column "-1" in the header (found: ` + id1 + `, adele@contoso.com)`},
		{name: "a number beyond a header is no column", in: []byte("upn,x\na@b.co,1\n"), opts: ReaderOptions{Column: "3"},
			wantErr: `input:1: no column "3" in the header (found: upn, x)`},
	})
}
