package batch

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
)

// PasswordLength is how long the passwords --reset-password sets are: far beyond guessing, and
// within Entra's 256.
const PasswordLength = 64

// The alphabets Entra's complexity rule counts. The symbols are among those Entra accepts and
// need no escaping in JSON, a shell or a URL, so that no layer rewrites them.
const (
	upper   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lower   = "abcdefghijklmnopqrstuvwxyz"
	digits  = "0123456789"
	symbols = "!#$%*+-=?@^_~.:,;()[]{}"
)

var passwordAlphabet = upper + lower + digits + symbols

// NewPassword makes a password nobody knows: PasswordLength characters from crypto/rand with
// at least one of each class, so that any complexity policy Entra applies is met. The caller
// sends it and forgets it: the user recovers through self-service reset or the helpdesk.
func NewPassword() (string, error) {
	// Drawing again until every class is present keeps each character uniform; at 64
	// characters a draw missing a class is rare (under 1 in 300).
	for range 100 {
		p, err := randomString(PasswordLength, passwordAlphabet)
		if err != nil {
			return "", err
		}
		if complete(p) {
			return p, nil
		}
	}
	return "", errors.New("cannot make a password with every kind of character")
}

func complete(p string) bool {
	for _, class := range []string{upper, lower, digits, symbols} {
		if !strings.ContainsAny(p, class) {
			return false
		}
	}
	return true
}

// randomString draws n characters uniformly from alphabet (at most 256 of them), rejecting the
// bytes that would bias the draw.
func randomString(n int, alphabet string) (string, error) {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", errors.New("cannot read the system's random source for a password")
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// passwordBody is the PATCH body of a password reset: a fresh password, to be changed at the
// next sign-in (by then through self-service reset or the helpdesk, since nobody knows it).
func passwordBody() ([]byte, error) {
	p, err := NewPassword()
	if err != nil {
		return nil, err
	}
	type profile struct {
		Password    string `json:"password"`
		ForceChange bool   `json:"forceChangePasswordNextSignIn"`
	}
	return json.Marshal(map[string]profile{"passwordProfile": {Password: p, ForceChange: true}})
}
