package dpop_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/dpop"
)

// t0 is the tests' clock.
var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// clock is a settable clock for Config.Now and TokenConfig.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// client holds a proof key, as a DPoP client does.
type client struct {
	key crypto.Signer
	alg jose.SignatureAlgorithm
}

func newClient(t testing.TB) *client {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &client{key: k, alg: jose.ES256}
}

func newEdClient(t testing.TB) *client {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &client{key: k, alg: jose.EdDSA}
}

// jkt is the thumbprint of the client's key.
func (c *client) jkt(t testing.TB) string {
	s, err := dpop.Thumbprint(&jose.JSONWebKey{Key: c.key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claims are a proof's claims for method and URL at now, with ath for token
// when it is not "".
func claims(method, u string, now time.Time, token string) map[string]any {
	c := map[string]any{"jti": randomID(), "htm": method, "htu": u, "iat": now.Unix()}
	if token != "" {
		c["ath"] = ath(token)
	}
	return c
}

// sign makes a proof with header fields (typ and jwk are set unless extra
// sets them; a nil value in extra removes a field).
func (c *client) sign(t testing.TB, claims map[string]any, extra map[jose.HeaderKey]any) string {
	t.Helper()
	hdr := map[jose.HeaderKey]any{jose.HeaderType: dpop.ProofType, "jwk": jose.JSONWebKey{Key: c.key.Public()}}
	for k, v := range extra {
		if v == nil {
			delete(hdr, k)
		} else {
			hdr[k] = v
		}
	}
	return testenv.SignJWT(t, jose.SigningKey{Algorithm: c.alg, Key: c.key}, &jose.SignerOptions{ExtraHeaders: hdr}, claims)
}

// proof makes a valid proof for method and URL at now.
func (c *client) proof(t testing.TB, method, u string, now time.Time, token string) string {
	return c.sign(t, claims(method, u, now, token), nil)
}

// unsigned makes an alg "none" proof with the client's public key.
func (c *client) unsigned(t testing.TB, claims map[string]any) string {
	t.Helper()
	h, err := json.Marshal(map[string]any{"alg": "none", "typ": dpop.ProofType, "jwk": jose.JSONWebKey{Key: c.key.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

func ath(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newVerifier returns a Verifier on clk with cfg's other fields.
func newVerifier(t testing.TB, clk *clock, cfg dpop.Config) *dpop.Verifier {
	t.Helper()
	cfg.Now = clk.now
	v, err := dpop.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// newTokens returns Tokens on clk signing with a fresh Ed25519 key.
func newTokens(t testing.TB, clk *clock, issuer string) *dpop.Tokens {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return newTokensWithKey(t, clk, issuer, k)
}

func newTokensWithKey(t testing.TB, clk *clock, issuer string, key any) *dpop.Tokens {
	t.Helper()
	tk, err := dpop.NewTokens(dpop.TokenConfig{Issuer: issuer, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func nonceKey() []byte {
	return []byte("0123456789abcdef0123456789abcdef")
}
