package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tokenhook/tokenhook/server/once"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/dpop"
)

const (
	pageURL = "https://app.example.com/api/data"
	token   = "eyJhbGciOiJFZERTQSJ9.e30.c2ln"
)

func TestVerifyProof(t *testing.T) {
	ctx := context.Background()
	c, other := newClient(t), newClient(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaClient := &client{key: rsaKey, alg: jose.RS256}
	req := dpop.Request{Method: "POST", URL: pageURL + "?q=1#f", AccessToken: token}
	with := func(mod func(map[string]any)) func(t testing.TB) string {
		return func(t testing.TB) string {
			cl := claims("POST", pageURL, t0, token)
			mod(cl)
			return c.sign(t, cl, nil)
		}
	}
	tests := []struct {
		name  string
		proof func(t testing.TB) string
		req   dpop.Request
		want  error // nil: accepted
	}{
		{"valid", func(t testing.TB) string { return c.proof(t, "POST", pageURL, t0, token) }, req, nil},
		{"valid EdDSA", func(t testing.TB) string { return newEdClient(t).proof(t, "POST", pageURL, t0, token) }, req, nil},
		{"valid without token", func(t testing.TB) string { return c.proof(t, "POST", pageURL, t0, "") }, dpop.Request{Method: "POST", URL: pageURL}, nil},
		{"htu normalised", func(t testing.TB) string {
			return c.proof(t, "POST", "HTTPS://App.Example.COM:443/api/data", t0, token)
		}, req, nil},
		{"request URL normalised", func(t testing.TB) string { return c.proof(t, "GET", "http://h.example/", t0, "") }, dpop.Request{Method: "GET", URL: "HTTP://H.example:80"}, nil},
		{"fractional iat", with(func(m map[string]any) { m["iat"] = float64(t0.Unix()) + 0.5 }), req, nil},
		{"no proof", func(testing.TB) string { return "" }, req, dpop.ErrInvalidProof},
		{"other method", func(t testing.TB) string { return c.proof(t, "GET", pageURL, t0, token) }, req, dpop.ErrInvalidProof},
		{"method case", func(t testing.TB) string { return c.proof(t, "post", pageURL, t0, token) }, req, dpop.ErrInvalidProof},
		{"other path", func(t testing.TB) string { return c.proof(t, "POST", "https://app.example.com/api/other", t0, token) }, req, dpop.ErrInvalidProof},
		{"other host", func(t testing.TB) string { return c.proof(t, "POST", "https://evil.example/api/data", t0, token) }, req, dpop.ErrInvalidProof},
		{"other port", func(t testing.TB) string {
			return c.proof(t, "POST", "https://app.example.com:8443/api/data", t0, token)
		}, req, dpop.ErrInvalidProof},
		{"other scheme", func(t testing.TB) string { return c.proof(t, "POST", "http://app.example.com/api/data", t0, token) }, req, dpop.ErrInvalidProof},
		{"query in htu", func(t testing.TB) string { return c.proof(t, "POST", pageURL+"?q=1", t0, token) }, req, dpop.ErrInvalidProof},
		{"fragment in htu", func(t testing.TB) string { return c.proof(t, "POST", pageURL+"#f", t0, token) }, req, dpop.ErrInvalidProof},
		{"userinfo in htu", func(t testing.TB) string { return c.proof(t, "POST", "https://u@app.example.com/api/data", t0, token) }, req, dpop.ErrInvalidProof},
		{"relative htu", func(t testing.TB) string { return c.proof(t, "POST", "/api/data", t0, token) }, req, dpop.ErrInvalidProof},
		{"no htu", with(func(m map[string]any) { delete(m, "htu") }), req, dpop.ErrInvalidProof},
		{"no jti", with(func(m map[string]any) { delete(m, "jti") }), req, dpop.ErrInvalidProof},
		{"long jti", with(func(m map[string]any) { m["jti"] = strings.Repeat("j", 129) }), req, dpop.ErrInvalidProof},
		{"no iat", with(func(m map[string]any) { delete(m, "iat") }), req, dpop.ErrInvalidProof},
		{"iat as string", with(func(m map[string]any) { m["iat"] = "1" }), req, dpop.ErrInvalidProof},
		{"stale iat", func(t testing.TB) string { return c.proof(t, "POST", pageURL, t0.Add(-66*time.Second), token) }, req, dpop.ErrInvalidProof},
		{"future iat", func(t testing.TB) string { return c.proof(t, "POST", pageURL, t0.Add(66*time.Second), token) }, req, dpop.ErrInvalidProof},
		{"huge iat", with(func(m map[string]any) { m["iat"] = 1e300 }), req, dpop.ErrInvalidProof},
		{"iat at the window's edge", func(t testing.TB) string { return c.proof(t, "POST", pageURL, t0.Add(-64*time.Second), token) }, req, nil},
		{"wrong ath", func(t testing.TB) string { return c.proof(t, "POST", pageURL, t0, token+"x") }, req, dpop.ErrInvalidProof},
		{"no ath with a token", func(t testing.TB) string { return c.proof(t, "POST", pageURL, t0, "") }, req, dpop.ErrInvalidProof},
		{"ath without a token", func(t testing.TB) string { return c.proof(t, "POST", pageURL, t0, token) }, dpop.Request{Method: "POST", URL: pageURL}, dpop.ErrInvalidProof},
		{"alg none", func(t testing.TB) string { return c.unsigned(t, claims("POST", pageURL, t0, token)) }, req, dpop.ErrInvalidProof},
		{"HS256", func(t testing.TB) string {
			return testenv.SignJWT(t, jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")},
				&jose.SignerOptions{ExtraHeaders: map[jose.HeaderKey]any{jose.HeaderType: dpop.ProofType, "jwk": jose.JSONWebKey{Key: c.key.Public()}}},
				claims("POST", pageURL, t0, token))
		}, req, dpop.ErrInvalidProof},
		{"RS256 not allowed", func(t testing.TB) string { return rsaClient.proof(t, "POST", pageURL, t0, token) }, req, dpop.ErrInvalidProof},
		{"private key in jwk", func(t testing.TB) string {
			return c.sign(t, claims("POST", pageURL, t0, token), map[jose.HeaderKey]any{"jwk": jose.JSONWebKey{Key: c.key}})
		}, req, dpop.ErrInvalidProof},
		{"symmetric jwk", func(t testing.TB) string {
			return c.sign(t, claims("POST", pageURL, t0, token), map[jose.HeaderKey]any{"jwk": jose.JSONWebKey{Key: []byte("0123456789abcdef")}})
		}, req, dpop.ErrInvalidProof},
		{"jwk of another key", func(t testing.TB) string {
			return c.sign(t, claims("POST", pageURL, t0, token), map[jose.HeaderKey]any{"jwk": jose.JSONWebKey{Key: other.key.Public()}})
		}, req, dpop.ErrInvalidProof},
		{"no jwk", func(t testing.TB) string {
			return c.sign(t, claims("POST", pageURL, t0, token), map[jose.HeaderKey]any{"jwk": nil})
		}, req, dpop.ErrInvalidProof},
		{"no typ", func(t testing.TB) string {
			return c.sign(t, claims("POST", pageURL, t0, token), map[jose.HeaderKey]any{jose.HeaderType: nil})
		}, req, dpop.ErrInvalidProof},
		{"typ JWT", func(t testing.TB) string {
			return c.sign(t, claims("POST", pageURL, t0, token), map[jose.HeaderKey]any{jose.HeaderType: "JWT"})
		}, req, dpop.ErrInvalidProof},
		{"tampered claims", func(t testing.TB) string {
			p := strings.Split(c.proof(t, "GET", pageURL, t0, token), ".")
			cl, _ := json.Marshal(claims("POST", pageURL, t0, token))
			return p[0] + "." + base64.RawURLEncoding.EncodeToString(cl) + "." + p[2]
		}, req, dpop.ErrInvalidProof},
		{"another key's signature under c's header", func(t testing.TB) string {
			h := strings.Split(c.proof(t, "POST", pageURL, t0, token), ".")
			p := strings.Split(other.proof(t, "POST", pageURL, t0, token), ".")
			return h[0] + "." + p[1] + "." + p[2]
		}, req, dpop.ErrInvalidProof},
		{"truncated signature", func(t testing.TB) string {
			p := c.proof(t, "POST", pageURL, t0, token)
			return p[:len(p)-4]
		}, req, dpop.ErrInvalidProof},
		{"four segments", func(t testing.TB) string { return c.proof(t, "POST", pageURL, t0, token) + ".x" }, req, dpop.ErrInvalidProof},
		{"oversized", func(t testing.TB) string {
			cl := claims("POST", pageURL, t0, token)
			cl["pad"] = strings.Repeat("p", dpop.MaxProofSize)
			return c.sign(t, cl, nil)
		}, req, dpop.ErrInvalidProof},
		{"not a JWT", func(testing.TB) string { return "a.b" }, req, dpop.ErrInvalidProof},
		{"JSON serialization", func(t testing.TB) string {
			s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: c.key},
				&jose.SignerOptions{EmbedJWK: true, ExtraHeaders: map[jose.HeaderKey]any{jose.HeaderType: dpop.ProofType}})
			if err != nil {
				t.Fatal(err)
			}
			cl, _ := json.Marshal(claims("POST", pageURL, t0, token))
			obj, err := s.Sign(cl)
			if err != nil {
				t.Fatal(err)
			}
			return obj.FullSerialize()
		}, req, dpop.ErrInvalidProof},
	}
	// Each case runs on a new Verifier, and on one that has just accepted a
	// proof of c's key (its header known: only the signature and claims are
	// checked again).
	for _, tt := range tests {
		for _, warm := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/warm=%v", tt.name, warm), func(t *testing.T) {
				v := newVerifier(t, &clock{t0}, dpop.Config{})
				if warm {
					if _, err := v.Verify(ctx, c.proof(t, "POST", pageURL, t0, token), req); err != nil {
						t.Fatal(err)
					}
				}
				proof := tt.proof(t)
				p, err := v.Verify(ctx, proof, tt.req)
				if tt.want != nil {
					if !errors.Is(err, tt.want) || p != nil {
						t.Fatalf("Verify = %v, %v; want %v", p, err, tt.want)
					}
					t.Logf("refused: %v", err)
					if strings.Contains(err.Error(), proof) && proof != "" {
						t.Fatal("error text holds the proof")
					}
					return
				}
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				want, _ := dpop.Thumbprint(&p.Key)
				if p.JKT == "" || p.JKT != want || p.ID == "" {
					t.Fatalf("proof %+v", p)
				}
			})
		}
	}
}

