package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// KeySet checks JWT signatures; it has the shape of go-oidc's KeySet. The
// Verifier parses the token and checks every claim; a KeySet only decides
// whether a key it trusts signed the token and returns the signed payload.
// Its errors should wrap ErrInvalidToken (bad signature) or ErrUnavailable
// (keys not reachable). Implementations must be safe for concurrent use.
type KeySet interface {
	VerifySignature(ctx context.Context, jwt string) (payload []byte, err error)
}

// StaticKeySet is a KeySet of public keys known in advance (tests, or
// providers whose keys are configured by hand). Each key verifies only the
// algorithms of its type: RSA keys (2048 bits or more) RS*/PS*, ECDSA keys
// the ES* of their curve, Ed25519 keys EdDSA.
type StaticKeySet struct {
	PublicKeys []crypto.PublicKey
}

// VerifySignature implements KeySet.
func (s *StaticKeySet) VerifySignature(_ context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(jwt, asymmetric)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidToken, joseReason(err))
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: want exactly one signature", ErrInvalidToken)
	}
	alg := jws.Signatures[0].Protected.Algorithm
	for _, k := range s.PublicKeys {
		if !keyFits(k, alg) {
			continue
		}
		if payload, err := jws.Verify(k); err == nil {
			return payload, nil
		}
	}
	return nil, fmt.Errorf("%w: bad signature", ErrInvalidToken)
}

// keySet holds the issuer's public keys. Lookups read an immutable snapshot;
// an unknown key id triggers a refetch, at most once per RefetchInterval (once
// per second while no keys were ever loaded). A failed fetch keeps the old keys.
type keySet struct {
	v       *Verifier
	current atomic.Pointer[keySnapshot]

	fetchMu   sync.Mutex // one fetch at a time
	lastFetch time.Time  // guarded by fetchMu
}

type keySnapshot struct {
	byKID map[string][]jose.JSONWebKey
	all   []jose.JSONWebKey
}

func newKeySet(v *Verifier) *keySet { return &keySet{v: v} }

func (s *keySet) loaded() bool { return s.current.Load() != nil }

// verify checks jws against the issuer's keys and returns its payload.
func (s *keySet) verify(ctx context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	if !s.v.discoveredOrTry(ctx) && s.v.endpoints().jwks == "" {
		return nil, fmt.Errorf("%w: provider metadata not loaded", ErrUnavailable)
	}
	h := jws.Signatures[0].Protected
	keys, err := s.lookup(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if payload, err := jws.Verify(k); err == nil {
			return payload, nil
		}
	}
	return nil, fmt.Errorf("%w: bad signature", ErrInvalidToken)
}

// lookup returns the public keys that may verify a token with the given key
// id and algorithm.
func (s *keySet) lookup(ctx context.Context, kid, alg string) ([]any, error) {
	if keys := s.match(kid, alg); len(keys) > 0 {
		return keys, nil
	}
	if err := s.refresh(ctx, false); err != nil && !s.loaded() {
		return nil, err
	}
	if keys := s.match(kid, alg); len(keys) > 0 {
		return keys, nil
	}
	if kid != "" && s.hasKID(kid) {
		return nil, fmt.Errorf("%w: algorithm %s does not fit key %q", ErrInvalidToken, alg, kid)
	}
	return nil, fmt.Errorf("%w: unknown signing key", ErrInvalidToken)
}

func (s *keySet) hasKID(kid string) bool {
	snap := s.current.Load()
	return snap != nil && len(snap.byKID[kid]) > 0
}

func (s *keySet) match(kid, alg string) []any {
	snap := s.current.Load()
	if snap == nil {
		return nil
	}
	cands := snap.all
	if kid != "" {
		cands = snap.byKID[kid]
	}
	var out []any
	for i := range cands {
		if s.v.keyAllows(&cands[i], alg) {
			out = append(out, cands[i].Key)
		}
	}
	return out
}

// keyAllows pins the algorithm to the key type (and to the JWK's own "alg"
// and to Config.Algorithms when set).
func (v *Verifier) keyAllows(k *jose.JSONWebKey, alg string) bool {
	if k.Use != "" && k.Use != "sig" {
		return false
	}
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	if v.pinned != nil && !v.pinned[alg] {
		return false
	}
	return keyFits(k.Key, alg)
}

// keyFits pins algorithms to key types.
func keyFits(key any, alg string) bool {
	switch pk := key.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return pk.N.BitLen() >= 2048
		}
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return pk.Curve == elliptic.P256()
		case "ES384":
			return pk.Curve == elliptic.P384()
		case "ES512":
			return pk.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// refresh fetches the key set unless one was fetched too recently (force
// skips the rate limit only while no keys are loaded).
func (s *keySet) refresh(ctx context.Context, force bool) error {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	now := s.v.now()
	interval := s.v.cfg.RefetchInterval
	if !s.loaded() {
		interval = time.Second
		if force {
			interval = 0
		}
	}
	if !s.lastFetch.IsZero() && now.Sub(s.lastFetch) < interval {
		return fmt.Errorf("%w: key set fetched recently", ErrUnavailable)
	}
	s.lastFetch = now
	u := s.v.endpoints().jwks
	if u == "" {
		return fmt.Errorf("%w: no jwks_uri known", ErrUnavailable)
	}
	var set jose.JSONWebKeySet
	if err := s.v.getJSON(ctx, u, &set); err != nil {
		return fmt.Errorf("%w: key set: %w", ErrUnavailable, err)
	}
	snap := &keySnapshot{byKID: map[string][]jose.JSONWebKey{}}
	for _, k := range set.Keys {
		if !k.IsPublic() || !k.Valid() {
			continue
		}
		snap.all = append(snap.all, k)
		snap.byKID[k.KeyID] = append(snap.byKID[k.KeyID], k)
	}
	if len(snap.all) == 0 {
		return fmt.Errorf("%w: key set at %s holds no usable public key", ErrUnavailable, u)
	}
	s.current.Store(snap)
	return nil
}
