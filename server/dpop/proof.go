// Package dpop binds access tokens to a key the client holds (OAuth 2.0
// DPoP, RFC 9449): it verifies DPoP proofs, and mints and checks the
// short-lived access tokens bound to a proof's key.
//
// A resource request carries `Authorization: DPoP <token>` and a `DPoP` proof
// signed by the client's key. Verifier.Verify checks the proof against the
// request and returns the key's thumbprint; Tokens.Verify checks that the
// token is ours, alive, and bound (cnf.jkt) to that thumbprint. Middleware
// does both for an http.Handler.
package dpop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tokenhook/tokenhook/server/once"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// ProofHeader is the request header that carries a DPoP proof.
const ProofHeader = "DPoP"

// NonceHeader is the response header that carries a server nonce.
const NonceHeader = "DPoP-Nonce"

// ProofType is the typ header every proof must have.
const ProofType = "dpop+jwt"

// MaxProofSize bounds a proof in bytes. An ES256 proof is about 600 bytes; a
// 4096-bit RSA key makes one of about 2.5 KB.
const MaxProofSize = 4 << 10

// maxJTI bounds the jti claim; a UUID or 16 random bytes take well under it.
const maxJTI = 128

// minRSABits is the smallest RSA modulus accepted in a proof key.
const minRSABits = 2048

// Defaults of Config.
const (
	// DefaultWindow is how far a proof's iat may lie from the server's clock,
	// either way.
	DefaultWindow = 60 * time.Second
	// DefaultLeeway is added to the window for clock skew.
	DefaultLeeway = 5 * time.Second
)

// DefaultAlgorithms are the proof algorithms accepted when Config.Algorithms
// is nil: ES256 (what browsers make with WebCrypto) and EdDSA.
var DefaultAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA}

// supported are the algorithms Config.Algorithms may list: asymmetric only
// ("none" and HMAC can never sign a proof).
var supported = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.EdDSA, jose.PS256, jose.RS256}

