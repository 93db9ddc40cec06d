package verify

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/tokenhook/tokenhook/server/dpop"
)

// MaxAuthorizationSize bounds the Authorization header value ParseAuthorization
// accepts ("Bearer " plus MaxTokenSize).
const MaxAuthorizationSize = MaxTokenSize + len("Bearer ")

// ParseAuthorization extracts the bearer token from an Authorization header
// value (RFC 6750 §2.1). An empty value gives ErrNoToken; another scheme,
// several values, a missing token or characters outside the token68 syntax
// give ErrInvalidRequest; an overlong value gives ErrInvalidToken.
func ParseAuthorization(header string) (string, error) {
	if header == "" {
		return "", ErrNoToken
	}
	if len(header) > MaxAuthorizationSize {
		return "", ErrInvalidToken
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", ErrInvalidRequest
	}
	token = strings.TrimLeft(token, " ")
	if token == "" {
		return "", ErrInvalidRequest
	}
	// token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
	padding := false
	for i := 0; i < len(token); i++ {
		ch := token[i]
		switch {
		case ch == '=':
			padding = true
		case padding:
			return "", ErrInvalidRequest
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9',
			ch == '-', ch == '.', ch == '_', ch == '~', ch == '+', ch == '/':
		default:
			return "", ErrInvalidRequest
		}
	}
	return token, nil
}

// TokenFromRequest returns the request's bearer token (see ParseAuthorization).
// Several Authorization headers are a malformed request.
func TokenFromRequest(r *http.Request) (string, error) {
	vals := r.Header.Values("Authorization")
	switch len(vals) {
	case 0:
		return "", ErrNoToken
	case 1:
		return ParseAuthorization(vals[0])
	default:
		return "", ErrInvalidRequest
	}
}

// Authenticate decides the identity of r from its Authorization header: a
// valid bearer gives an Identity with Source SourceBearer; no header gives
// ErrNoToken; a DPoP-bound token (cnf.jkt) sent as a bearer gives
// ErrBoundToken (RFC 9449 §7.1: without its proof it proves nothing); the
// rate limit of failed look-ups is kept per client, r's peer or the one
// TrustedProxies name (see VerifyFrom).
func (v *Verifier) Authenticate(r *http.Request) (Identity, error) {
	token, err := TokenFromRequest(r)
	if err != nil {
		return Identity{}, err
	}
	c, err := v.VerifyFrom(r.Context(), token, v.cfg.TrustedProxies.Client(r))
	if err != nil {
		return Identity{}, err
	}
	if c.JKT != "" {
		return Identity{}, ErrBoundToken
	}
	return Identity{Claims: c, Source: SourceBearer}, nil
}

type claimsKey struct{}

// WithClaims returns a copy of ctx carrying c.
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the claims the middleware validated for this request.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// Status returns the HTTP status and RFC 6750 error code for err ("" for a
// missing token).
func Status(err error) (int, string) {
	switch {
	case errors.Is(err, ErrNoToken):
		return http.StatusUnauthorized, ""
	case errors.Is(err, ErrInvalidRequest):
		return http.StatusBadRequest, "invalid_request"
	case errors.Is(err, ErrInvalidToken):
		return http.StatusUnauthorized, "invalid_token"
	case errors.Is(err, ErrInsufficientScope):
		return http.StatusForbidden, "insufficient_scope"
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests, "rate_limited"
	default:
		return http.StatusServiceUnavailable, "temporarily_unavailable"
	}
}

// WriteError writes the RFC 6750 answer for err: status, WWW-Authenticate
// challenge with realm, and a JSON body {"error":…,"error_description":…}.
// An expired token's description is "JWT Expired" (Dash's renderer refreshes
// its token when it sees that text). ErrBoundToken gets a DPoP challenge
// instead of a Bearer one (RFC 9449 §7.1). It never redirects.
func WriteError(w http.ResponseWriter, realm string, err error) {
	writeError(w, realm, err, "", "")
}

// writeError is WriteError with two additions. also, when not "", is a
// second challenge (the DPoP scheme's, when the middleware accepts both)
// sent with a bare one. algs, when not "", answers in the DPoP scheme with
// those proof algorithms (a request that came with a DPoP-bound token: its
// refusals, 403 insufficient_scope included, are DPoP challenges).
func writeError(w http.ResponseWriter, realm string, err error, also, algs string) {
	status, code := Status(err)
	desc := describe(err, code)
	if algs == "" && errors.Is(err, ErrBoundToken) {
		algs = dpop.AlgNames(dpop.DefaultAlgorithms)
	}
	challenge := `Bearer realm="` + quoteSafe(realm) + `"`
	if algs != "" {
		challenge = `DPoP realm="` + quoteSafe(realm) + `", algs="` + algs + `"`
	}
	limited := status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests
	if code != "" && !limited {
		challenge += `, error="` + code + `"`
		if desc != "" {
			challenge += `, error_description="` + quoteSafe(desc) + `"`
		}
	}
	h := w.Header()
	switch status {
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "5")
	case http.StatusTooManyRequests:
		h.Set("Retry-After", "1")
	default:
		h.Set("WWW-Authenticate", challenge)
		if also != "" && code == "" {
			h.Add("WWW-Authenticate", also)
		}
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	body := map[string]string{"error": code}
	if code == "" {
		body["error"] = "unauthorized"
		desc = "bearer token required"
	}
	if desc != "" {
		body["error_description"] = desc
	}
	_ = json.NewEncoder(w).Encode(body)
}

// WriteError writes the RFC 6750 answer for err with the verifier's realm.
func (v *Verifier) WriteError(w http.ResponseWriter, err error) {
	WriteError(w, v.cfg.Realm, err)
}

func describe(err error, code string) string {
	switch {
	case errors.Is(err, ErrExpired):
		return "JWT Expired"
	case code == "":
		return ""
	}
	// Error messages here never contain token material: they are built from
	// fixed reasons only.
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

// quoteSafe keeps the characters allowed in an auth-param quoted string
// without escapes.
func quoteSafe(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' {
			b = append(b, ch)
		}
	}
	return string(b)
}
