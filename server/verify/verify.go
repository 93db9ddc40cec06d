// Package verify validates OAuth 2.0 bearer access tokens for resource servers:
// JWT access tokens against the issuer's published keys (RFC 9068 checks) or
// an injected KeySet, and opaque tokens through token introspection (RFC
// 7662) or the userinfo endpoint, with bounded provider traffic (a negative
// cache, one look-up per token at a time, a budget of failed look-ups per
// client address). It answers failures per RFC 6750 and offers an
// http.Handler middleware that puts the validated claims into the request
// context and, with DPoPOptions, also accepts DPoP-bound tokens with their
// proofs (RFC 9449); see the examples.
package verify

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/tokenhook/tokenhook/server/ratelimit"
)

// MaxTokenSize is the longest token Verify accepts; longer ones are rejected
// before any parsing.
const MaxTokenSize = 16 << 10

// Defaults used when the corresponding Config field is zero.
const (
	DefaultLeeway      = 30 * time.Second
	MaxLeeway          = 5 * time.Minute
	DefaultCacheSize   = 10000
	DefaultCacheTTL    = 5 * time.Minute
	DefaultRealm       = "tokenhook"
	DefaultGroupsClaim = "groups"
	// DefaultRefetchInterval is the shortest time between two JWKS fetches
	// triggered by tokens carrying an unknown key id.
	DefaultRefetchInterval = 10 * time.Second
	defaultHTTPTimeout     = 10 * time.Second
	maxDocumentSize        = 1 << 20
)

// Config configures a Verifier. Only Issuer is required; Audience should be
// set for JWT access tokens (it is checked whenever it is set).
type Config struct {
	// Issuer is the exact "iss" value tokens must carry, and the base of
	// OpenID discovery ("/.well-known/openid-configuration").
	Issuer string
	// Audience must be one of the token's "aud" values (JWTs, and
	// introspection answers that carry "aud"; providers that omit it, like
	// zitadel, answer active only to a client in the token's audience).
	// Empty skips the check, which is only safe when the issuer serves no
	// other clients.
	Audience string
	// RequireATJWT requires the JOSE header typ "at+jwt" (RFC 9068). Many
	// providers omit it, so it is off by default.
	RequireATJWT bool
	// Leeway is the clock skew allowed on exp and nbf (default 30s, at most
	// five minutes).
	Leeway time.Duration
	// Algorithms optionally restricts the accepted signature algorithms
	// (e.g. ["RS256"]). Algorithms are always pinned to the key's type: RSA
	// keys verify RS*/PS*, EC keys ES* of their curve, Ed25519 keys EdDSA.
	// "none" and HMAC algorithms are never accepted.
	Algorithms []string

	// JWKSURL overrides the discovered jwks_uri.
	JWKSURL string
	// IntrospectionURL overrides the discovered introspection_endpoint. Opaque
	// (non-JWT) tokens are introspected there (RFC 7662) when it is known.
	IntrospectionURL string
	// ClientID and ClientSecret authenticate introspection requests (HTTP
	// Basic, RFC 7662 §2.1). Empty sends no client authentication.
	ClientID, ClientSecret string
	// UserinfoURL overrides the discovered userinfo_endpoint. It validates
	// opaque tokens when no introspection endpoint is known (GitHub style):
	// a 200 answer means the token is valid; its audience cannot be checked.
	UserinfoURL string
	// Introspect says which tokens are looked up at the provider
	// (introspection, else userinfo): IntrospectAuto (the default) sends
	// tokens that are not JWTs, IntrospectAlways JWTs too (revoked tokens are
	// refused; one request per uncached token), IntrospectNever none (every
	// opaque token is refused without a provider call: the right choice when
	// the provider issues JWT access tokens). Failed look-ups are cached for
	// NegativeCacheTTL, concurrent look-ups of one token are collapsed into
	// one, and each client address may cause only a few failed look-ups per
	// second (see VerifyFrom).
	Introspect IntrospectMode
	// KeySet, when set, verifies JWT signatures instead of the provider's
	// JWKS (StaticKeySet for keys known in advance, e.g. in tests).
	KeySet KeySet
	// SkipDiscovery turns OpenID discovery off; the endpoints above must then
	// be set explicitly.
	SkipDiscovery bool

	// GroupsClaim names the claim holding the user's groups (default "groups").
	GroupsClaim string
	// CacheSize bounds the cache of successful validations (default 10000;
	// negative disables caching).
	CacheSize int
	// CacheTTL is the longest a validation is reused (default 5 minutes); a
	// cached entry never outlives its token's expiry.
	CacheTTL time.Duration
	// NegativeCacheTTL is how long a token the provider refused is refused
	// again without asking (default 10s; negative disables the negative
	// cache). NegativeCacheSize bounds it (default 10000; the oldest entries
	// make room).
	NegativeCacheTTL  time.Duration
	NegativeCacheSize int
	// LookupRate and LookupBurst bound the failed provider look-ups one
	// client address may cause (token bucket; defaults 1 per second, burst
	// 10). A client over its budget gets ErrRateLimited for tokens the
	// verifier does not know yet; cached valid tokens are not affected.
	LookupRate  float64
	LookupBurst int
	// TrustedProxies are the load balancers in front of the service whose
	// X-Forwarded-For names the client that Authenticate and the
	// middleware charge failed look-ups to (see ratelimit.Proxies). Empty:
	// the connection's peer.
	TrustedProxies ratelimit.Proxies
	// RefetchInterval is the shortest time between key-set fetches caused by
	// unknown key ids (default 10s).
	RefetchInterval time.Duration
	// HTTPClient fetches discovery, keys, introspection and userinfo. The
	// default client has a 10 second timeout.
	HTTPClient *http.Client
	// Realm is the realm in WWW-Authenticate challenges (default "tokenhook").
	Realm string
	// Now returns the current time (default time.Now); tests set it.
	Now func() time.Time
	// Observe, when set, is told the outcome of every validation (for
	// metrics). It runs on the caller's goroutine and must be fast.
	Observe func(Outcome)
}