// TestReplay: a proof is accepted once, also by a second Verifier sharing
// the replay cache (as replicas share one store); the same jti from another
// key is another proof.
func TestReplay(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t0}
	cache := once.NewMemory(100)
	v1 := newVerifier(t, clk, dpop.Config{Replay: cache})
	v2 := newVerifier(t, clk, dpop.Config{Replay: cache})
	c, other := newClient(t), newClient(t)
	req := dpop.Request{Method: "POST", URL: pageURL, AccessToken: token}
	cl := claims("POST", pageURL, t0, token)
	proof := c.sign(t, cl, nil)
	if _, err := v1.Verify(ctx, proof, req); err != nil {
		t.Fatal(err)
	}
	for i, v := range []*dpop.Verifier{v1, v2} {
		if _, err := v.Verify(ctx, proof, req); !errors.Is(err, dpop.ErrInvalidProof) {
			t.Fatalf("replay %d: %v", i, err)
		}
	}
	// Reused until it has aged out of the window: still refused.
	clk.t = t0.Add(64 * time.Second)
	if _, err := v1.Verify(ctx, proof, req); !errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("late replay: %v", err)
	}
	if _, err := v1.Verify(ctx, other.sign(t, cl, nil), req); err != nil {
		t.Fatalf("same jti, other key: %v", err)
	}
}

