package proxy

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenhook/tokenhook/internal/testenv"
)

// TestBoundTokenAsBearer: a provider's DPoP-bound token (cnf.jkt) sent as a
// bearer is refused with a DPoP challenge (RFC 9449 §7.1) and never reaches
// the upstream; the same provider's unbound token goes through.
func TestBoundTokenAsBearer(t *testing.T) {
	is := newIssuer(t)
	up, seen := upstream(t)
	p := newProxy(t, Config{Upstream: mustURL(t, up.URL), Verifier: is.verifier(t), Realm: "dash"})
	bound := testenv.SignJWT(t, jose.SigningKey{Algorithm: jose.RS256, Key: is.key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"),
		map[string]any{"iss": is.url, "aud": "app", "sub": "user-1", "exp": time.Now().Add(time.Hour).Unix(),
			"cnf": map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}})
	for _, tc := range []struct {
		token  string
		status int
	}{{bound, 401}, {is.token(t, time.Hour), 200}} {
		r := httptest.NewRequest("POST", "/x", nil)
		r.Header.Set("Authorization", "Bearer "+tc.token)
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Fatalf("status %d %s, want %d", w.Code, w.Body, tc.status)
		}
		if tc.status == 401 {
			if got := w.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, `DPoP realm="dash", algs="ES256 EdDSA", error="invalid_token"`) {
				t.Fatalf("challenge %q", got)
			}
			select {
			case rec := <-seen:
				t.Fatalf("the bound token reached the upstream: %v", rec.Header.Get("Authorization") != "")
			default:
			}
		}
	}
}