// Outcome is how one validation ended, as Config.Observe is told.
type Outcome uint8

// The outcomes of a validation.
const (
	// OutcomeValidCached: a valid token found in the cache.
	OutcomeValidCached Outcome = iota
	// OutcomeValid: a token validated now (signature, or a provider look-up).
	OutcomeValid
	// OutcomeInvalid: a token refused (signature, issuer, audience, format).
	OutcomeInvalid
	// OutcomeExpired: a token past its expiry.
	OutcomeExpired
	// OutcomeIntrospectionRefused: an opaque token the provider called
	// inactive (or a cached refusal of one).
	OutcomeIntrospectionRefused
	// OutcomeRateLimited: refused without a look-up, the client address
	// being over its budget of failed look-ups.
	OutcomeRateLimited
	// OutcomeUnavailable: the provider could not be asked.
	OutcomeUnavailable
	// OutcomeMissing: no token.
	OutcomeMissing
	// NumOutcomes is the number of outcomes (for tables indexed by Outcome).
	NumOutcomes
)

var outcomeNames = [NumOutcomes]string{"valid_cached", "valid", "invalid", "expired", "introspection_refused", "rate_limited", "unavailable", "missing"}

// String is the outcome's metric label: valid_cached, valid, invalid,
// expired, introspection_refused, rate_limited, unavailable or missing.
func (o Outcome) String() string {
	if o < NumOutcomes {
		return outcomeNames[o]
	}
	return "unknown"
}

// outcomeOf classifies a validation's error; lookedUp says whether the token
// went to the provider's look-up (introspection or userinfo).
func outcomeOf(err error, lookedUp bool) Outcome {
	switch {
	case errors.Is(err, ErrNoToken):
		return OutcomeMissing
	case errors.Is(err, ErrExpired):
		return OutcomeExpired
	case errors.Is(err, ErrRateLimited):
		return OutcomeRateLimited
	case errors.Is(err, ErrInvalidToken) && lookedUp:
		return OutcomeIntrospectionRefused
	case errors.Is(err, ErrInvalidToken), errors.Is(err, ErrInvalidRequest), errors.Is(err, ErrInsufficientScope):
		return OutcomeInvalid
	}
	return OutcomeUnavailable
}

