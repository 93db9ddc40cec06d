package verify

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

// testIssuer is an httptest server publishing discovery and a JWKS whose keys
// the test controls, plus the private keys to sign tokens with.
type testIssuer struct {
	srv       *httptest.Server
	mu        sync.Mutex
	keys      []jose.JSONWebKey // private keys; the public halves are published
	down      atomic.Bool
	jwksHits  atomic.Int32
	discovery atomic.Int32
}

var rsaKeys = sync.OnceValues(func() ([]*rsa.PrivateKey, error) {
	var out []*rsa.PrivateKey
	for i := 0; i < 3; i++ {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
})

func rsaKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	ks, err := rsaKeys()
	if err != nil {
		t.Fatal(err)
	}
	return ks[i]
}

func newTestIssuer(t testing.TB) *testIssuer {
	t.Helper()
	ti := &testIssuer{}
	ti.addKey(jose.JSONWebKey{Key: rsaKey(t, 0), KeyID: "k1", Algorithm: "RS256", Use: "sig"})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		ti.discovery.Add(1)
		if ti.down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"issuer": ti.srv.URL, "jwks_uri": ti.srv.URL + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		ti.jwksHits.Add(1)
		if ti.down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		ti.mu.Lock()
		var set jose.JSONWebKeySet
		for _, k := range ti.keys {
			set.Keys = append(set.Keys, k.Public())
		}
		ti.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	})
	ti.srv = httptest.NewServer(mux)
	t.Cleanup(ti.srv.Close)
	return ti
}

func (ti *testIssuer) addKey(k jose.JSONWebKey) {
	ti.mu.Lock()
	ti.keys = append(ti.keys, k)
	ti.mu.Unlock()
}

// claims returns a valid claim set for audience "app".
func (ti *testIssuer) claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": ti.srv.URL, "sub": "user-1", "aud": "app",
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
		"email": "ann@example.com", "email_verified": true,
		"preferred_username": "ann", "name": "Ann", "groups": []string{"admins", "staff"},
		"scope": "openid email",
	}
}

// sign signs claims with an RSA key under kid and alg (RS256 by default).
func sign(t testing.TB, key any, kid string, alg jose.SignatureAlgorithm, claims map[string]any, extra map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	for k, v := range extra {
		opts = opts.WithHeader(k, v)
	}
	return testenv.SignJWT(t, jose.SigningKey{Algorithm: alg, Key: key}, opts, claims)
}

func (ti *testIssuer) token(t testing.TB, mutate func(map[string]any)) string {
	c := ti.claims()
	if mutate != nil {
		mutate(c)
	}
	return sign(t, rsaKey(t, 0), "k1", jose.RS256, c, nil)
}

func (ti *testIssuer) verifier(t testing.TB, mod func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{Issuer: ti.srv.URL, Audience: "app", Realm: "test"}
	if mod != nil {
		mod(&cfg)
	}
	v, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
