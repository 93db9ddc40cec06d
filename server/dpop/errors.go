package dpop

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// The error kinds of this package. Every error a Verifier or Tokens returns
// wraps exactly one of them (test with errors.Is); the wrapped text names a
// fixed reason and never contains token or proof material.
var (
	// ErrNoToken: the request has no Authorization header with the DPoP
	// scheme. Answered with a bare challenge (RFC 6750 §3.1).
	ErrNoToken = errors.New("no DPoP access token")
	// ErrInvalidRequest: the Authorization header is malformed or repeated.
	ErrInvalidRequest = errors.New("malformed request")
	// ErrInvalidProof: the DPoP proof is missing, repeated, oversized, badly
	// signed, or does not match the request (RFC 9449 §4.3).
	ErrInvalidProof = errors.New("invalid DPoP proof")
	// ErrUseNonce: the server requires a nonce and the proof has none or an
	// outdated one (RFC 9449 §9). The answer carries a fresh DPoP-Nonce.
	ErrUseNonce = errors.New("DPoP nonce required")
	// ErrInvalidToken: the access token is malformed, expired, not ours, or
	// bound to another key than the proof's.
	ErrInvalidToken = errors.New("invalid DPoP access token")
)

// Error codes of RFC 6750 §3.1 and RFC 9449 §7.1 and §12.2.
const (
	CodeInvalidRequest = "invalid_request"
	CodeInvalidToken   = "invalid_token"
	CodeInvalidProof   = "invalid_dpop_proof"
	CodeUseNonce       = "use_dpop_nonce"
)

// Status returns the HTTP status and error code a resource server answers
// err with ("" for ErrNoToken: a bare challenge). Errors of no kind of this
// package (a failing replay store) give 503 and "temporarily_unavailable".
func Status(err error) (int, string) {
	switch {
	case errors.Is(err, ErrNoToken):
		return http.StatusUnauthorized, ""
	case errors.Is(err, ErrInvalidRequest):
		return http.StatusBadRequest, CodeInvalidRequest
	case errors.Is(err, ErrUseNonce):
		return http.StatusUnauthorized, CodeUseNonce
	case errors.Is(err, ErrInvalidProof):
		return http.StatusUnauthorized, CodeInvalidProof
	case errors.Is(err, ErrInvalidToken):
		return http.StatusUnauthorized, CodeInvalidToken
	default:
		return http.StatusServiceUnavailable, "temporarily_unavailable"
	}
}

// WriteError answers a resource request that failed with err (RFC 9449 §7.1):
// the status of Status, a `WWW-Authenticate: DPoP algs="…"` challenge with
// error and error_description, a fresh DPoP-Nonce when v requires nonces, and
// a JSON body {"error":…,"error_description":…}. It never redirects.
func (v *Verifier) WriteError(w http.ResponseWriter, err error) {
	status, code := Status(err)
	h := w.Header()
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "5")
	} else {
		challenge := `DPoP algs="` + v.algNames + `"`
		if code != "" {
			challenge += `, error="` + code + `", error_description="` + quoteSafe(describe(err)) + `"`
		}
		h.Set("WWW-Authenticate", challenge)
	}
	v.writeJSONError(w, status, code, err)
}

// WriteTokenError answers a token request whose proof failed with err
// (RFC 9449 §5): 400 with {"error":"invalid_dpop_proof"} or
// {"error":"use_dpop_nonce"} and, when v requires nonces, a fresh
// DPoP-Nonce. Errors of no kind of this package give 503.
func (v *Verifier) WriteTokenError(w http.ResponseWriter, err error) {
	status, code := Status(err)
	if status != http.StatusServiceUnavailable {
		status = http.StatusBadRequest
	} else {
		w.Header().Set("Retry-After", "5")
	}
	v.writeJSONError(w, status, code, err)
}

func (v *Verifier) writeJSONError(w http.ResponseWriter, status int, code string, err error) {
	h := w.Header()
	if v.nonces != nil && status != http.StatusServiceUnavailable {
		h.Set(NonceHeader, v.nonces.Current())
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	body := map[string]string{"error": code}
	switch code {
	case "":
		body["error"] = "unauthorized"
		body["error_description"] = "DPoP access token required"
	case "temporarily_unavailable":
	default:
		body["error_description"] = describe(err)
	}
	_ = json.NewEncoder(w).Encode(body)
}

// describe is the error's text, bounded. The texts come from fixed reasons
// only, never from the request.
func describe(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

// quoteSafe keeps the characters allowed in an auth-param quoted string
// without escapes.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 0x20 && r < 0x7f && r != '"' && r != '\\' {
			return r
		}
		return -1
	}, s)
}
