package idptest

import (
	"context"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

// CheckBearer fails the test unless auth is "Bearer <token>" with a token v
// accepts whose email claim is email: what a test's upstream app received
// really is the viewer's token from the provider. It returns the token and,
// when claims is not nil, decodes the token's claims into it.
func CheckBearer(t testing.TB, v *oidc.IDTokenVerifier, auth, email string, claims any) string {
	t.Helper()
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		t.Fatalf("Authorization %q is not a bearer token", auth)
	}
	it, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("the bearer is not a valid token of the provider: %v", err)
	}
	var c struct {
		Email string `json:"email"`
	}
	if err := it.Claims(&c); err != nil || c.Email != email {
		t.Fatalf("token email = %q (%v), want %q", c.Email, err, email)
	}
	if claims != nil {
		if err := it.Claims(claims); err != nil {
			t.Fatal(err)
		}
	}
	return tok
}
