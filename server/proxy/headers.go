package proxy

import (
	"net/http"
	"strings"
)

// ownedHeaders recognises the request headers only the proxy's side may set
// (see the package comment), by their normalised name: lower case, "_" read
// as "-" (CGI, WSGI, Rack and PHP map both to the same variable, and header
// names are case-insensitive everywhere).
type ownedHeaders struct {
	exact    map[string]bool
	prefixes []string
}

// ownedPrefix covers X-TokenHook and every X-TokenHook-* header.
const ownedPrefix = "x-tokenhook"

func newOwnedHeaders(extra []string) ownedHeaders {
	o := ownedHeaders{exact: map[string]bool{}}
	for _, h := range append([]string{HeaderUser, HeaderEmail, HeaderGroups, HeaderPreferredUsername}, extra...) {
		if prefix, ok := strings.CutSuffix(h, "*"); ok {
			o.prefixes = append(o.prefixes, normalHeader(prefix))
		} else if h != "" {
			o.exact[normalHeader(h)] = true
		}
	}
	return o
}

// normalHeader is the name a lenient backend reads for header name k.
func normalHeader(k string) string {
	return strings.ReplaceAll(strings.ToLower(k), "_", "-")
}

func (o ownedHeaders) owns(k string) bool {
	n := normalHeader(k)
	if n == ownedPrefix || strings.HasPrefix(n, ownedPrefix+"-") || o.exact[n] {
		return true
	}
	for _, p := range o.prefixes {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	return false
}

// strip removes every owned header from h.
func (o ownedHeaders) strip(h http.Header) {
	for k := range h {
		if o.owns(k) {
			delete(h, k)
		}
	}
}