// Config configures a Verifier. The zero value verifies ES256 and EdDSA proofs
// within ±60 s (plus 5 s leeway), with an in-memory replay cache and no nonce.
type Config struct {
	// Algorithms are the accepted proof algorithms, a subset of ES256,
	// ES384, ES512, EdDSA, PS256 and RS256. Nil means DefaultAlgorithms.
	Algorithms []jose.SignatureAlgorithm
	// Window is how far a proof's iat may lie before or after now; zero
	// means DefaultWindow.
	Window time.Duration
	// Leeway is added to Window for clock skew; zero means DefaultLeeway.
	Leeway time.Duration
	// Replay remembers used proofs (jti per key) for Window+Leeway on each
	// side of iat. Nil means a once.NewMemory(DefaultReplayCacheSize);
	// with several replicas use one shared store.
	Replay ReplayCache
	// Nonces, when set, makes every proof carry a nonce these issued
	// (RFC 9449 §9). Nil means no nonce is required.
	Nonces *Nonces
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier checks DPoP proofs. It is safe for concurrent use.
type Verifier struct {
	algs     []jose.SignatureAlgorithm
	algNames string // space-separated, for the challenge
	window   time.Duration
	replay   ReplayCache
	nonces   *Nonces
	now      func() time.Time
	headers  headerCache
}

// NewVerifier returns a Verifier for cfg, or an error naming what in cfg is
// wrong.
func NewVerifier(cfg Config) (*Verifier, error) {
	v := &Verifier{algs: cfg.Algorithms, window: cfg.Window, replay: cfg.Replay, nonces: cfg.Nonces, now: cfg.Now}
	if v.algs == nil {
		v.algs = DefaultAlgorithms
	}
	if len(v.algs) == 0 {
		return nil, errors.New("dpop: no proof algorithms")
	}
	for _, a := range v.algs {
		if !slices.Contains(supported, a) {
			return nil, fmt.Errorf("dpop: proof algorithm %q is not supported", a)
		}
	}
	v.algNames = AlgNames(v.algs)
	if v.window < 0 || cfg.Leeway < 0 {
		return nil, errors.New("dpop: negative window or leeway")
	}
	if v.window == 0 {
		v.window = DefaultWindow
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	v.window += cfg.Leeway
	if v.replay == nil {
		v.replay = once.NewMemory(DefaultReplayCacheSize)
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// AlgNames is the value of a DPoP challenge's algs parameter (RFC 9449
// §7.1) for algs: their names, space-separated.
func AlgNames(algs []jose.SignatureAlgorithm) string {
	names := make([]string, len(algs))
	for i, a := range algs {
		names[i] = string(a)
	}
	return strings.Join(names, " ")
}

// AlgNames returns the accepted proof algorithms as a challenge's algs
// value (see the function AlgNames), computed once in NewVerifier.
func (v *Verifier) AlgNames() string { return v.algNames }

// Algorithms returns the accepted proof algorithms, for the
// dpop_signing_alg_values_supported metadata.
func (v *Verifier) Algorithms() []jose.SignatureAlgorithm {
	return append([]jose.SignatureAlgorithm(nil), v.algs...)
}

// Nonce returns the nonce a client should use now, or "" when v requires
// none. Servers may send it as DPoP-Nonce on any answer (RFC 9449 §8.2).
func (v *Verifier) Nonce() string {
	if v.nonces == nil {
		return ""
	}
	return v.nonces.Current()
}

// Request is what a proof must match.
type Request struct {
	// Method is the request's HTTP method.
	Method string
	// URL is the request URL as the client addressed it (the server's public
	// scheme, host and port, and the request path); its query and fragment
	// are ignored.
	URL string
	// AccessToken is the access token presented with the proof; "" when none
	// is (a token request), and then the proof must have no ath.
	AccessToken string
}

// Proof is a verified DPoP proof.
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof's key, base64url:
	// the value of cnf.jkt in tokens bound to that key.
	JKT string
	// Key is the proof's public key.
	Key jose.JSONWebKey
	// ID is the proof's jti.
	ID string
	// IssuedAt is the proof's iat.
	IssuedAt time.Time
	// Nonce is the proof's nonce, "" when it has none.
	Nonce string
}

// proofClaims are the claims of a proof (RFC 9449 §4.2).
type proofClaims struct {
	JTI   string   `json:"jti"`
	HTM   string   `json:"htm"`
	HTU   string   `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   string   `json:"ath"`
	Nonce string   `json:"nonce"`
}

// ProofFromRequest returns the request's one DPoP header. No header gives
// ErrInvalidProof ("missing"), and so do several.
func ProofFromRequest(r *http.Request) (string, error) {
	vals := r.Header.Values(ProofHeader)
	switch len(vals) {
	case 0:
		return "", fmt.Errorf("%w: DPoP proof missing", ErrInvalidProof)
	case 1:
		return vals[0], nil
	default:
		return "", fmt.Errorf("%w: more than one DPoP header", ErrInvalidProof)
	}
}

// VerifyRequest verifies the one DPoP header of r (see ProofFromRequest and
// Verify) for r's method and publicURL, the request URL as the client
// addressed it; accessToken is the token presented with it, "" at a token
// endpoint.
func (v *Verifier) VerifyRequest(r *http.Request, publicURL, accessToken string) (*Proof, error) {
	raw, err := ProofFromRequest(r)
	if err != nil {
		return nil, err
	}
	return v.Verify(r.Context(), raw, Request{Method: r.Method, URL: publicURL, AccessToken: accessToken})
}

// Verify checks proof against req per RFC 9449 §4.3 and records its jti, so a
// second Verify of the same proof fails. It returns the proof's key and
// thumbprint, or an error wrapping ErrInvalidProof, ErrUseNonce, or (when the
// replay cache fails) the cache's error.
func (v *Verifier) Verify(ctx context.Context, proof string, req Request) (*Proof, error) {
	p, c, err := v.parse(proof)
	if err != nil {
		return nil, err
	}
	now := v.now()
	if err := v.checkClaims(c, req, now); err != nil {
		return nil, err
	}
	p.ID, p.Nonce = c.JTI, c.Nonce
	p.IssuedAt = time.Unix(0, int64(*c.IAT*1e9))
	if v.nonces != nil && !v.nonces.Valid(c.Nonce) {
		return nil, fmt.Errorf("%w: use the DPoP-Nonce of this answer", ErrUseNonce)
	}
	// A proof is good from iat-window to iat+window: remember its jti until
	// the end of that span.
	ttl := max(p.IssuedAt.Add(v.window).Sub(now), time.Second)
	first, err := v.replay.UseOnce(ctx, replayKey(p.JKT, c.JTI), ttl)
	if err != nil {
		return nil, fmt.Errorf("dpop: replay cache: %w", err)
	}
	if !first {
		return nil, fmt.Errorf("%w: proof already used", ErrInvalidProof)
	}
	return p, nil
}

// parse checks the proof's form, header and signature and returns its key and
// claims. It does not look at the request, the clock or the replay cache.
// A header seen before in a proof with a good signature is not parsed again
// (see knownHeader); the signature and claims are checked every time.
func (v *Verifier) parse(proof string) (*Proof, *proofClaims, error) {
	if proof == "" {
		return nil, nil, fmt.Errorf("%w: DPoP proof missing", ErrInvalidProof)
	}
	if len(proof) > MaxProofSize {
		return nil, nil, fmt.Errorf("%w: DPoP proof too large", ErrInvalidProof)
	}
	hdr, _, _ := strings.Cut(proof, ".")
	hkey := sha256.Sum256([]byte(hdr))
	if h := v.headers.get(hkey); h != nil {
		return h.parse(proof, len(hdr))
	}
	jws, err := jose.ParseSignedCompact(proof, v.algs)
	if err != nil {
		var alg *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &alg) {
			return nil, nil, fmt.Errorf("%w: algorithm not allowed", ErrInvalidProof)
		}
		return nil, nil, fmt.Errorf("%w: not a signed JWT", ErrInvalidProof)
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != ProofType {
		return nil, nil, fmt.Errorf("%w: typ is not dpop+jwt", ErrInvalidProof)
	}
	if h.JSONWebKey == nil || !h.JSONWebKey.Valid() || !h.JSONWebKey.IsPublic() {
		return nil, nil, fmt.Errorf("%w: no public jwk in the header", ErrInvalidProof)
	}
	if !keyFits(h.JSONWebKey.Key, jose.SignatureAlgorithm(h.Algorithm)) {
		return nil, nil, fmt.Errorf("%w: jwk does not fit the algorithm", ErrInvalidProof)
	}
	payload, err := jws.Verify(h.JSONWebKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: bad signature", ErrInvalidProof)
	}
	var c proofClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, nil, fmt.Errorf("%w: claims are not a JSON object of the right types", ErrInvalidProof)
	}
	jkt, err := Thumbprint(h.JSONWebKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: jwk has no thumbprint", ErrInvalidProof)
	}
	// Headers with crit or b64 change how a JWS is verified: they always
	// take this path.
	if _, crit := h.ExtraHeaders["crit"]; !crit {
		if _, b64 := h.ExtraHeaders["b64"]; !b64 {
			v.headers.put(hkey, &knownHeader{alg: jose.SignatureAlgorithm(h.Algorithm), jwk: *h.JSONWebKey, jkt: jkt})
		}
	}
	return &Proof{JKT: jkt, Key: *h.JSONWebKey}, &c, nil
}

// checkClaims checks jti, htm, htu, iat and ath against req at now.
func (v *Verifier) checkClaims(c *proofClaims, req Request, now time.Time) error {
	switch {
	case c.JTI == "" || len(c.JTI) > maxJTI:
		return fmt.Errorf("%w: jti missing or too long", ErrInvalidProof)
	case c.HTM == "" || c.HTM != req.Method:
		return fmt.Errorf("%w: htm does not match the method", ErrInvalidProof)
	case c.IAT == nil:
		return fmt.Errorf("%w: iat missing", ErrInvalidProof)
	}
	if err := checkHTU(c.HTU, req.URL); err != nil {
		return err
	}
	// Compare in float seconds: iat may have a fraction, and a huge value
	// must not overflow a time.Duration.
	d := *c.IAT - float64(now.UnixNano())/1e9
	if d > v.window.Seconds() || d < -v.window.Seconds() {
		return fmt.Errorf("%w: iat outside the accepted window", ErrInvalidProof)
	}
	if req.AccessToken == "" {
		if c.ATH != "" {
			return fmt.Errorf("%w: ath without an access token", ErrInvalidProof)
		}
		return nil
	}
	sum := sha256.Sum256([]byte(req.AccessToken))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(c.ATH), []byte(want)) != 1 {
		return fmt.Errorf("%w: ath does not match the access token", ErrInvalidProof)
	}
	return nil
}

// checkHTU compares a proof's htu with the request URL after the
// normalisation of RFC 3986 §6.2.2 and §6.2.3 (case of scheme and host,
// default port, empty path). An htu with a query, fragment or userinfo is
// refused: RFC 9449 §4.2 defines it without them.
func checkHTU(htu, reqURL string) error {
	if htu == "" {
		return fmt.Errorf("%w: htu missing", ErrInvalidProof)
	}
	if strings.ContainsAny(htu, "?#") {
		return fmt.Errorf("%w: htu has a query or fragment", ErrInvalidProof)
	}
	got, ok := normalizeURL(htu)
	if !ok {
		return fmt.Errorf("%w: htu is not an http(s) URL", ErrInvalidProof)
	}
	want, ok := normalizeURL(reqURL)
	if !ok || got != want {
		return fmt.Errorf("%w: htu does not match the request URL", ErrInvalidProof)
	}
	return nil
}

// normalizeURL returns scheme://host[:port]/path of an absolute http(s) URL,
// scheme and host lower-cased, default port dropped, empty path made "/",
// query and fragment dropped.
func normalizeURL(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.User != nil || u.Opaque != "" || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	switch {
	case scheme != "http" && scheme != "https":
		return "", false
	case scheme == "http" && port == "80", scheme == "https" && port == "443":
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of k, base64url without
// padding: the value cnf.jkt holds for tokens bound to k.
func Thumbprint(k *jose.JSONWebKey) (string, error) {
	sum, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("dpop: thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// keyFits reports whether key is a public key of the type and size alg
// signs with.
func keyFits(key any, alg jose.SignatureAlgorithm) bool {
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		bits := map[jose.SignatureAlgorithm]int{jose.ES256: 256, jose.ES384: 384, jose.ES512: 521}[alg]
		return bits != 0 && k.Curve.Params().BitSize == bits
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	case *rsa.PublicKey:
		return (alg == jose.RS256 || alg == jose.PS256) && k.N.BitLen() >= minRSABits
	}
	return false
}

// replayKey names a proof in the replay cache: its key's thumbprint and jti,
// hashed to a fixed size.
func replayKey(jkt, jti string) string {
	sum := sha256.Sum256([]byte(jkt + "\x00" + jti))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
