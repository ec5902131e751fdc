package batch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/microsoft/kiota-abstractions-go/authentication"
	nethttp "github.com/microsoft/kiota-http-go"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

func TestClassify(t *testing.T) {
	long := strings.Repeat("a", maxKeyLen-len("@x.com")) + "@x.com"
	tests := []struct {
		in     string
		kind   Kind
		key    string
		reason string
	}{
		// UPNs: every legal character class, case preserved.
		{"alice@contoso.com", KindUPN, "alice@contoso.com", ""},
		{"John.Doe@Contoso.COM", KindUPN, "John.Doe@Contoso.COM", ""},
		{"a1-b_c.d!e#f^g~h'i@sub.contoso.co.uk", KindUPN, "a1-b_c.d!e#f^g~h'i@sub.contoso.co.uk", ""},
		{"o'brien@contoso.com", KindUPN, "o'brien@contoso.com", ""},
		{"'quoted'@contoso.com", KindUPN, "'quoted'@contoso.com", ""},
		{"john.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com", KindUPN, "john.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com", ""},
		{"$adele@contoso.com", KindUPN, "$adele@contoso.com", ""},
		{"$o'brien#x@contoso.com", KindUPN, "$o'brien#x@contoso.com", ""},
		{"x@a-b.c-d.com", KindUPN, "x@a-b.c-d.com", ""},
		{long, KindUPN, long, ""},

		// Trimming of what spreadsheets and copy-paste leave around a value.
		{"  alice@contoso.com\t", KindUPN, "alice@contoso.com", ""},
		{"\u00a0alice@contoso.com\u00a0", KindUPN, "alice@contoso.com", ""},
		{"\u200balice@contoso.com\u200b\u200d", KindUPN, "alice@contoso.com", ""},
		{"\ufeffalice@contoso.com\r\n", KindUPN, "alice@contoso.com", ""},
		{"\u202falice@contoso.com\u3000", KindUPN, "alice@contoso.com", ""},

		// Object ids.
		{"87d349ed-44d7-43e1-9a83-5f2406dee5bd", KindObjectID, "87d349ed-44d7-43e1-9a83-5f2406dee5bd", ""},
		{"87D349ED-44D7-43E1-9A83-5F2406DEE5BD", KindObjectID, "87d349ed-44d7-43e1-9a83-5f2406dee5bd", ""},
		{"{87D349ED-44D7-43E1-9A83-5F2406DEE5BD}", KindObjectID, "87d349ed-44d7-43e1-9a83-5f2406dee5bd", ""},
		{" {87d349ed-44d7-43e1-9a83-5f2406dee5bd} ", KindObjectID, "87d349ed-44d7-43e1-9a83-5f2406dee5bd", ""},
		{"00000000-0000-0000-0000-000000000000", KindObjectID, "00000000-0000-0000-0000-000000000000", ""},
		{"87d349ed44d743e19a835f2406dee5bd", KindInvalid, "", "no @"},
		{"87d349ed-44d7-43e1-9a83-5f2406dee5b", KindInvalid, "", "no @"},
		{"87d349ed-44d7-43e1-9a83-5f2406dee5bg", KindInvalid, "", "no @"},
		{"87d349ed-44d7-43e1-9a835-f2406dee5bd", KindInvalid, "", "no @"},
		{"{87d349ed-44d7-43e1-9a83-5f2406dee5bd", KindInvalid, "", `contains "{", which is not allowed in a userPrincipalName`},
		{"(87d349ed-44d7-43e1-9a83-5f2406dee5bd)", KindInvalid, "", `contains "(", which is not allowed in a userPrincipalName`},

		// Empty and oversized.
		{"", KindInvalid, "", "empty"},
		{" \t\u00a0\u200b ", KindInvalid, "", "empty"},
		{"a\xffb@contoso.com", KindInvalid, "", "not valid UTF-8"},
		{"a" + long, KindInvalid, "", "longer than 1024 characters"},
		{strings.Repeat("é", maxKeyLen+1), KindInvalid, "", "longer than 1024 characters"},

		// Illegal characters.
		{"alice smith@contoso.com", KindInvalid, "", "contains a space"},
		{"alice+test@contoso.com", KindInvalid, "", `contains "+", which is not allowed in a userPrincipalName`},
		{"alice\u00a0smith@contoso.com", KindInvalid, "", "contains white space (U+00A0)"},
		{"alice\tsmith@contoso.com", KindInvalid, "", "contains white space (U+0009)"},
		{"alice\u200bsmith@contoso.com", KindInvalid, "", "contains an invisible character (U+200B)"},
		{"alice\x01@contoso.com", KindInvalid, "", "contains a control character (U+0001)"},
		{"alice\x00@contoso.com", KindInvalid, "", "contains a control character (U+0000)"},
		{"alice@contoso.com\nbob@contoso.com", KindInvalid, "", "contains a line break (a quote left open?)"},
		{"jösé@contoso.com", KindInvalid, "", `contains "ö", which is not allowed in a userPrincipalName`},
		{"alice@contosö.com", KindInvalid, "", `contains "ö", which is not allowed in a userPrincipalName`},
		{"a\uFFFDb@contoso.com", KindInvalid, "", "contains U+FFFD, the replacement for an unreadable character (wrong file encoding?)"},
		{"a\U000F0000b@contoso.com", KindInvalid, "", "contains the unprintable character U+F0000"},
		{`"alice@contoso.com"`, KindInvalid, "", `contains "\"", which is not allowed in a userPrincipalName`},
		{"<alice@contoso.com>", KindInvalid, "", `contains "<", which is not allowed in a userPrincipalName`},
		{"$$adele@contoso.com", KindInvalid, "", `contains "$", which a userPrincipalName may only have as its first character`},
		{"ad$ele@contoso.com", KindInvalid, "", `contains "$", which a userPrincipalName may only have as its first character`},

		// Structure.
		{"alice", KindInvalid, "", "no @"},
		{"$adele", KindInvalid, "", "no @"},
		{"alice@bob@contoso.com", KindInvalid, "", "more than one @"},
		{"@contoso.com", KindInvalid, "", "nothing before the @"},
		{"$@contoso.com", KindInvalid, "", "nothing before the @"},
		{"alice@", KindInvalid, "", "nothing after the @"},
		{"alice@.contoso.com", KindInvalid, "", "the domain after the @ starts with a dot"},
		{"alice@contoso.com.", KindInvalid, "", "the domain after the @ ends with a dot"},
		{"alice@contoso..com", KindInvalid, "", "the domain after the @ has two dots in a row"},
		{"alice@localhost", KindInvalid, "", "the domain after the @ has no dot"},
	}
	for _, tt := range tests {
		kind, key, reason := Classify(tt.in)
		if kind != tt.kind || key != tt.key || reason != tt.reason {
			t.Errorf("Classify(%.60q) = %v, %.60q, %q; want %v, %.60q, %q", tt.in, kind, key, reason, tt.kind, tt.key, tt.reason)
		}
	}
}

