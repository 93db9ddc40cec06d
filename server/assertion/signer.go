// Package assertion is tokenhook's session assertions and the token exchange
// that redeems them: the proxy sends the upstream app a short-lived signed
// JWT naming the viewer's session (Header), and the app's backend trades it
// at the exchange endpoint (RFC 8693) for the viewer's token of a
// connection. The keys are published as a JWK set for upstreams that check
// assertions themselves.
package assertion

import (
	"crypto/ed25519"
	"crypto/rand"
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

// Header carries the session assertion to the upstream app.
const Header = "X-TokenHook-Session"

// TokenType is the subject_token_type of a session assertion at the
// exchange endpoint.
const TokenType = "urn:tokenhook:params:oauth:token-type:session"

// TTL is the lifetime of the session assertion sent with an HTTP request (a
// WebSocket upgrade's lives longer: see SocketExpiry).
const TTL = 5 * time.Minute

// maxCached bounds the assertions kept for reuse; the cache is emptied when
// it is full.
const maxCached = 10000

// Claims are the claims of a session assertion.
type Claims struct {
	jwt.Claims
	Email string `json:"email,omitempty"`
	// SID names the session in tokenhook's store (the store key, not the
	// cookie's id: it cannot be turned into a cookie).
	SID string `json:"sid"`
}

// Signer signs and checks session assertions with an Ed25519 key. Every
// replica given the same seed signs alike. It is safe for concurrent use.
type Signer struct {
	mu     sync.Mutex
	cached map[string]cachedAssertion // by session key
	key    ed25519.PrivateKey
	kid    string
	signer jose.Signer
	jwks   []byte
}

type cachedAssertion struct {
	raw     string
	expires time.Time
}

// NewSigner returns a signer whose key is made from seed
// (ed25519.SeedSize bytes, derived from the cookie secret).
func NewSigner(seed []byte) (*Signer, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("assertion signer: the seed has %d bytes, want %d", len(seed), ed25519.SeedSize)
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
	return &Signer{key: key, kid: kid, signer: sig, jwks: jwks, cached: map[string]cachedAssertion{}}, nil
}

// Key is the signing key with its key id, for other tokens tokenhook signs
// and publishes in the same key set (the dpop mode's).
func (a *Signer) Key() jose.JSONWebKey { return jose.JSONWebKey{Key: a.key, KeyID: a.kid} }

// ForSession returns an assertion for the session stored under key (its
// viewer's subject and email), reusing a signed one while it has more than
// four of its five minutes left (signing on every proxied request would cost
// more than the proxying).
func (a *Signer) ForSession(issuer, audience, subject, email, key string, now time.Time) (string, error) {
	a.mu.Lock()
	c, ok := a.cached[key]
	a.mu.Unlock()
	if ok && now.Add(TTL-time.Minute).Before(c.expires) {
		return c.raw, nil
	}
	raw, err := a.Sign(issuer, audience, subject, email, key, now)
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	if len(a.cached) >= maxCached {
		clear(a.cached)
	}
	a.cached[key] = cachedAssertion{raw: raw, expires: now.Add(TTL)}
	a.mu.Unlock()
	return raw, nil
}

// Sign returns a session assertion for the session stored under key that
// lives TTL.
func (a *Signer) Sign(issuer, audience, subject, email, key string, now time.Time) (string, error) {
	return a.SignUntil(issuer, audience, subject, email, key, now, now.Add(TTL))
}

// SignUntil returns a session assertion for the session stored under key
// that expires at exp.
func (a *Signer) SignUntil(issuer, audience, subject, email, key string, now, exp time.Time) (string, error) {
	id := make([]byte, 12)
	rand.Read(id) // never fails (crypto/rand panics internally if it cannot)
	c := Claims{
		Claims: jwt.Claims{Issuer: issuer, Audience: jwt.Audience{audience}, Subject: subject,
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(exp), ID: base64.RawURLEncoding.EncodeToString(id)},
		Email: email, SID: key,
	}
	return jwt.Signed(a.signer).Claims(c).Serialize()
}

// SocketExpiry is when the assertion sent with a WebSocket upgrade expires.
// A WebSocket app (Panel, Streamlit, Shiny, Dash WebSocket callbacks) keeps
// the upgrade's headers for the connection's whole life, so the assertion
// lives as long as the credentials the connection was opened with (credsEnd:
// the session's end, or a bearer's expiry; the proxy closes the connection
// then), at most maxLife from now and never shorter than an HTTP request's
// assertion. The exchange endpoint still refuses it as soon as the session
// has ended.
func SocketExpiry(now, credsEnd time.Time, maxLife time.Duration) time.Time {
	exp := now.Add(maxLife)
	if !credsEnd.IsZero() && credsEnd.Before(exp) {
		exp = credsEnd
	}
	if short := now.Add(TTL); exp.Before(short) {
		exp = short
	}
	return exp
}

// ErrInvalid is any reason to refuse a session assertion.
var ErrInvalid = errors.New("invalid session assertion")

// Verify checks an assertion's signature, issuer, audience and expiry.
func (a *Signer) Verify(raw, issuer, audience string, now time.Time) (*Claims, error) {
	if len(raw) > 8<<10 {
		return nil, ErrInvalid
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, ErrInvalid
	}
	var c Claims
	if err := tok.Claims(a.key.Public(), &c); err != nil {
		return nil, ErrInvalid
	}
	if err := c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{audience}, Time: now}, 5*time.Second); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if c.SID == "" || c.Expiry == nil {
		return nil, ErrInvalid
	}
	return &c, nil
}

// JWKS serves the public key set (GET /_tokenhook/jwks.json).
func (a *Signer) JWKS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Write(a.jwks)
	})
}