// Claims are the validated claims of an access token. A Claims value returned
// by Verify may be shared with other callers through the cache: treat it as
// read-only.
type Claims struct {
	Subject           string
	Issuer            string
	Audience          []string
	Email             string
	EmailVerified     bool
	PreferredUsername string
	Name              string
	Groups            []string
	// Scope is the space-separated scope ("scope", or "scp" as a list).
	Scope string
	// Expiry is the token's expiry; zero when the provider did not say.
	Expiry time.Time
	// JKT is cnf.jkt (RFC 9449 §6): the thumbprint of the key a DPoP-bound
	// token is bound to; "" for a bearer token. A bound token is only good
	// with a DPoP proof of that key (see DPoPOptions).
	JKT string
	// Raw holds every claim as decoded from JSON.
	Raw map[string]any
}

// Errors returned by Verify and the middleware. Use errors.Is to tell them
// apart; WriteError maps them to RFC 6750 responses.
var (
	// ErrNoToken: the request carries no bearer token (401, no error code).
	ErrNoToken = errors.New("no bearer token")
	// ErrInvalidRequest: the Authorization header is malformed (400 invalid_request).
	ErrInvalidRequest = errors.New("malformed authorization header")
	// ErrInvalidToken: the token is not valid (401 invalid_token).
	ErrInvalidToken = errors.New("invalid token")
	// ErrExpired: the token has expired. It wraps ErrInvalidToken, and its
	// message contains "JWT Expired", the text Dash's renderer looks for.
	ErrExpired = fmt.Errorf("%w: JWT Expired", ErrInvalidToken)
	// ErrBoundToken: a DPoP-bound token (cnf.jkt) came as a bearer, without
	// a proof of its key (RFC 9449 §7.1; 401 invalid_token with a DPoP
	// challenge). It wraps ErrInvalidToken.
	ErrBoundToken = fmt.Errorf("%w: DPoP-bound token used as a bearer token", ErrInvalidToken)
	// ErrInsufficientScope: the token is valid but an authorization rule is
	// not met (403 insufficient_scope).
	ErrInsufficientScope = errors.New("insufficient scope")
	// ErrRateLimited: the client caused too many failed provider look-ups
	// recently; the token was not checked (429).
	ErrRateLimited = errors.New("rate limited")
	// ErrUnavailable: the provider's keys or endpoints could not be reached
	// and nothing usable is cached (503).
	ErrUnavailable = errors.New("identity provider unavailable")
)

// Verifier validates access tokens. It is safe for concurrent use.
type Verifier struct {
	cfg     Config
	client  *http.Client
	now     func() time.Time
	cache   *cache
	lookups *lookups
	keys    *keySet
	algs    []jose.SignatureAlgorithm // union accepted at parse time
	pinned  map[string]bool           // Config.Algorithms, nil when unset

	discMu      sync.Mutex
	discovered  bool
	lastDiscTry time.Time
	ep          endpoints
	epMu        sync.RWMutex
}

type endpoints struct {
	jwks, introspection, userinfo string
}