// failingCache is a replay store that is down.
type failingCache struct{}

func (failingCache) UseOnce(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("store down")
}

// TestReplayCacheFailure: a failing store refuses the proof with 503, not as
// the client's fault.
func TestReplayCacheFailure(t *testing.T) {
	v := newVerifier(t, &clock{t0}, dpop.Config{Replay: failingCache{}})
	c := newClient(t)
	_, err := v.Verify(context.Background(), c.proof(t, "GET", pageURL, t0, ""), dpop.Request{Method: "GET", URL: pageURL})
	if err == nil || errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("Verify = %v", err)
	}
	if status, _ := dpop.Status(err); status != http.StatusServiceUnavailable {
		t.Fatalf("status %d", status)
	}
}

func TestProofNonce(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t0}
	nonces, err := dpop.NewNonces(nonceKey(), time.Minute, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, clk, dpop.Config{Nonces: nonces})
	c := newClient(t)
	req := dpop.Request{Method: "GET", URL: pageURL}
	withNonce := func(n string) string {
		cl := claims("GET", pageURL, clk.t, "")
		if n != "" {
			cl["nonce"] = n
		}
		return c.sign(t, cl, nil)
	}
	if _, err := v.Verify(ctx, withNonce(""), req); !errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("no nonce: %v", err)
	}
	if _, err := v.Verify(ctx, withNonce("made-up"), req); !errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("made-up nonce: %v", err)
	}
	n := v.Nonce()
	p, err := v.Verify(ctx, withNonce(n), req)
	if err != nil || p.Nonce != n {
		t.Fatalf("with nonce: %v, %v", p, err)
	}
	clk.t = clk.t.Add(90 * time.Second) // the next period: still good
	if _, err := v.Verify(ctx, withNonce(n), req); err != nil {
		t.Fatalf("nonce of the previous period: %v", err)
	}
	clk.t = clk.t.Add(time.Minute) // two periods on: outdated
	if _, err := v.Verify(ctx, withNonce(n), req); !errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("outdated nonce: %v", err)
	}
}

