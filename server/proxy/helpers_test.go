package proxy

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/verify"
)

var signingKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// issuer signs the test tokens; the proxy's real verifier checks them with
// the issuer's public key (a verify.StaticKeySet: no JWKS server).
type issuer struct {
	url string
	key *rsa.PrivateKey
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	key, err := signingKey()
	if err != nil {
		t.Fatal(err)
	}
	return &issuer{url: "https://idp.test", key: key}
}

func (is *issuer) verifier(t testing.TB) *verify.Verifier {
	t.Helper()
	v, err := verify.New(context.Background(), verify.Config{Issuer: is.url, Audience: "app", SkipDiscovery: true,
		KeySet: &verify.StaticKeySet{PublicKeys: []crypto.PublicKey{&is.key.PublicKey}}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// token returns a valid access token expiring after ttl.
func (is *issuer) token(t testing.TB, ttl time.Duration) string {
	t.Helper()
	return testenv.SignJWT(t, jose.SigningKey{Algorithm: jose.RS256, Key: is.key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"),
		map[string]any{
			"iss": is.url, "aud": "app", "sub": "user-1", "exp": time.Now().Add(ttl).Unix(),
			"email": "ann@example.com", "email_verified": true, "preferred_username": "ann",
			"groups": []string{"admins", "staff"},
		})
}

// recorded is what the upstream saw.
type recorded struct {
	Method, Path, Host string
	Header             http.Header
}

// upstream records requests and answers 200 "upstream".
func upstream(t testing.TB) (*httptest.Server, chan recorded) {
	ch := make(chan recorded, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case ch <- recorded{r.Method, r.URL.Path, r.Host, r.Header.Clone()}:
		default:
		}
		w.Write([]byte("upstream"))
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func newProxy(t testing.TB, cfg Config) *Proxy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
