package signin

import (
	"crypto/rand"
	"encoding/base64"
	"net/url"
	"strings"
)

// SafeRedirect returns rd if it is a path on this origin, else "/". It
// refuses absolute URLs, scheme-relative "//host", backslash tricks
// ("/\host"), control characters, and the same forms percent-encoded.
func SafeRedirect(rd string) string {
	if rd == "" || len(rd) > 2048 || rd[0] != '/' {
		return "/"
	}
	// Decode repeatedly so encoded variants (%2F%2F, %5C, %09) are judged
	// the way a browser may end up reading them.
	dec := rd
	for i := 0; i < 3; i++ {
		d, err := url.PathUnescape(dec)
		if err != nil {
			return "/"
		}
		if d == dec {
			break
		}
		dec = d
	}
	for _, p := range []string{rd, dec} {
		if len(p) == 0 || p[0] != '/' {
			return "/"
		}
		if len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
			return "/"
		}
		if strings.ContainsAny(p, "\\") {
			return "/"
		}
		for _, c := range p {
			if c < 0x20 || c == 0x7f {
				return "/"
			}
		}
	}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return rd
}

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics internally if it cannot)
	return base64.RawURLEncoding.EncodeToString(b)
}
