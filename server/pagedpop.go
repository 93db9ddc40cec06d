package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/tokenhook/tokenhook/server/assertion"
	"github.com/tokenhook/tokenhook/server/dpop"
	"github.com/tokenhook/tokenhook/server/internal/answer"
	"github.com/tokenhook/tokenhook/server/once"
	"github.com/tokenhook/tokenhook/server/session"
	"github.com/tokenhook/tokenhook/server/token"
	"github.com/tokenhook/tokenhook/server/verify"
)

// pageDPoP is the dpop mode of --browser-token: the token endpoint mints
// tokens bound to the page's key (dpop.Tokens, signed with the assertion
// key, published at /_tokenhook/jwks.json), and the proxy lets a request
// with such a token through only with a fresh proof of that key.
type pageDPoP struct {
	v      *dpop.Verifier
	nonces *dpop.Nonces
	tokens *dpop.Tokens
	origin string // the public origin: the tokens' iss and aud, the proofs' htu origin
}

// newPageDPoP sets up the dpop mode for cfg. Nonces are required (RFC 9449
// §8): they are derived from the cookie secret, so every replica issues and
// accepts the same ones. Used proofs are remembered in replay (the Redis
// store the replicas share), or with nil in the verifier's own bounded
// memory (one replica).
func newPageDPoP(cfg Config, a *assertion.Signer, replay once.Store) (*pageDPoP, error) {
	key, err := derive(cfg.CookieSecret, "tokenhook dpop nonce v1", 32)
	if err != nil {
		return nil, err
	}
	nonces, err := dpop.NewNonces(key, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("dpop nonces: %w", err)
	}
	v, err := dpop.NewVerifier(dpop.Config{Nonces: nonces, Replay: replay})
	if err != nil {
		return nil, fmt.Errorf("dpop verifier: %w", err)
	}
	tokens, err := dpop.NewTokens(dpop.TokenConfig{Issuer: cfg.PublicURL, Key: a.Key()})
	if err != nil {
		return nil, fmt.Errorf("dpop tokens: %w", err)
	}
	return &pageDPoP{v: v, nonces: nonces, tokens: tokens, origin: cfg.PublicURL}, nil
}

// proof verifies the DPoP proof of a token request, or answers it and
// returns nil. A request without a proof (the script's first: it learns the
// mode from this answer) gets 200 {"token_type":"DPoP"} without a token and
// a DPoP-Nonce to sign its next request with; a bad proof 400
// invalid_dpop_proof or use_dpop_nonce (RFC 9449 §5, §8) with a DPoP-Nonce.
func (d *pageDPoP) proof(w http.ResponseWriter, r *http.Request) *dpop.Proof {
	if len(r.Header.Values(dpop.ProofHeader)) == 0 {
		w.Header().Set(dpop.NonceHeader, d.nonces.Current())
		answer.JSON(w, http.StatusOK, map[string]string{"token_type": "DPoP"})
		return nil
	}
	p, err := d.v.VerifyRequest(r, d.origin+r.URL.EscapedPath(), "")
	if err != nil {
		d.v.WriteTokenError(w, err)
		return nil
	}
	return p
}

// answerDPoPToken mints a token for the viewer of sess bound to p's key, living
// at most dpop.MaxTokenTTL and not beyond the provider token t, and writes
// it. The provider's tokens stay on the server.
func (s *Server) answerDPoPToken(w http.ResponseWriter, sess *session.Session, t *session.Token, p *dpop.Proof) {
	d := s.pageDPoP
	c := s.sessionClaims(sess)
	claims := map[string]any{}
	if c.Email != "" {
		claims["email"] = c.Email
	}
	if len(c.Groups) > 0 {
		claims["groups"] = c.Groups
	}
	raw, exp, err := d.tokens.Mint(dpop.Grant{Subject: c.Subject, Audience: []string{d.origin}, JKT: p.JKT, Claims: claims, NotAfter: t.Expiry})
	if err != nil {
		s.log.Warn("mint dpop token", "err", err)
		answer.Error(w, http.StatusBadGateway, "temporarily_unavailable", "the session's token has expired; try again")
		return
	}
	d.v.RenewNonce(w, p)
	now := s.now()
	answer.JSON(w, http.StatusOK, token.Answer{AccessToken: raw, TokenType: "DPoP", ExpiresIn: int64(exp.Sub(now) / time.Second), ExpiresAt: exp.Unix()})
}

// checkDPoP implements proxy.Config.DPoP: r's token must be one of ours,
// bound to the key of r's proof, for the session's subject.
func (s *Server) checkDPoP(w http.ResponseWriter, r *http.Request, session verify.Identity) bool {
	d := s.pageDPoP
	res, err := d.v.VerifyBound(r, d.tokens, d.origin, d.origin)
	if err == nil && (session.Claims == nil || res.Claims.Subject != session.Claims.Subject) {
		err = fmt.Errorf("%w: the token is not of this session's viewer", dpop.ErrInvalidToken)
	}
	if err != nil {
		d.v.WriteError(w, err)
		return false
	}
	d.v.RenewNonce(w, res.Proof)
	return true
}
