package testenv

import (
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// SignJWT signs claims (marshalled as JSON) with key and opts and returns the
// compact serialization; any error fails t.
func SignJWT(t testing.TB, key jose.SigningKey, opts *jose.SignerOptions, claims any) string {
	t.Helper()
	s, err := jose.NewSigner(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
