package batch

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxKeyLen bounds what is accepted as a user key. Entra caps ordinary UPNs at 113 characters,
// but guests' #EXT# UPNs embed their home address and run longer, so the bound only rejects
// what is clearly not a UPN; anything shorter but wrong is left for Graph to answer 404.
const maxKeyLen = 1024

// trimValue removes the white space and invisible characters that spreadsheet exports and
// copy-paste leave around a value: Unicode spaces (NBSP included) and format characters
// such as zero-width spaces, bidi marks and stray byte order marks.
func trimValue(s string) string {
	return strings.TrimFunc(s, isTrimmable)
}

func isTrimmable(r rune) bool {
	return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r)
}

// Classify decides how an input value addresses a user. key is what to send to Graph (object
// ids in lower case, UPNs as given); reason explains a KindInvalid verdict briefly and never
// repeats the value, which may be megabytes of garbage.
func Classify(s string) (kind Kind, key string, reason string) {
	s = trimValue(s)
	switch {
	case s == "":
		return KindInvalid, "", "empty"
	case !utf8.ValidString(s):
		return KindInvalid, "", "not valid UTF-8"
	case utf8.RuneCountInString(s) > maxKeyLen:
		return KindInvalid, "", fmt.Sprintf("longer than %d characters", maxKeyLen)
	}
	if id, ok := parseGUID(s); ok {
		return KindObjectID, id, ""
	}
	if why := upnProblem(s); why != "" {
		return KindInvalid, "", why
	}
	return KindUPN, s, ""
}

// maxDomainLen is DNS's bound on a domain name.
const maxDomainLen = 253

// ParseTenant reads a tenant cell: a tenant id (a GUID, returned in lower case) or one of the
// tenant's domain names (contoso.onmicrosoft.com, contoso.com; returned in lower case), the two
// forms a token request accepts for a tenant. reason explains a refusal as a predicate ("is
// empty", "contains ...") to follow the word "tenant", and never repeats the value.
func ParseTenant(s string) (tenant string, reason string) {
	s = trimValue(s)
	switch {
	case s == "":
		return "", "is empty"
	case !utf8.ValidString(s):
		return "", "is not valid UTF-8"
	}
	if id, ok := parseGUID(s); ok {
		return id, ""
	}
	if len(s) > maxDomainLen {
		return "", fmt.Sprintf("is longer than %d characters", maxDomainLen)
	}
	s = strings.ToLower(s)
	for _, c := range s {
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' {
			continue
		}
		if c == ' ' {
			return "", "contains a space"
		}
		if unicode.IsPrint(c) {
			return "", fmt.Sprintf("contains %q: give the tenant id (a GUID) or a domain name", string(c))
		}
		return "", fmt.Sprintf("contains the character %U: give the tenant id (a GUID) or a domain name", c)
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return "", "has no dot: give the tenant id (a GUID) or a domain name such as contoso.onmicrosoft.com"
	}
	for _, l := range labels {
		switch {
		case l == "":
			return "", "has an empty part between dots"
		case len(l) > 63:
			return "", "has a part longer than 63 characters between dots"
		case l[0] == '-' || l[len(l)-1] == '-':
			return "", "has a part that starts or ends with a hyphen"
		}
	}
	// A numeric last label is an IP address or a mangled GUID, never a domain.
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", "is not a domain name: its last part is a number"
	}
	return s, ""
}

// parseGUID accepts 8-4-4-4-12 hex digits, optionally in braces as Windows tools print them,
// and returns the canonical lower-case form.
func parseGUID(s string) (string, bool) {
	if len(s) == 38 && s[0] == '{' && s[37] == '}' {
		s = s[1:37]
	}
	if len(s) != 36 {
		return "", false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
		default:
			if !isHex(c) {
				return "", false
			}
		}
	}
	return strings.ToLower(s), true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// isUPNChar reports whether c may appear in a userPrincipalName apart from the single @ and
// the optional leading $ (graph-notes.md, "Addressing a user in a URL").
func isUPNChar(c rune) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.ContainsRune("'.-_!#^~", c)
}

