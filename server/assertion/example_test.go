package assertion_test

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/tokenhook/tokenhook/server/assertion"
)

func ExampleSigner() {
	seed := make([]byte, ed25519.SeedSize) // derive it from a secret in real use
	s, err := assertion.NewSigner(seed)
	if err != nil {
		panic(err)
	}
	now := time.Now()
	raw, _ := s.Sign("https://dash.example.com", "http://127.0.0.1:8050", "viewer-sub", "viewer@example.com", "session-key", now)
	claims, err := s.Verify(raw, "https://dash.example.com", "http://127.0.0.1:8050", now)
	fmt.Println(claims.SID, claims.Email, err)
	// Output: session-key viewer@example.com <nil>
}
