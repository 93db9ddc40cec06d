package dpop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TokenType is the typ header of the access tokens Tokens mints (RFC 9068).
const TokenType = "at+jwt"

// MaxTokenTTL is the longest life Tokens gives a token.
const MaxTokenTTL = 5 * time.Minute

// MaxTokenSize bounds a token Tokens.Verify accepts, in bytes.
const MaxTokenSize = 8 << 10

// tokenLeeway is the clock skew allowed on exp and iat.
const tokenLeeway = 5 * time.Second

// reserved are the claims Tokens sets itself; Grant.Claims may not set them.
var reserved = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "cnf"}

// TokenConfig configures Tokens.
type TokenConfig struct {
	// Issuer is the iss of minted tokens, and the only one Verify accepts
	// (e.g. tokenhook's public URL).
	Issuer string
	// Key signs the tokens: Key.Key is an ed25519.PrivateKey (EdDSA) or a
	// P-256 *ecdsa.PrivateKey (ES256); Key.KeyID becomes the kid. Publish
	// its public half (e.g. at /_tokenhook/jwks.json) so that upstreams can
	// check tokens too.
	Key jose.JSONWebKey
	// TTL is the life of a token; zero means MaxTokenTTL, more is refused.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Tokens mints access tokens bound to a client's key and verifies them,
// checking a token's signature once and its times and audience on every
// use. It is safe for concurrent use.
type Tokens struct {
	issuer string
	alg    jose.SignatureAlgorithm
	public any
	signer jose.Signer
	ttl    time.Duration
	now    func() time.Time
	cache  tokenCache
}

// NewTokens returns Tokens for cfg, or an error naming what in cfg is wrong.
func NewTokens(cfg TokenConfig) (*Tokens, error) {
	t := &Tokens{issuer: cfg.Issuer, ttl: cfg.TTL, now: cfg.Now}
	if t.issuer == "" {
		return nil, errors.New("dpop: token issuer required")
	}
	switch k := cfg.Key.Key.(type) {
	case ed25519.PrivateKey:
		t.alg, t.public = jose.EdDSA, k.Public()
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("dpop: token key: only P-256 ECDSA keys")
		}
		t.alg, t.public = jose.ES256, k.Public()
	default:
		return nil, fmt.Errorf("dpop: token key: want ed25519.PrivateKey or *ecdsa.PrivateKey, got %T", cfg.Key.Key)
	}
	switch {
	case t.ttl < 0 || t.ttl > MaxTokenTTL:
		return nil, fmt.Errorf("dpop: token TTL must be between 0 and %v", MaxTokenTTL)
	case t.ttl == 0:
		t.ttl = MaxTokenTTL
	}
	if t.now == nil {
		t.now = time.Now
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: t.alg, Key: cfg.Key},
		(&jose.SignerOptions{}).WithType(TokenType))
	if err != nil {
		return nil, fmt.Errorf("dpop: token signer: %w", err)
	}
	t.signer = signer
	return t, nil
}

// Grant is what a token is minted for.
type Grant struct {
	// Subject is the sub claim (the viewer).
	Subject string
	// Audience is the aud claim; Verify requires one of its values.
	Audience []string
	// JKT is the thumbprint of the client's key (Proof.JKT): the token's
	// cnf.jkt.
	JKT string
	// Claims are further claims (e.g. email, name, groups). They may not
	// name iss, sub, aud, exp, nbf, iat, jti or cnf.
	Claims map[string]any
	// NotAfter, when set, caps the token's expiry (e.g. at the expiry of
	// the credentials it stands for).
	NotAfter time.Time
}

// tokenClaims are the registered and confirmation claims of a token.
type tokenClaims struct {
	jwt.Claims
	Cnf *struct {
		JKT string `json:"jkt"`
	} `json:"cnf,omitempty"`
}

// Mint returns a signed token for g and its expiry.
func (t *Tokens) Mint(g Grant) (string, time.Time, error) {
	if g.Subject == "" || len(g.Audience) == 0 || g.JKT == "" {
		return "", time.Time{}, errors.New("dpop: mint: subject, audience and key thumbprint required")
	}
	for _, name := range reserved {
		if _, ok := g.Claims[name]; ok {
			return "", time.Time{}, fmt.Errorf("dpop: mint: claim %q is set by Mint", name)
		}
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("dpop: mint: %w", err)
	}
	now := t.now()
	exp := now.Add(t.ttl).Truncate(time.Second)
	if !g.NotAfter.IsZero() && g.NotAfter.Before(exp) {
		exp = g.NotAfter.Truncate(time.Second)
	}
	if !exp.After(now) {
		return "", time.Time{}, errors.New("dpop: mint: NotAfter has passed")
	}
	c := map[string]any{
		"iss": t.issuer,
		"sub": g.Subject,
		"aud": g.Audience,
		"iat": now.Unix(),
		"exp": exp.Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(id[:]),
		"cnf": map[string]string{"jkt": g.JKT},
	}
	for k, v := range g.Claims {
		c[k] = v
	}
	raw, err := jwt.Signed(t.signer).Claims(c).Serialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("dpop: mint: %w", err)
	}
	return raw, exp, nil
}

