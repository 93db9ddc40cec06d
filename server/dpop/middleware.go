package dpop

import (
	"net/http"
	"strings"
)

// Result is what Middleware verified about a request.
type Result struct {
	// Token is the access token presented.
	Token string
	// Claims are the token's claims.
	Claims *TokenClaims
	// Proof is the request's verified proof.
	Proof *Proof
}

// MiddlewareOptions configures Middleware.
type MiddlewareOptions struct {
	// Origin is the public origin clients address ("https://app.example.com"):
	// a proof's htu must be Origin followed by the request's path. Required.
	Origin string
	// Audience is the aud a token must name. Required.
	Audience string
	// Verified, when set, is called with the verified request before next
	// sees it, e.g. to set identity headers for an upstream. The request's
	// Authorization and DPoP headers are already removed.
	Verified func(r *http.Request, res *Result)
}

// Middleware returns middleware that lets a request through only with
// `Authorization: DPoP <token>` naming a token of tokens, and a DPoP proof
// of the key the token is bound to, for this method and URL. Refused
// requests get the answer of Verifier.WriteError and never reach next.
// Accepted requests reach next without their Authorization and DPoP headers
// (the token is for this server, not for what lies behind it).
//
// The proof's htu is compared with Origin plus r.URL's path: mount the
// middleware before anything that rewrites the path.
func Middleware(v *Verifier, tokens *Tokens, o MiddlewareOptions) func(http.Handler) http.Handler {
	origin := strings.TrimSuffix(o.Origin, "/")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			res, err := v.VerifyBound(r, tokens, origin, o.Audience)
			if err != nil {
				v.WriteError(w, err)
				return
			}
			r = r.Clone(r.Context())
			r.Header.Del("Authorization")
			r.Header.Del(ProofHeader)
			if o.Verified != nil {
				o.Verified(r, res)
			}
			v.RenewNonce(w, res.Proof)
			next.ServeHTTP(w, r)
		})
	}
}

// VerifyBound checks r's `Authorization: DPoP` token (one of tokens, naming
// audience) and its DPoP proof of the key the token is bound to, for r's
// method and origin followed by r.URL's path (origin without a trailing
// slash). The token comes first, so only holders of a valid token get their
// proofs into the replay cache. Errors are those of TokenFromRequest,
// ProofFromRequest, Tokens.Verify and Verify: answer them with WriteError.
func (v *Verifier) VerifyBound(r *http.Request, tokens *Tokens, origin, audience string) (*Result, error) {
	token, err := TokenFromRequest(r)
	if err != nil {
		return nil, err
	}
	if _, err := ProofFromRequest(r); err != nil {
		return nil, err // a missing proof is named before a bad token
	}
	claims, err := tokens.verifyUnbound(token, audience)
	if err != nil {
		return nil, err
	}
	proof, err := v.VerifyRequest(r, origin+r.URL.EscapedPath(), token)
	if err != nil {
		return nil, err
	}
	if err := claims.checkBinding(proof.JKT); err != nil {
		return nil, err
	}
	return &Result{Token: token, Claims: claims, Proof: proof}, nil
}

// RenewNonce sets a DPoP-Nonce header on w with the current nonce when v
// requires nonces and p does not carry the current one (RFC 9449 §8.2), so
// the client moves on before its nonce expires.
func (v *Verifier) RenewNonce(w http.ResponseWriter, p *Proof) {
	if v.nonces != nil && p.Nonce != v.nonces.Current() {
		w.Header().Set(NonceHeader, v.nonces.Current())
	}
}

// TokenFromRequest returns the token of the request's one Authorization
// header with the DPoP scheme (RFC 9449 §7.1). No header, or another scheme,
// gives ErrNoToken; several headers, or a value outside the token68 syntax,
// give ErrInvalidRequest; an overlong token gives ErrInvalidToken.
func TokenFromRequest(r *http.Request) (string, error) {
	vals := r.Header.Values("Authorization")
	switch {
	case len(vals) == 0:
		return "", ErrNoToken
	case len(vals) > 1:
		return "", ErrInvalidRequest
	}
	scheme, token, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "DPoP") {
		return "", ErrNoToken
	}
	token = strings.TrimLeft(token, " ")
	if len(token) > MaxTokenSize {
		return "", ErrInvalidToken
	}
	if !isToken68(token) {
		return "", ErrInvalidRequest
	}
	return token, nil
}

// HasScheme reports whether r's Authorization header names the DPoP scheme
// (whatever follows it): the request means to present a DPoP-bound token.
func HasScheme(r *http.Request) bool {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	return strings.EqualFold(scheme, "DPoP")
}

// isToken68 reports whether s is 1*( ALPHA / DIGIT / "-" / "." / "_" / "~"
// / "+" / "/" ) *"=".
func isToken68(s string) bool {
	body := strings.TrimRight(s, "=")
	return body != "" && strings.IndexFunc(body, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-._~+/", r))
	}) < 0
}
