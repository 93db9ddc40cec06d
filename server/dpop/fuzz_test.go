package dpop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

// CI runs this briefly, e.g.
//
//	go test ./server/dpop -run='^$' -fuzz='^FuzzParseProof$' -fuzztime=10s

// FuzzParseProof: the proof parser never panics, refuses with
// ErrInvalidProof only, and accepts only proofs with a public key of an
// allowed algorithm and a thumbprint.
func FuzzParseProof(f *testing.F) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	valid := testenv.SignJWT(f, jose.SigningKey{Algorithm: jose.ES256, Key: k},
		&jose.SignerOptions{EmbedJWK: true, ExtraHeaders: map[jose.HeaderKey]any{jose.HeaderType: ProofType}},
		map[string]any{"jti": "j", "htm": "GET", "htu": "https://a.example/", "iat": 1700000000})
	for _, seed := range []string{valid, "", "a.b.c", "..", "eyJhbGciOiJub25lIn0.e30.", valid + "x", valid[:len(valid)/2]} {
		f.Add(seed)
	}
	v, err := NewVerifier(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, proof string) {
		p, c, err := v.parse(proof)
		if err != nil {
			if p != nil || c != nil || !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("parse = %v, %v, %v", p, c, err)
			}
			return
		}
		if len(proof) > MaxProofSize || !p.Key.IsPublic() || len(p.JKT) != 43 {
			t.Fatalf("accepted %q: %+v", proof, p)
		}
	})
}