// TokenClaims are the claims of a verified token.
type TokenClaims struct {
	Issuer   string
	Subject  string
	Audience []string
	IssuedAt time.Time
	Expiry   time.Time
	ID       string
	// JKT is cnf.jkt, the thumbprint of the key the token is bound to.
	JKT string
	// Raw holds every claim, registered ones included, as decoded from JSON.
	// It is shared between the verifications of one token: do not modify it.
	Raw map[string]any
}

// Verify checks that token was minted by t (signature, typ, iss), names
// audience, is alive, and is bound to the key whose thumbprint is jkt (the
// Proof.JKT of the request's verified proof). Errors wrap ErrInvalidToken.
func (t *Tokens) Verify(token, audience, jkt string) (*TokenClaims, error) {
	c, err := t.verifyUnbound(token, audience)
	if err != nil {
		return nil, err
	}
	if err := c.checkBinding(jkt); err != nil {
		return nil, err
	}
	return c, nil
}

// checkBinding reports whether the token is bound to the key whose
// thumbprint is jkt.
func (c *TokenClaims) checkBinding(jkt string) error {
	if jkt == "" || c.JKT != jkt {
		return fmt.Errorf("%w: token not bound to the proof's key", ErrInvalidToken)
	}
	return nil
}

// verifyUnbound is Verify without the key binding check: the caller must
// compare the claims' JKT with a verified proof's.
func (t *Tokens) verifyUnbound(token, audience string) (*TokenClaims, error) {
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("%w: token too large", ErrInvalidToken)
	}
	key := sha256.Sum256([]byte(token))
	now := t.now()
	e, ok := t.cache.get(key)
	if !ok {
		var err error
		if e, err = t.parse(token); err != nil {
			return nil, err
		}
	}
	err := e.jwt.ValidateWithLeeway(jwt.Expected{Issuer: t.issuer, AnyAudience: jwt.Audience{audience}, Time: now}, tokenLeeway)
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return nil, fmt.Errorf("%w: token expired", ErrInvalidToken)
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return nil, fmt.Errorf("%w: issuer is not ours", ErrInvalidToken)
	case errors.Is(err, jwt.ErrInvalidAudience):
		return nil, fmt.Errorf("%w: audience is not ours", ErrInvalidToken)
	case err != nil:
		return nil, fmt.Errorf("%w: token not valid now", ErrInvalidToken)
	}
	if !ok {
		t.cache.put(key, e, now)
	}
	c := *e.claims
	return &c, nil
}

// parse checks a token's signature and typ and decodes its claims. The
// result depends on the token's bytes only, so it can be cached by them.
func (t *Tokens) parse(token string) (*tokenEntry, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{t.alg})
	if err != nil {
		return nil, fmt.Errorf("%w: not a JWT signed with %s", ErrInvalidToken, t.alg)
	}
	if typ, _ := tok.Headers[0].ExtraHeaders[jose.HeaderType].(string); typ != TokenType {
		return nil, fmt.Errorf("%w: typ is not at+jwt", ErrInvalidToken)
	}
	var c tokenClaims
	raw := map[string]any{}
	if err := tok.Claims(t.public, &c, &raw); err != nil {
		return nil, fmt.Errorf("%w: bad signature or claims", ErrInvalidToken)
	}
	if c.Expiry == nil || c.IssuedAt == nil || c.Subject == "" {
		return nil, fmt.Errorf("%w: exp, iat or sub missing", ErrInvalidToken)
	}
	if c.Cnf == nil || c.Cnf.JKT == "" {
		return nil, fmt.Errorf("%w: token not bound to a key", ErrInvalidToken)
	}
	return &tokenEntry{jwt: c.Claims, claims: &TokenClaims{
		Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience, ID: c.ID, JKT: c.Cnf.JKT,
		IssuedAt: c.IssuedAt.Time(), Expiry: c.Expiry.Time(), Raw: raw,
	}}, nil
}

// tokenCacheSize bounds the cache of checked tokens. Only tokens with our
// signature enter it, so strangers cannot fill it.
const tokenCacheSize = 10000

// tokenEntry is a token whose signature and form were checked; its times
// and audience are checked on every use.
type tokenEntry struct {
	jwt    jwt.Claims
	claims *TokenClaims
}

// tokenCache remembers checked tokens by their SHA-256, so a token used for
// many requests has its signature checked once. An entry never outlives its
// token: every use checks exp, and full caches drop expired entries first.
type tokenCache struct {
	mu sync.Mutex
	m  map[[32]byte]*tokenEntry
}

func (c *tokenCache) get(k [32]byte) (*tokenEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	return e, ok
}

func (c *tokenCache) put(k [32]byte, e *tokenEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[32]byte]*tokenEntry{}
	}
	if len(c.m) >= tokenCacheSize {
		for k, old := range c.m {
			if !now.Before(old.claims.Expiry.Add(tokenLeeway)) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= tokenCacheSize {
			clear(c.m)
		}
	}
	c.m[k] = e
}
