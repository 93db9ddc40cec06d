package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"sync"

	jose "github.com/go-jose/go-jose/v4"
)

// headerCacheSize bounds the proof headers a Verifier remembers: one per
// client key in practice (a page keeps its key), under 1 KB each.
const headerCacheSize = 4096

// knownHeader is a proof header that passed every check of Verifier.parse
// (typ, an allowed alg, a public jwk of that alg's type and size, no crit,
// no b64) in a proof whose signature verified. The checks depend on the
// header's bytes only, so a proof with the same header bytes needs only its
// signature verified with the key and its claims decoded.
type knownHeader struct {
	alg jose.SignatureAlgorithm
	jwk jose.JSONWebKey
	jkt string
}

// parse verifies proof, whose first hlen bytes are h's header, and decodes
// its claims.
func (h *knownHeader) parse(proof string, hlen int) (*Proof, *proofClaims, error) {
	payload, sig, ok := strings.Cut(proof[hlen+1:], ".")
	if !ok || strings.Contains(sig, ".") {
		return nil, nil, fmt.Errorf("%w: not a signed JWT", ErrInvalidProof)
	}
	rawSig, err1 := decodeSegment(sig)
	rawPayload, err2 := decodeSegment(payload)
	if err1 != nil || err2 != nil {
		return nil, nil, fmt.Errorf("%w: not a signed JWT", ErrInvalidProof)
	}
	if !h.verify([]byte(proof[:hlen+1+len(payload)]), rawSig) {
		return nil, nil, fmt.Errorf("%w: bad signature", ErrInvalidProof)
	}
	var c proofClaims
	if err := json.Unmarshal(rawPayload, &c); err != nil {
		return nil, nil, fmt.Errorf("%w: claims are not a JSON object of the right types", ErrInvalidProof)
	}
	return &Proof{JKT: h.jkt, Key: h.jwk}, &c, nil
}

// decodeSegment decodes a base64url segment of a compact JWS as go-jose
// does (padding tolerated).
func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// verify checks sig over input with h's key and algorithm (RFC 7518 §3),
// as go-jose does.
func (h *knownHeader) verify(input, sig []byte) bool {
	switch k := h.jwk.Key.(type) {
	case *ecdsa.PublicKey:
		size, hash := 32, crypto.SHA256
		switch k.Curve {
		case elliptic.P384():
			size, hash = 48, crypto.SHA384
		case elliptic.P521():
			size, hash = 66, crypto.SHA512
		}
		if len(sig) != 2*size {
			return false
		}
		return ecdsa.Verify(k, digest(hash, input), new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:]))
	case ed25519.PublicKey:
		return ed25519.Verify(k, input, sig)
	case *rsa.PublicKey:
		if h.alg == jose.PS256 {
			return rsa.VerifyPSS(k, crypto.SHA256, digest(crypto.SHA256, input), sig, nil) == nil
		}
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest(crypto.SHA256, input), sig) == nil
	}
	return false
}

func digest(h crypto.Hash, b []byte) []byte {
	d := h.New()
	d.Write(b)
	return d.Sum(nil)
}

// headerCache remembers knownHeaders by the SHA-256 of their bytes. It holds
// at most headerCacheSize: when full, an arbitrary entry makes room, so a
// stranger with many keys can slow others down to the uncached path but
// never deny them.
type headerCache struct {
	mu sync.Mutex
	m  map[[32]byte]*knownHeader
}

func (c *headerCache) get(k [32]byte) *knownHeader {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

func (c *headerCache) put(k [32]byte, h *knownHeader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[[32]byte]*knownHeader)
	}
	if len(c.m) >= headerCacheSize {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = h
}
