package verify

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tokenhook/tokenhook/server/dpop"
)

// DPoPOptions turn on DPoP-bound tokens (RFC 9449) in Verifier.Middleware:
// a request may then carry `Authorization: DPoP <token>` and a `DPoP` proof
// instead of a bearer. The token is verified as a bearer is (signature, iss,
// aud, exp), must carry cnf.jkt (tokens tokenhook mints with
// --browser-token dpop do, and so do a provider's DPoP-bound JWTs), and the
// proof must be fresh, for this method and URL, with ath of the token, and
// signed by the key whose thumbprint is cnf.jkt (RFC 9449 §4.3, §7.1).
type DPoPOptions struct {
	// Proofs verifies the proofs. Build it with dpop.NewVerifier: its
	// Config.Replay remembers used proofs (replicas must share one store,
	// e.g. the Redis once store; nil keeps a bounded memory per process) and
	// its Config.Nonces, when set, makes every proof carry a server nonce
	// (DPoP-Nonce). Required.
	Proofs *dpop.Verifier
	// Origin is the public origin clients address ("https://api.example.com"):
	// a proof's htu must be Origin followed by the request's path, so mount
	// the middleware before anything that rewrites the path. Required.
	Origin string
}

// authenticate checks r's `Authorization: DPoP` token with v and its proof
// with o. Errors wrap one of dpop's kinds, or one of this package's for
// failures that are not the request's (ErrUnavailable, ErrRateLimited).
func (o *DPoPOptions) authenticate(v *Verifier, r *http.Request) (Identity, *dpop.Proof, error) {
	token, err := dpop.TokenFromRequest(r)
	if err != nil {
		return Identity{}, nil, err
	}
	if _, err := dpop.ProofFromRequest(r); err != nil {
		return Identity{}, nil, err // a missing proof is named before a bad token
	}
	c, err := v.VerifyFrom(r.Context(), token, v.cfg.TrustedProxies.Client(r))
	switch {
	case errors.Is(err, ErrInvalidToken):
		return Identity{}, nil, fmt.Errorf("%w: %w", dpop.ErrInvalidToken, err)
	case err != nil:
		return Identity{}, nil, err
	case c.JKT == "":
		return Identity{}, nil, fmt.Errorf("%w: token not bound to a key (no cnf.jkt)", dpop.ErrInvalidToken)
	}
	// The token comes first, so only holders of a valid token get their
	// proofs into the replay store.
	p, err := o.Proofs.VerifyRequest(r, strings.TrimSuffix(o.Origin, "/")+r.URL.EscapedPath(), token)
	if err != nil {
		return Identity{}, nil, err
	}
	if p.JKT != c.JKT {
		return Identity{}, nil, fmt.Errorf("%w: token not bound to the proof's key", dpop.ErrInvalidToken)
	}
	return Identity{Claims: c, Source: SourceDPoP}, p, nil
}

// writeError answers a DPoP request that failed with err: failures of the
// request get the DPoP challenge of o.Proofs (RFC 9449 §7.1, with a fresh
// DPoP-Nonce when nonces are on), the others (authorization rules, rate
// limit, provider down) the answer of WriteError in the DPoP scheme.
func (o *DPoPOptions) writeError(w http.ResponseWriter, realm string, err error) {
	for _, kind := range []error{dpop.ErrNoToken, dpop.ErrInvalidRequest, dpop.ErrInvalidProof, dpop.ErrUseNonce, dpop.ErrInvalidToken} {
		if errors.Is(err, kind) {
			o.Proofs.WriteError(w, err)
			return
		}
	}
	writeError(w, realm, err, "", o.Proofs.AlgNames())
}

// challenge is the DPoP challenge offered next to the Bearer one when a
// request has no token.
func (o *DPoPOptions) challenge() string {
	return `DPoP algs="` + o.Proofs.AlgNames() + `"`
}