// asymmetric lists every algorithm the verifier can ever accept.
var asymmetric = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// New returns a Verifier for cfg. It tries OpenID discovery at once, but a
// provider that is down does not make New fail: discovery is retried (at most
// every few seconds) when tokens arrive, and Ready reports the state.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("verify: Issuer is required")
	}
	cfg.Leeway = cmp.Or(cfg.Leeway, DefaultLeeway)
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		return nil, fmt.Errorf("verify: Leeway %s out of range [0, %s]", cfg.Leeway, MaxLeeway)
	}
	cfg.GroupsClaim = cmp.Or(cfg.GroupsClaim, DefaultGroupsClaim)
	cfg.CacheSize = cmp.Or(cfg.CacheSize, DefaultCacheSize)
	cfg.CacheTTL = positiveOr(cfg.CacheTTL, DefaultCacheTTL)
	cfg.RefetchInterval = positiveOr(cfg.RefetchInterval, DefaultRefetchInterval)
	mode, err := ParseIntrospectMode(string(cfg.Introspect))
	if err != nil {
		return nil, err
	}
	cfg.Introspect = mode
	cfg.NegativeCacheTTL = cmp.Or(cfg.NegativeCacheTTL, DefaultNegativeCacheTTL)
	cfg.NegativeCacheSize = positiveOr(cfg.NegativeCacheSize, DefaultNegativeCacheSize)
	cfg.LookupRate = positiveOr(cfg.LookupRate, DefaultLookupRate)
	cfg.LookupBurst = positiveOr(cfg.LookupBurst, DefaultLookupBurst)
	cfg.Realm = cmp.Or(cfg.Realm, DefaultRealm)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: defaultHTTPTimeout}
	}
	v := &Verifier{cfg: cfg, client: client, now: cfg.Now}
	if len(cfg.Algorithms) > 0 {
		v.pinned = map[string]bool{}
		for _, a := range cfg.Algorithms {
			ok := false
			for _, s := range asymmetric {
				if string(s) == a {
					ok = true
				}
			}
			if !ok {
				return nil, fmt.Errorf("verify: algorithm %q is not an accepted asymmetric signature algorithm", a)
			}
			v.pinned[a] = true
			v.algs = append(v.algs, jose.SignatureAlgorithm(a))
		}
	} else {
		v.algs = asymmetric
	}
	if cfg.CacheSize > 0 {
		v.cache = newCache(cfg.CacheSize)
	}
	v.ep = endpoints{jwks: cfg.JWKSURL, introspection: cfg.IntrospectionURL, userinfo: cfg.UserinfoURL}
	v.keys = newKeySet(v)
	v.lookups = newLookups(cfg)
	if cfg.SkipDiscovery {
		v.discovered = true
		if cfg.JWKSURL == "" && cfg.KeySet == nil && cfg.IntrospectionURL == "" && cfg.UserinfoURL == "" {
			return nil, errors.New("verify: SkipDiscovery needs KeySet, JWKSURL, IntrospectionURL or UserinfoURL")
		}
	} else {
		// Best effort: a provider that is down now is retried later.
		_ = v.discover(ctx)
	}
	return v, nil
}

// Realm is the realm used in WWW-Authenticate challenges.
func (v *Verifier) Realm() string { return v.cfg.Realm }

// Ready reports whether the provider's metadata and, for JWTs, its keys have
// been loaded. Servers can use it for readiness probes.
func (v *Verifier) Ready(ctx context.Context) error {
	if err := v.discover(ctx); err != nil {
		return err
	}
	ep := v.endpoints()
	if ep.jwks != "" && !v.keys.loaded() {
		if err := v.keys.refresh(ctx, true); err != nil {
			return err
		}
	}
	return nil
}

func (v *Verifier) endpoints() endpoints {
	v.epMu.RLock()
	defer v.epMu.RUnlock()
	return v.ep
}

// discover fetches the OpenID configuration once; failed attempts are retried
// at most every two seconds.
func (v *Verifier) discover(ctx context.Context) error {
	v.discMu.Lock()
	defer v.discMu.Unlock()
	if v.discovered {
		return nil
	}
	now := v.now()
	if !v.lastDiscTry.IsZero() && now.Sub(v.lastDiscTry) < 2*time.Second {
		return fmt.Errorf("%w: discovery of %s failed recently", ErrUnavailable, v.cfg.Issuer)
	}
	v.lastDiscTry = now
	u := strings.TrimSuffix(v.cfg.Issuer, "/") + "/.well-known/openid-configuration"
	var doc struct {
		Issuer        string `json:"issuer"`
		JWKSURI       string `json:"jwks_uri"`
		Introspection string `json:"introspection_endpoint"`
		Userinfo      string `json:"userinfo_endpoint"`
	}
	if err := v.getJSON(ctx, u, &doc); err != nil {
		return fmt.Errorf("%w: discovery: %w", ErrUnavailable, err)
	}
	if doc.Issuer != v.cfg.Issuer {
		return fmt.Errorf("%w: discovery document names issuer %q, want %q", ErrUnavailable, doc.Issuer, v.cfg.Issuer)
	}
	v.epMu.Lock()
	if v.ep.jwks == "" {
		v.ep.jwks = doc.JWKSURI
	}
	if v.ep.introspection == "" {
		v.ep.introspection = doc.Introspection
	}
	if v.ep.userinfo == "" {
		v.ep.userinfo = doc.Userinfo
	}
	v.epMu.Unlock()
	v.discovered = true
	return nil
}

