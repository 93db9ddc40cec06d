// Package answer writes the JSON answers of tokenhook's own endpoints and of
// the proxy: a value, an OAuth-style error ({"error", "error_description"},
// RFC 6749 §5.2), the 503 for a session store that cannot be reached, and
// the refusal of a script call that is not one (BrowserCall).
package answer

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/tokenhook/tokenhook/server/session"
)

// JSON writes v as a JSON answer with status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Error writes the error code and its description with status.
func Error(w http.ResponseWriter, status int, code, desc string) {
	JSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// StoreUnavailable answers 503 (temporarily_unavailable, Retry-After: 1)
// and reports true when err says the session store cannot be reached (a
// *session.UnavailableError); otherwise it writes nothing and reports
// false. The answer names the kind of store, never its address.
func StoreUnavailable(w http.ResponseWriter, err error) bool {
	var u *session.UnavailableError
	if !errors.As(err, &u) {
		return false
	}
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Cache-Control", "no-store")
	Error(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the session store ("+u.Store+") is unavailable; try again")
	return true
}

// BrowserCall enforces the CSRF defence of the endpoints tokenhook's script
// calls: the X-TokenHook: 1 header forces a CORS preflight for cross-origin
// callers (and tokenhook answers no CORS headers), and browsers that send
// fetch metadata are refused when the call is cross-site. It reports whether
// r may go on; otherwise it has answered 400 or 403.
func BrowserCall(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("X-TokenHook") != "1" {
		Error(w, http.StatusBadRequest, "invalid_request", "the X-TokenHook: 1 request header is required")
		return false
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		Error(w, http.StatusForbidden, "forbidden", "cross-site requests are refused")
		return false
	}
	return true
}
