package server

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// SessionHeader carries the session assertion to the upstream app.
const SessionHeader = "X-TokenHook-Session"

// SessionTokenType is the subject_token_type of a session assertion at the
// exchange endpoint.
const SessionTokenType = "urn:tokenhook:params:oauth:token-type:session"

// assertionTTL is the lifetime of the session assertion sent with an HTTP
// request (a WebSocket upgrade's lives longer: see socketAssertionExpiry).
const assertionTTL = 5 * time.Minute

// assertionClaims are the claims of a session assertion.
type assertionClaims struct {
	jwt.Claims
	Email string `json:"email,omitempty"`
	// SID names the session in tokenhook's store (the store key, not the
	// cookie's id: it cannot be turned into a cookie).
	SID string `json:"sid"`
}

// assertionSigner signs session assertions with an Ed25519 key derived from
// the cookie secret, so every instance sharing the secret signs alike and
// upstreams can check assertions against /_tokenhook/jwks.json.
type assertionSigner struct {
	mu     sync.Mutex
	cached map[string]cachedAssertion // by session key
	key    ed25519.PrivateKey
	kid    string
	signer jose.Signer
	jwks   []byte
}

func newAssertionSigner(secret []byte) (*assertionSigner, error) {
	seed, err := derive(secret, "tokenhook session assertion v1", ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	key := ed25519.NewKeyFromSeed(seed)
	pub := key.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	kid := base64.RawURLEncoding.EncodeToString(sum[:12])
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("tokenhook-session+jwt"))
	if err != nil {
		return nil, fmt.Errorf("assertion signer: %w", err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: kid, Algorithm: string(jose.EdDSA), Use: "sig"}}})
	if err != nil {
		return nil, fmt.Errorf("assertion jwks: %w", err)
	}
	return &assertionSigner{key: key, kid: kid, signer: sig, jwks: jwks, cached: map[string]cachedAssertion{}}, nil
}

type cachedAssertion struct {
	raw     string
	expires time.Time
}

// forSession returns an assertion for the session stored under key (its
// viewer's subject and email), reusing
// a signed one while it has more than four of its five minutes left (signing
// on every proxied request would cost more than the proxying).
func (a *assertionSigner) forSession(issuer, audience, subject, email, key string, now time.Time) (string, error) {
	a.mu.Lock()
	c, ok := a.cached[key]
	a.mu.Unlock()
	if ok && now.Add(assertionTTL-time.Minute).Before(c.expires) {
		return c.raw, nil
	}
	raw, err := a.sign(issuer, audience, subject, email, key, now)
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	if len(a.cached) >= 10000 {
		clear(a.cached)
	}
	a.cached[key] = cachedAssertion{raw: raw, expires: now.Add(assertionTTL)}
	a.mu.Unlock()
	return raw, nil
}

// sign returns a session assertion for the session stored under key that
// lives assertionTTL.
func (a *assertionSigner) sign(issuer, audience, subject, email, key string, now time.Time) (string, error) {
	return a.signUntil(issuer, audience, subject, email, key, now, now.Add(assertionTTL))
}

// signUntil returns a session assertion for the session stored under key
// that expires at exp.
func (a *assertionSigner) signUntil(issuer, audience, subject, email, key string, now, exp time.Time) (string, error) {
	c := assertionClaims{
		Claims: jwt.Claims{Issuer: issuer, Audience: jwt.Audience{audience}, Subject: subject,
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(exp), ID: randomString(12)},
		Email: email, SID: key,
	}
	return jwt.Signed(a.signer).Claims(c).Serialize()
}

// socketAssertionExpiry is when the assertion sent with a WebSocket upgrade
// expires. A WebSocket app (Panel, Streamlit, Shiny, Dash WebSocket
// callbacks) keeps the upgrade's headers for the connection's whole life, so
// the assertion lives as long as the credentials the connection was opened
// with (credsEnd: the session's end, or a bearer's expiry; the proxy closes
// the connection then), at most maxLife from now and never shorter than an
// HTTP request's assertion. The exchange endpoint still refuses it as soon
// as the session has ended.
func socketAssertionExpiry(now, credsEnd time.Time, maxLife time.Duration) time.Time {
	exp := now.Add(maxLife)
	if !credsEnd.IsZero() && credsEnd.Before(exp) {
		exp = credsEnd
	}
	if short := now.Add(assertionTTL); exp.Before(short) {
		exp = short
	}
	return exp
}

// errBadAssertion is any reason to refuse a session assertion.
var errBadAssertion = errors.New("invalid session assertion")

// verify checks an assertion's signature, issuer, audience and expiry.
func (a *assertionSigner) verify(raw, issuer, audience string, now time.Time) (*assertionClaims, error) {
	if len(raw) > 8<<10 {
		return nil, errBadAssertion
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, errBadAssertion
	}
	var c assertionClaims
	if err := tok.Claims(a.key.Public(), &c); err != nil {
		return nil, errBadAssertion
	}
	if err := c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{audience}, Time: now}, 5*time.Second); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadAssertion, err)
	}
	if c.SID == "" || c.Expiry == nil {
		return nil, errBadAssertion
	}
	return &c, nil
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Write(s.assertions.jwks)
}

// assertionAudience is the audience of session assertions: the configured
// one, or the upstream URL.
func (s *Server) assertionAudience() string {
	if s.cfg.AssertionAudience != "" {
		return s.cfg.AssertionAudience
	}
	return s.cfg.Upstream
}