// TestClassifyEveryASCIIChar puts each printable ASCII character into an otherwise valid UPN:
// exactly the documented set is accepted.
func TestClassifyEveryASCIIChar(t *testing.T) {
	legal := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'.-_!#^~"
	for c := byte(0x21); c < 0x7F; c++ {
		in := "a" + string(c) + "b@contoso.com"
		kind, key, reason := Classify(in)
		var want string
		switch {
		case strings.IndexByte(legal, c) >= 0:
			want = ""
		case c == '@':
			want = "more than one @"
		case c == '$':
			want = `contains "$", which a userPrincipalName may only have as its first character`
		default:
			want = fmt.Sprintf("contains %q, which is not allowed in a userPrincipalName", string(c))
		}
		if reason != want {
			t.Errorf("Classify(%q) reason = %q, want %q", in, reason, want)
		}
		if (want == "") != (kind == KindUPN && key == in) {
			t.Errorf("Classify(%q) = %v, %q; want valid=%v", in, kind, key, want == "")
		}
	}
}

// mapsTo fails for each pair whose in f does not turn into its want.
func mapsTo(t *testing.T, name string, f func(string) string, pairs [][2]string) {
	t.Helper()
	for _, p := range pairs {
		if got := f(p[0]); got != p[1] {
			t.Errorf("%s(%q) = %q, want %q", name, p[0], got, p[1])
		}
	}
}

func TestEscapeKey(t *testing.T) {
	mapsTo(t, "EscapeKey", EscapeKey, [][2]string{
		{"alice@contoso.com", "alice%40contoso.com"},
		{"AZaz09-._~", "AZaz09-._~"},
		{"john.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com", "john.doe_fabrikam.com%23EXT%23%40contoso.onmicrosoft.com"},
		{"a+b", "a%2Bb"},
		{"100%", "100%25"},
		{"o'brien", "o%27brien"},
		{"$adele", "%24adele"},
		{"a!b^c", "a%21b%5Ec"},
		{"a b", "a%20b"},
		{"a/b?c", "a%2Fb%3Fc"},
		{"é", "%C3%A9"},
		{"\x00\xff", "%00%FF"},
		{"", ""},
	})
}

func TestUserPath(t *testing.T) {
	mapsTo(t, "UserPath", UserPath, [][2]string{
		{"alice@contoso.com", "/users/alice%40contoso.com"},
		{"87d349ed-44d7-43e1-9a83-5f2406dee5bd", "/users/87d349ed-44d7-43e1-9a83-5f2406dee5bd"},
		{"o'brien@contoso.com", "/users/o%27brien%40contoso.com"}, // not doubled in the plain form
		{"john_f.com#EXT#@contoso.onmicrosoft.com", "/users/john_f.com%23EXT%23%40contoso.onmicrosoft.com"},
		{"$adele@contoso.com", "/users('$adele@contoso.com')"},
		{"$o'brien@contoso.com", "/users('$o''brien@contoso.com')"},
		{"$a''b@contoso.com", "/users('$a''''b@contoso.com')"},
		{"$guest#EXT#@contoso.com", "/users('$guest%23EXT%23@contoso.com')"},
		{"$x!^~@contoso.com", "/users('$x%21%5E~@contoso.com')"},
	})
}