func (v *Verifier) getJSON(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("build request for %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: status %d", u, resp.StatusCode)
	}
	if err := decodeLimited(resp, out); err != nil {
		return fmt.Errorf("get %s: %w", u, err)
	}
	return nil
}

// Verify validates token and returns its claims. Errors wrap one of the
// package's Err values; messages never contain the token. It is VerifyFrom
// without a client address (no per-client budget of failed look-ups).
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	return v.VerifyFrom(ctx, token, "")
}

// VerifyFrom is Verify for a token presented by the client at address
// client (an IP address, an IPv6 client by its /64: see
// ratelimit.Proxies.Client): a client whose tokens the provider refused too
// often recently gets ErrRateLimited for tokens the verifier does not know
// yet, without a provider call.
func (v *Verifier) VerifyFrom(ctx context.Context, token, client string) (*Claims, error) {
	c, cached, lookedUp, err := v.verifyFrom(ctx, token, client)
	if v.cfg.Observe != nil {
		switch {
		case err != nil:
			v.cfg.Observe(outcomeOf(err, lookedUp))
		case cached:
			v.cfg.Observe(OutcomeValidCached)
		default:
			v.cfg.Observe(OutcomeValid)
		}
	}
	return c, err
}

// verifyFrom is VerifyFrom; it also reports whether the answer came from the
// cache and whether the token went to the provider's look-up.
func (v *Verifier) verifyFrom(ctx context.Context, token, client string) (c *Claims, cached, lookedUp bool, err error) {
	if token == "" {
		return nil, false, false, ErrNoToken
	}
	if len(token) > MaxTokenSize {
		return nil, false, false, fmt.Errorf("%w: token longer than %d bytes", ErrInvalidToken, MaxTokenSize)
	}
	now := v.now()
	key := sha256.Sum256([]byte(token))
	if v.cache != nil {
		if c, ok := v.cache.get(key, now); ok {
			return c, true, false, nil
		}
	}
	switch {
	case isJWTShaped(token) && v.cfg.Introspect != IntrospectAlways:
		c, err = v.verifyJWT(ctx, token, now)
	case v.cfg.Introspect == IntrospectNever:
		return nil, false, false, fmt.Errorf("%w: not a JWT (opaque tokens are not introspected)", ErrInvalidToken)
	default:
		lookedUp = true
		c, err = v.lookups.do(ctx, key, client, now, func(ctx context.Context) (*Claims, error) {
			return v.lookup(ctx, token, now)
		})
	}
	if err != nil {
		return nil, false, lookedUp, err
	}
	if v.cache != nil {
		until := now.Add(v.cfg.CacheTTL)
		if !c.Expiry.IsZero() && c.Expiry.Before(until) {
			until = c.Expiry
		}
		v.cache.put(key, c, now, until)
	}
	return c, false, lookedUp, nil
}

// lookup asks the provider about token: introspection, else userinfo.
func (v *Verifier) lookup(ctx context.Context, token string, now time.Time) (*Claims, error) {
	if !v.discoveredOrTry(ctx) {
		return nil, fmt.Errorf("%w: provider metadata not loaded", ErrUnavailable)
	}
	ep := v.endpoints()
	switch {
	case ep.introspection != "":
		return v.introspect(ctx, ep.introspection, token, now)
	case ep.userinfo != "":
		return v.userinfo(ctx, ep.userinfo, token)
	}
	return nil, fmt.Errorf("%w: not a JWT and the provider offers no introspection or userinfo endpoint", ErrInvalidToken)
}

