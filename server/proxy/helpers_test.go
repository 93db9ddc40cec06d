package proxy

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenhook/tokenhook/server/verify"
)

var signingKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

// issuer is a minimal OpenID provider (discovery + JWKS) whose key signs the
// test tokens; the proxy's real verifier validates them.
type issuer struct {
	srv *httptest.Server
	key *rsa.PrivateKey
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	key, err := signingKey()
	if err != nil {
		t.Fatal(err)
	}
	is := &issuer{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) verifier(t testing.TB) *verify.Verifier {
	t.Helper()
	v, err := verify.New(context.Background(), verify.Config{Issuer: is.srv.URL, Audience: "app"})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// token returns a valid access token expiring after ttl.
func (is *issuer) token(t testing.TB, ttl time.Duration) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: is.key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{
		"iss": is.srv.URL, "aud": "app", "sub": "user-1", "exp": time.Now().Add(ttl).Unix(),
		"email": "ann@example.com", "email_verified": true, "preferred_username": "ann",
		"groups": []string{"admins", "staff"},
	})
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
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
