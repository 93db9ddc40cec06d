package dpop

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestTokenCacheCannotOutliveToken: a cached token is refused once it
// expires, and is cached only after it passed every check.
func TestTokenCacheCannotOutliveToken(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	tk, err := NewTokens(TokenConfig{Issuer: "https://i.example", Key: jose.JSONWebKey{Key: key}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	raw, exp, err := tk.Mint(Grant{Subject: "s", Audience: []string{"a"}, JKT: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Verify(raw, "other", "k"); !errors.Is(err, ErrInvalidToken) || len(tk.cache.m) != 0 {
		t.Fatalf("wrong audience: %v, %d cached", err, len(tk.cache.m))
	}
	if _, err := tk.Verify(raw, "a", "k"); err != nil || len(tk.cache.m) != 1 {
		t.Fatalf("Verify: %v, %d cached", err, len(tk.cache.m))
	}
	if _, err := tk.Verify(raw, "other", "k"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("cached token, wrong audience: %v", err)
	}
	now = exp.Add(tokenLeeway + time.Second)
	if _, err := tk.Verify(raw, "a", "k"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("cached token after expiry: %v", err)
	}
}

// TestTokenCacheBounded: a full cache drops expired entries first, and is
// emptied when every entry is alive.
func TestTokenCacheBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	entry := func(exp time.Time) *tokenEntry { return &tokenEntry{claims: &TokenClaims{Expiry: exp}} }
	var c tokenCache
	for i := range tokenCacheSize {
		exp := now.Add(-time.Minute)
		if i == 0 {
			exp = now.Add(time.Minute)
		}
		c.put([32]byte{byte(i), byte(i >> 8)}, entry(exp), now)
	}
	c.put([32]byte{0xff, 0xff, 1}, entry(now.Add(time.Minute)), now)
	if len(c.m) != 2 {
		t.Fatalf("after dropping expired entries: %d left, want 2", len(c.m))
	}
	for i := range tokenCacheSize {
		c.put([32]byte{byte(i), byte(i >> 8), 2}, entry(now.Add(time.Minute)), now)
	}
	if len(c.m) > tokenCacheSize {
		t.Fatalf("%d entries, bound %d", len(c.m), tokenCacheSize)
	}
}