// upnProblem returns why s (trimmed, valid UTF-8, not too long) is not a usable UPN, or "".
// The domain is checked only for shape: whether it is one of the tenant's domains is Graph's
// call, and a wrong guess here would refuse to revoke a real user during an incident.
func upnProblem(s string) string {
	body := strings.TrimPrefix(s, "$")
	for _, c := range body {
		if c == '@' || isUPNChar(c) {
			continue
		}
		return badCharReason(c)
	}
	at := strings.IndexByte(body, '@')
	switch {
	case at < 0:
		return "no @"
	case strings.Count(body, "@") > 1:
		return "more than one @"
	case at == 0:
		return "nothing before the @"
	}
	domain := body[at+1:]
	switch {
	case domain == "":
		return "nothing after the @"
	case strings.HasPrefix(domain, "."):
		return "the domain after the @ starts with a dot"
	case strings.HasSuffix(domain, "."):
		return "the domain after the @ ends with a dot"
	case strings.Contains(domain, ".."):
		return "the domain after the @ has two dots in a row"
	case !strings.Contains(domain, "."):
		return "the domain after the @ has no dot"
	}
	return ""
}

func badCharReason(c rune) string {
	switch {
	case c == ' ':
		return "contains a space"
	case c == '\n' || c == '\r':
		// Inside one cell this almost always means a quote left open on an earlier line.
		return "contains a line break (a quote left open?)"
	case unicode.IsSpace(c):
		return fmt.Sprintf("contains white space (%U)", c)
	case unicode.Is(unicode.Cf, c):
		return fmt.Sprintf("contains an invisible character (%U)", c)
	case unicode.IsControl(c):
		return fmt.Sprintf("contains a control character (%U)", c)
	case c == '$':
		return `contains "$", which a userPrincipalName may only have as its first character`
	case c == utf8.RuneError:
		// Only a literal U+FFFD gets here (invalid UTF-8 is rejected earlier); it is what
		// a decoder leaves for bytes it could not read, so say that rather than show it.
		return "contains U+FFFD, the replacement for an unreadable character (wrong file encoding?)"
	case !unicode.IsPrint(c):
		return fmt.Sprintf("contains the unprintable character %U", c)
	}
	return fmt.Sprintf("contains %q, which is not allowed in a userPrincipalName", string(c))
}

// EscapeKey percent-encodes key as one RFC 3986 path segment, leaving only the unreserved
// characters A-Z a-z 0-9 - . _ ~ raw. That is exactly what msgraph-sdk-go's ByUserId produces
// (its URI template expands {user%2Did} with simple string expansion), so requests we build by
// hand for $batch steps match the ones the SDK would send. Key bytes are encoded one by one;
// for invalid UTF-8, which Classify never lets through, the SDK would instead send U+FFFD.
func EscapeKey(key string) string {
	return percentEncode(key, "")
}

// UserPath is the Graph path, relative to the version root, that addresses the user with this
// key. Callers append "/revokeSignInSessions" or a query.
//
// A key starting with "$" cannot go in the plain /users/{key} form: Graph reads a segment
// starting with "$" as an OData system segment and answers 400. Graph documents the
// key-literal form /users('$adele@contoso.com') for these users instead. Inside the quotes
// the OData string-literal rule applies: an apostrophe is doubled, and it and the "$" are sent
// raw, as in that documented form, so the literal's quoting is unambiguous to the server before
// and after percent-decoding. "@" also stays raw, as in the documented example (it is a legal
// path character). Everything else is percent-encoded as in EscapeKey, so "#" still cannot cut
// the URL short.
func UserPath(key string) string {
	if strings.HasPrefix(key, "$") {
		lit := strings.ReplaceAll(key, "'", "''")
		return "/users('" + percentEncode(lit, "'$@") + "')"
	}
	return "/users/" + EscapeKey(key)
}

// percentEncode percent-encodes every byte of s except unreserved characters and those in keep.
func percentEncode(s, keep string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isUnreserved(s[i]) && strings.IndexByte(keep, s[i]) < 0 {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUnreserved(c) || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func isUnreserved(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '-' || c == '.' || c == '_' || c == '~'
}