func TestProofFromRequest(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   error
	}{
		{"none", nil, dpop.ErrInvalidProof},
		{"one", []string{"a.b.c"}, nil},
		{"two", []string{"a.b.c", "d.e.f"}, dpop.ErrInvalidProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", pageURL, nil)
			for _, v := range tt.values {
				r.Header.Add(dpop.ProofHeader, v)
			}
			got, err := dpop.ProofFromRequest(r)
			if !errors.Is(err, tt.want) || (err == nil && got != tt.values[0]) {
				t.Fatalf("ProofFromRequest = %q, %v", got, err)
			}
		})
	}
}

// TestThumbprint checks the RFC 7638 computation against the members of an
// EC key written out by hand.
func TestThumbprint(t *testing.T) {
	c := newClient(t)
	raw, err := json.Marshal(jose.JSONWebKey{Key: c.key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	canon := `{"crv":"` + m["crv"] + `","kty":"EC","x":"` + m["x"] + `","y":"` + m["y"] + `"}`
	sum := sha256.Sum256([]byte(canon))
	if got, want := c.jkt(t), base64.RawURLEncoding.EncodeToString(sum[:]); got != want {
		t.Fatalf("Thumbprint = %s, want %s", got, want)
	}
}

func TestNewVerifierConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  dpop.Config
		ok   bool
	}{
		{"zero", dpop.Config{}, true},
		{"RS256 and PS256", dpop.Config{Algorithms: []jose.SignatureAlgorithm{jose.RS256, jose.PS256}}, true},
		{"HS256", dpop.Config{Algorithms: []jose.SignatureAlgorithm{jose.HS256}}, false},
		{"none", dpop.Config{Algorithms: []jose.SignatureAlgorithm{"none"}}, false},
		{"empty list", dpop.Config{Algorithms: []jose.SignatureAlgorithm{}}, false},
		{"negative window", dpop.Config{Window: -time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := dpop.NewVerifier(tt.cfg); (err == nil) != tt.ok {
				t.Fatalf("NewVerifier: %v", err)
			}
		})
	}
}

// TestRSAProof: RS256 proofs work when allowed, keys under 2048 bits do not.
func TestRSAProof(t *testing.T) {
	v := newVerifier(t, &clock{t0}, dpop.Config{Algorithms: []jose.SignatureAlgorithm{jose.RS256}})
	for _, bits := range []int{2048, 1024} {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		c := &client{key: k, alg: jose.RS256}
		_, err = v.Verify(context.Background(), c.proof(t, "GET", pageURL, t0, ""), dpop.Request{Method: "GET", URL: pageURL})
		if (err == nil) != (bits >= 2048) {
			t.Fatalf("%d bits: %v", bits, err)
		}
	}
}

// TestKnownHeaderEveryAlgorithm: for each algorithm a proof's header is
// remembered after its first good proof; later proofs with that header still
// have their signature checked (a flipped byte in the signature or the
// claims is refused).
func TestKnownHeaderEveryAlgorithm(t *testing.T) {
	ctx := context.Background()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	req := dpop.Request{Method: "POST", URL: pageURL, AccessToken: token}
	for _, c := range []*client{newClient(t), newEdClient(t), {key: p384, alg: jose.ES384}, {key: p521, alg: jose.ES512},
		{key: rsaKey, alg: jose.RS256}, {key: rsaKey, alg: jose.PS256}} {
		t.Run(string(c.alg), func(t *testing.T) {
			v := newVerifier(t, &clock{t0}, dpop.Config{Algorithms: []jose.SignatureAlgorithm{c.alg}})
			for i := range 2 {
				if _, err := v.Verify(ctx, c.proof(t, "POST", pageURL, t0, token), req); err != nil {
					t.Fatalf("proof %d: %v", i, err)
				}
			}
			for _, part := range []int{1, 2} {
				p := strings.Split(c.proof(t, "POST", pageURL, t0, token), ".")
				b, _ := base64.RawURLEncoding.DecodeString(p[part])
				b[len(b)/2] ^= 1
				p[part] = base64.RawURLEncoding.EncodeToString(b)
				if _, err := v.Verify(ctx, strings.Join(p, "."), req); !errors.Is(err, dpop.ErrInvalidProof) {
					t.Fatalf("flipped byte in part %d: %v", part, err)
				}
			}
		})
	}
}
