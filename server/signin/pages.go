package signin

import (
	"net/http"

	"github.com/tokenhook/tokenhook/server/page"
)

// renderRetry is the 503 page for a sign-in that cannot go on right now
// (the identity provider is unreachable): a "Try again" button to link (a
// same-origin path) and Retry-After.
func renderRetry(w http.ResponseWriter, title, message, link string) {
	w.Header().Set("Retry-After", "5")
	page.Notice(w, http.StatusServiceUnavailable, title, message, link, "Try again")
}

func describe(desc string) string {
	if desc == "" {
		return "."
	}
	return " (" + clip(desc, 200) + ")."
}

// clip bounds untrusted text shown on pages or written to logs.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
