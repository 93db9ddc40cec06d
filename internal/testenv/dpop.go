package testenv

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// DPoPProof signs a DPoP proof (RFC 9449 §4.2) with the P-256 key (ES256,
// its public half in the header) for method and URL u, issued now, with a
// random jti, and with ath for token and nonce when they are not "".
func DPoPProof(t testing.TB, key *ecdsa.PrivateKey, method, u, token, nonce string) string {
	t.Helper()
	var id [12]byte
	rand.Read(id[:])
	c := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(id[:]), "htm": method, "htu": u, "iat": time.Now().Unix()}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	return SignJWT(t, jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"), c)
}
