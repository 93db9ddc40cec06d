package dpop_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tokenhook/tokenhook/server/dpop"
)

const (
	issuer   = "https://app.example.com"
	audience = "https://app.example.com"
)

func TestMintVerify(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]any{"ES256": ecKey, "EdDSA": edKey} {
		t.Run(name, func(t *testing.T) {
			clk := &clock{t0}
			tk := newTokensWithKey(t, clk, issuer, key)
			jkt := newClient(t).jkt(t)
			raw, exp, err := tk.Mint(dpop.Grant{Subject: "alice", Audience: []string{audience}, JKT: jkt,
				Claims: map[string]any{"email": "alice@example.com", "groups": []string{"a"}}})
			if err != nil {
				t.Fatal(err)
			}
			if exp.After(t0.Add(dpop.MaxTokenTTL)) || exp.Before(t0.Add(dpop.MaxTokenTTL-time.Second)) {
				t.Fatalf("expiry %v", exp)
			}
			c, err := tk.Verify(raw, audience, jkt)
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != "alice" || c.JKT != jkt || c.Issuer != issuer || c.ID == "" || c.Raw["email"] != "alice@example.com" || !c.Expiry.Equal(exp) {
				t.Fatalf("claims %+v", c)
			}
			clk.t = exp.Add(6 * time.Second)
			if _, err := tk.Verify(raw, audience, jkt); !errors.Is(err, dpop.ErrInvalidToken) {
				t.Fatalf("expired token: %v", err)
			}
		})
	}
}

func TestVerifyTokenRefuses(t *testing.T) {
	clk := &clock{t0}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tk := newTokensWithKey(t, clk, issuer, key)
	jkt, otherJKT := newClient(t).jkt(t), newClient(t).jkt(t)
	mint := func(tk *dpop.Tokens, aud string) string {
		raw, _, err := tk.Mint(dpop.Grant{Subject: "alice", Audience: []string{aud}, JKT: jkt})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	good := mint(tk, audience)
	// Tokens with our key and issuer but without cnf.
	unboundWithType := func(typ jose.ContentType) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key}, (&jose.SignerOptions{}).WithType(typ))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: issuer, Subject: "alice", Audience: jwt.Audience{audience},
			IssuedAt: jwt.NewNumericDate(t0), Expiry: jwt.NewNumericDate(t0.Add(time.Minute))}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	assertion := unboundWithType("tokenhook-session+jwt") // as server/assertion.go signs
	unbound := unboundWithType(dpop.TokenType)
	tests := []struct {
		name, token, aud, jkt string
	}{
		{"other key's proof", good, audience, otherJKT},
		{"no thumbprint", good, audience, ""},
		{"other audience", good, "https://other.example", jkt},
		{"other issuer", mint(newTokensWithKey(t, clk, "https://evil.example", key), audience), audience, jkt},
		{"other signing key", mint(newTokens(t, clk, issuer), audience), audience, jkt},
		{"session assertion", assertion, audience, jkt},
		{"unbound", unbound, audience, jkt},
		{"tampered", good[:len(good)-4] + "AAAA", audience, jkt},
		{"oversized", good + strings.Repeat("A", dpop.MaxTokenSize), audience, jkt},
		{"garbage", "not a token", audience, jkt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tk.Verify(tt.token, tt.aud, tt.jkt); !errors.Is(err, dpop.ErrInvalidToken) {
				t.Fatalf("Verify = %v", err)
			}
		})
	}
}

// TestMintNotAfter: a token never outlives Grant.NotAfter (the credentials
// it stands for), nor MaxTokenTTL.
func TestMintNotAfter(t *testing.T) {
	tk := newTokens(t, &clock{t0}, issuer)
	jkt := newClient(t).jkt(t)
	for _, tt := range []struct {
		notAfter, want time.Time
	}{
		{time.Time{}, t0.Add(dpop.MaxTokenTTL)},
		{t0.Add(time.Minute), t0.Add(time.Minute)},
		{t0.Add(time.Hour), t0.Add(dpop.MaxTokenTTL)},
	} {
		_, exp, err := tk.Mint(dpop.Grant{Subject: "a", Audience: []string{audience}, JKT: jkt, NotAfter: tt.notAfter})
		if err != nil || !exp.Equal(tt.want) {
			t.Errorf("NotAfter %v: expiry %v, %v; want %v", tt.notAfter, exp, err, tt.want)
		}
	}
}

func TestMintRefuses(t *testing.T) {
	tk := newTokens(t, &clock{t0}, issuer)
	jkt := newClient(t).jkt(t)
	tests := []struct {
		name string
		g    dpop.Grant
	}{
		{"no subject", dpop.Grant{Audience: []string{audience}, JKT: jkt}},
		{"no audience", dpop.Grant{Subject: "a", JKT: jkt}},
		{"no thumbprint", dpop.Grant{Subject: "a", Audience: []string{audience}}},
		{"cnf override", dpop.Grant{Subject: "a", Audience: []string{audience}, JKT: jkt, Claims: map[string]any{"cnf": map[string]string{"jkt": "x"}}}},
		{"exp override", dpop.Grant{Subject: "a", Audience: []string{audience}, JKT: jkt, Claims: map[string]any{"exp": 1 << 40}}},
		{"NotAfter passed", dpop.Grant{Subject: "a", Audience: []string{audience}, JKT: jkt, NotAfter: t0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if raw, _, err := tk.Mint(tt.g); err == nil {
				t.Fatalf("Mint = %q", raw)
			}
		})
	}
}

func TestNewTokensConfig(t *testing.T) {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	tests := []struct {
		name string
		cfg  dpop.TokenConfig
		ok   bool
	}{
		{"Ed25519", dpop.TokenConfig{Issuer: issuer, Key: jose.JSONWebKey{Key: ed}}, true},
		{"five minutes", dpop.TokenConfig{Issuer: issuer, Key: jose.JSONWebKey{Key: ed}, TTL: 5 * time.Minute}, true},
		{"longer than five minutes", dpop.TokenConfig{Issuer: issuer, Key: jose.JSONWebKey{Key: ed}, TTL: 5*time.Minute + time.Second}, false},
		{"no issuer", dpop.TokenConfig{Key: jose.JSONWebKey{Key: ed}}, false},
		{"P-384", dpop.TokenConfig{Issuer: issuer, Key: jose.JSONWebKey{Key: p384}}, false},
		{"public key", dpop.TokenConfig{Issuer: issuer, Key: jose.JSONWebKey{Key: ed.Public()}}, false},
		{"HMAC secret", dpop.TokenConfig{Issuer: issuer, Key: jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef")}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := dpop.NewTokens(tt.cfg); (err == nil) != tt.ok {
				t.Fatalf("NewTokens: %v", err)
			}
		})
	}
}