const sdkBase = "https://graph.example.test/v1.0"

var sdkAdapter = sync.OnceValues(func() (*nethttp.NetHttpRequestAdapter, error) {
	return nethttp.NewNetHttpRequestAdapter(&authentication.AnonymousAuthenticationProvider{})
})

// sdkRevokePath is the escaped path msgraph-sdk-go puts on the wire for a revoke of key.
func sdkRevokePath(t testing.TB, key string) string {
	t.Helper()
	adapter, err := sdkAdapter()
	if err != nil {
		t.Fatal(err)
	}
	ri, err := users.NewUsersRequestBuilderInternal(map[string]string{"baseurl": sdkBase}, adapter).
		ByUserId(key).RevokeSignInSessions().ToPostRequestInformation(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := ri.GetUri()
	if err != nil {
		t.Fatalf("GetUri for %q: %v", key, err)
	}
	return u.EscapedPath()
}

// TestEscapeKeyMatchesSDK holds EscapeKey to what ByUserId sends, so hand-built $batch step
// URLs address the same user as the SDK would.
func TestEscapeKeyMatchesSDK(t *testing.T) {
	keys := []string{
		"alice@contoso.com",
		"87d349ed-44d7-43e1-9a83-5f2406dee5bd",
		"john.doe_fabrikam.com#EXT#@contoso.onmicrosoft.com",
		"o'brien@contoso.com",
		"a!b#c^d~e_f-g.h@contoso.com",
		"$adele@contoso.com",
		"a+b%c&d=e;f,g/h?i:j@k[l]m(n)o*p\"q<r>s`t{u}v|w\\x y@z.com",
		"%41%zz%",
		"jösé@contoso.com",
		"日本@例え.jp",
		"\x01\x7f",
		"emoji😀@x.com",
	}
	for c := 0; c < 0x80; c++ {
		keys = append(keys, "k"+string(rune(c))+"k")
	}
	for _, k := range keys {
		want := sdkRevokePath(t, k)
		got := "/v1.0/users/" + EscapeKey(k) + "/revokeSignInSessions"
		if got != want {
			t.Errorf("key %q: EscapeKey gives %q, SDK sends %q", k, got, want)
		}
	}
}

func TestParseTenant(t *testing.T) {
	tests := []struct{ in, tenant, reason string }{
		{"72f988bf-86f1-41af-91ab-2d7cd011db47", "72f988bf-86f1-41af-91ab-2d7cd011db47", ""},
		{" {72F988BF-86F1-41AF-91AB-2D7CD011DB47}\u00a0", "72f988bf-86f1-41af-91ab-2d7cd011db47", ""},
		{"contoso.onmicrosoft.com", "contoso.onmicrosoft.com", ""},
		{"Contoso.OnMicrosoft.COM", "contoso.onmicrosoft.com", ""},
		{"sub-1.contoso-eu.co.uk", "sub-1.contoso-eu.co.uk", ""},
		{"xn--mller-kva.de", "xn--mller-kva.de", ""},
		{"contoso.onmicrosoft.us", "contoso.onmicrosoft.us", ""},
		{"", "", "is empty"},
		{" \t\u200b", "", "is empty"},
		{"contoso", "", "has no dot: give the tenant id (a GUID) or a domain name such as contoso.onmicrosoft.com"},
		{"72f988bf86f141af91ab2d7cd011db47", "", "has no dot: give the tenant id (a GUID) or a domain name such as contoso.onmicrosoft.com"},
		{"con toso.com", "", "contains a space"},
		{"contoso_eu.com", "", `contains "_": give the tenant id (a GUID) or a domain name`},
		{"https://login.microsoftonline.com/contoso.com", "", `contains ":": give the tenant id (a GUID) or a domain name`},
		{"müller.de", "", `contains "ü": give the tenant id (a GUID) or a domain name`},
		{"a\x00b.com", "", "contains the character U+0000: give the tenant id (a GUID) or a domain name"},
		{"contoso.com.", "", "has an empty part between dots"},
		{".contoso.com", "", "has an empty part between dots"},
		{"contoso..com", "", "has an empty part between dots"},
		{"-contoso.com", "", "has a part that starts or ends with a hyphen"},
		{"contoso-.com", "", "has a part that starts or ends with a hyphen"},
		{"10.0.0.1", "", "is not a domain name: its last part is a number"},
		{strings.Repeat("a", 64) + ".com", "", "has a part longer than 63 characters between dots"},
		{strings.Repeat("a.", 127) + "com", "", "is longer than 253 characters"},
		{"\xffcontoso.com", "", "is not valid UTF-8"},
	}
	for _, tt := range tests {
		tenant, reason := ParseTenant(tt.in)
		if tenant != tt.tenant || reason != tt.reason {
			t.Errorf("ParseTenant(%q) = %q, %q; want %q, %q", tt.in, tenant, reason, tt.tenant, tt.reason)
		}
		if tenant != "" {
			if again, why := ParseTenant(tenant); again != tenant || why != "" {
				t.Errorf("ParseTenant(%q) = %q, %q: not idempotent", tenant, again, why)
			}
		}
	}
}