func (v *Verifier) discoveredOrTry(ctx context.Context) bool {
	return v.discover(ctx) == nil
}

// isJWTShaped reports whether token looks like a JWS compact serialization:
// three dot-separated parts whose header starts like a JSON object.
func isJWTShaped(token string) bool {
	return strings.Count(token, ".") == 2 && strings.HasPrefix(token, "eyJ")
}

func (v *Verifier) verifyJWT(ctx context.Context, token string, now time.Time) (*Claims, error) {
	jws, err := jose.ParseSignedCompact(token, v.algs)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidToken, joseReason(err))
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: want exactly one signature", ErrInvalidToken)
	}
	h := jws.Signatures[0].Protected
	if v.cfg.RequireATJWT {
		typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
		if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
			return nil, fmt.Errorf("%w: typ header is not at+jwt", ErrInvalidToken)
		}
	}
	var payload []byte
	if v.cfg.KeySet != nil {
		payload, err = v.cfg.KeySet.VerifySignature(ctx, token)
	} else {
		payload, err = v.keys.verify(ctx, jws)
	}
	if err != nil {
		return nil, err
	}
	raw := map[string]any{}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, fmt.Errorf("%w: claims are not a JSON object", ErrInvalidToken)
	}
	c, err := ClaimsFromMap(raw, v.cfg.GroupsClaim)
	if err != nil {
		return nil, err
	}
	if c.Issuer != v.cfg.Issuer {
		return nil, fmt.Errorf("%w: wrong issuer", ErrInvalidToken)
	}
	if err := v.checkAudience(c.Audience, true); err != nil {
		return nil, err
	}
	if _, ok := raw["exp"]; !ok {
		return nil, fmt.Errorf("%w: no exp claim", ErrInvalidToken)
	}
	if err := v.checkTimes(raw, c, now); err != nil {
		return nil, err
	}
	return c, nil
}

func (v *Verifier) checkAudience(aud []string, required bool) error {
	if v.cfg.Audience == "" {
		return nil
	}
	if len(aud) == 0 && !required {
		return nil
	}
	for _, a := range aud {
		if a == v.cfg.Audience {
			return nil
		}
	}
	return fmt.Errorf("%w: audience does not contain %q", ErrInvalidToken, v.cfg.Audience)
}

func (v *Verifier) checkTimes(raw map[string]any, c *Claims, now time.Time) error {
	if !c.Expiry.IsZero() && now.After(c.Expiry.Add(v.cfg.Leeway)) {
		return ErrExpired
	}
	if nbf, ok := numericDate(raw["nbf"]); ok && now.Add(v.cfg.Leeway).Before(nbf) {
		return fmt.Errorf("%w: not valid yet (nbf)", ErrInvalidToken)
	}
	if _, present := raw["exp"]; present && c.Expiry.IsZero() {
		return fmt.Errorf("%w: exp is not a number", ErrInvalidToken)
	}
	return nil
}

func numericDate(x any) (time.Time, bool) {
	switch n := x.(type) {
	case float64:
		if n < 0 || n > 1e11 {
			return time.Time{}, false
		}
		sec := int64(n)
		return time.Unix(sec, int64((n-float64(sec))*1e9)), true
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			return time.Time{}, false
		}
		return numericDate(f)
	}
	return time.Time{}, false
}

// joseReason turns a go-jose parse error into a short reason without echoing
// any part of the token.
func joseReason(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unexpected signature algorithm"):
		return "signature algorithm not allowed"
	case strings.Contains(msg, "compact JWS format must have three parts"):
		return "not a compact JWS"
	case errors.Is(err, base64.CorruptInputError(0)) || strings.Contains(msg, "illegal base64"):
		return "bad base64"
	default:
		return "malformed JWT"
	}
}

func decodeLimited(resp *http.Response, out any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, maxDocumentSize))
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("decode JSON: %w", err)
	}
	return nil
}

// positiveOr is v when it is positive, else the default d.
func positiveOr[T int | int64 | float64 | time.Duration](v, d T) T {
	if v > 0 {
		return v
	}
	return d
}
