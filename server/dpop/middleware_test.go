package dpop_test

import (
	"context"
	"encoding/json"
	"github.com/tokenhook/tokenhook/server/once"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/server/dpop"
)

// upstream records what reached it.
type upstream struct {
	hits   int
	header http.Header
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.hits++
	u.header = r.Header.Clone()
	w.Write([]byte("ok"))
}

// guarded is a Middleware-protected upstream with its parts.
type guarded struct {
	clk    *clock
	v      *dpop.Verifier
	tokens *dpop.Tokens
	up     *upstream
	h      http.Handler
}

func newGuarded(t *testing.T, nonces bool) *guarded {
	g := &guarded{clk: &clock{t0}, up: &upstream{}}
	cfg := dpop.Config{}
	if nonces {
		n, err := dpop.NewNonces(nonceKey(), 0, g.clk.now)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Nonces = n
	}
	g.v = newVerifier(t, g.clk, cfg)
	g.tokens = newTokens(t, g.clk, issuer)
	g.h = dpop.Middleware(g.v, g.tokens, dpop.MiddlewareOptions{
		Origin: "https://app.example.com/", Audience: audience,
		Verified: func(r *http.Request, res *dpop.Result) { r.Header.Set("X-User", res.Claims.Subject) },
	})(g.up)
	return g
}

// mint returns a token bound to c's key.
func (g *guarded) mint(t *testing.T, c *client) string {
	raw, _, err := g.tokens.Mint(dpop.Grant{Subject: "alice", Audience: []string{audience}, JKT: c.jkt(t)})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// do sends method path with the given Authorization and DPoP headers.
func (g *guarded) do(method, path string, auth []string, proofs ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "https://app.example.com"+path, nil)
	for _, a := range auth {
		r.Header.Add("Authorization", a)
	}
	for _, p := range proofs {
		r.Header.Add(dpop.ProofHeader, p)
	}
	w := httptest.NewRecorder()
	g.h.ServeHTTP(w, r)
	return w
}

func TestMiddleware(t *testing.T) {
	const u = "https://app.example.com/api/data"
	c, thief := newClient(t), newClient(t)
	tests := []struct {
		name      string
		send      func(t *testing.T, g *guarded, tok string) *httptest.ResponseRecorder
		status    int
		challenge string // expected WWW-Authenticate
	}{
		{"valid", func(t *testing.T, g *guarded, tok string) *httptest.ResponseRecorder {
			return g.do("POST", "/api/data?x=1", []string{"DPoP " + tok}, c.proof(t, "POST", u, t0, tok))
		}, 200, ""},
		{"no token", func(t *testing.T, g *guarded, tok string) *httptest.ResponseRecorder {
			return g.do("POST", "/api/data", nil)
		}, 401, `DPoP algs="ES256 EdDSA"`},
		{"token as bearer", func(t *testing.T, g *guarded, tok string) *httptest.ResponseRecorder {
			return g.do("POST", "/api/data", []string{"Bearer " + tok}, c.proof(t, "POST", u, t0, tok))
		}, 401, `DPoP algs="ES256 EdDSA"`},
		{"no proof", func(t *testing.T, g *guarded, tok string) *httptest.ResponseRecorder {
			return g.do("POST", "/api/data", []string{"DPoP " + tok})
		}, 401, `DPoP algs="ES256 EdDSA", error="invalid_dpop_proof", error_description="invalid DPoP proof: DPoP proof missing"`},
		{"proof from another key", func(t *testing.T, g *guarded, tok string) *httptest.ResponseRecorder {
			return g.do("POST", "/api/data", []string{"DPoP " + tok}, thief.proof(t, "POST", u, t0, tok))
		}, 401, `DPoP algs="ES256 EdDSA", error="invalid_token", error_description="invalid DPoP access token: token not bound to the proof's key"`},
		{"reused proof", func(t *testing.T, g *guarded, tok string) *httptest.ResponseRecorder {
			p := c.proof(t, "POST", u, t0, tok)
			if w := g.do("POST", "/api/data", []string{"DPoP " + tok}, p); w.Code != 200 {
				t.Fatalf("first use: %d", w.Code)
			}
			g.up.hits--
			return g.do("POST", "/api/data", []string{"DPoP " + tok}, p)
		}, 401, `DPoP algs="ES256 EdDSA", error="invalid_dpop_proof", error_description="invalid DPoP proof: proof already used"`},
		{"proof for another method", func(t *testing.T, g *guarded, tok string) *httptest.ResponseRecorder {
			return g.do("POST", "/api/data", []string{"DPoP " + tok}, c.proof(t, "GET", u, t0, tok))
		}, 401, `DPoP algs="ES256 EdDSA", error="invalid_dpop_proof", error_description="invalid DPoP proof: htm does not match the method"`},
		{"proof for another URL", func(t *testing.T, g *guarded, tok string) *httptest.ResponseRecorder {
			return g.do("POST", "/api/other", []string{"DPoP " + tok}, c.proof(t, "POST", u, t0, tok))
		}, 401, `DPoP algs="ES256 EdDSA", error="invalid_dpop_proof", error_description="invalid DPoP proof: htu does not match the request URL"`},
		{"two proofs", func(t *testing.T, g *guarded, tok string) *httptest.ResponseRecorder {
			return g.do("POST", "/api/data", []string{"DPoP " + tok}, c.proof(t, "POST", u, t0, tok), c.proof(t, "POST", u, t0, tok))
		}, 401, `DPoP algs="ES256 EdDSA", error="invalid_dpop_proof", error_description="invalid DPoP proof: more than one DPoP header"`},
		{"two Authorization headers", func(t *testing.T, g *guarded, tok string) *httptest.ResponseRecorder {
			return g.do("POST", "/api/data", []string{"DPoP " + tok, "DPoP " + tok}, c.proof(t, "POST", u, t0, tok))
		}, 400, `DPoP algs="ES256 EdDSA", error="invalid_request", error_description="malformed request"`},
		{"bad token syntax", func(t *testing.T, g *guarded, tok string) *httptest.ResponseRecorder {
			return g.do("POST", "/api/data", []string{"DPoP a,b"}, c.proof(t, "POST", u, t0, "a,b"))
		}, 400, `DPoP algs="ES256 EdDSA", error="invalid_request", error_description="malformed request"`},
		{"expired token", func(t *testing.T, g *guarded, tok string) *httptest.ResponseRecorder {
			g.clk.t = t0.Add(dpop.MaxTokenTTL + time.Minute)
			return g.do("POST", "/api/data", []string{"DPoP " + tok}, c.proof(t, "POST", u, g.clk.t, tok))
		}, 401, `DPoP algs="ES256 EdDSA", error="invalid_token", error_description="invalid DPoP access token: token expired"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuarded(t, false)
			w := tt.send(t, g, g.mint(t, c))
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.status, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			if tt.status != 200 {
				if g.up.hits != 0 {
					t.Fatal("a refused request reached the upstream")
				}
				var body map[string]string
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["error"] == "" || w.Header().Get("Cache-Control") != "no-store" {
					t.Fatalf("body %q (%v), Cache-Control %q", w.Body, err, w.Header().Get("Cache-Control"))
				}
				return
			}
			if g.up.hits != 1 || g.up.header.Get("X-User") != "alice" {
				t.Fatalf("upstream saw %d requests, X-User %q", g.up.hits, g.up.header.Get("X-User"))
			}
			if g.up.header.Get("Authorization") != "" || g.up.header.Get(dpop.ProofHeader) != "" {
				t.Fatal("the token or proof reached the upstream")
			}
		})
	}
}

// TestMiddlewareNonce: the first request without a nonce is refused with one;
// the retry with it gets through.
func TestMiddlewareNonce(t *testing.T) {
	const u = "https://app.example.com/api/data"
	g := newGuarded(t, true)
	c := newClient(t)
	tok := g.mint(t, c)
	w := g.do("GET", "/api/data", []string{"DPoP " + tok}, c.proof(t, "GET", u, t0, tok))
	nonce := w.Header().Get(dpop.NonceHeader)
	if w.Code != 401 || nonce == "" || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="use_dpop_nonce"`) || g.up.hits != 0 {
		t.Fatalf("without nonce: %d %q %q", w.Code, w.Header().Get("WWW-Authenticate"), nonce)
	}
	cl := claims("GET", u, t0, tok)
	cl["nonce"] = nonce
	if w := g.do("GET", "/api/data", []string{"DPoP " + tok}, c.sign(t, cl, nil)); w.Code != 200 || g.up.hits != 1 {
		t.Fatalf("with nonce: %d %s", w.Code, w.Body)
	}
}

// TestWriteTokenError: a token endpoint answers proof errors with 400 and
// the nonce.
func TestWriteTokenError(t *testing.T) {
	clk := &clock{t0}
	n, err := dpop.NewNonces(nonceKey(), 0, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, clk, dpop.Config{Nonces: n})
	c := newClient(t)
	_, err = v.Verify(t.Context(), c.proof(t, "POST", "https://app.example.com/token", t0, ""), dpop.Request{Method: "POST", URL: "https://app.example.com/token"})
	w := httptest.NewRecorder()
	v.WriteTokenError(w, err)
	var body map[string]string
	json.Unmarshal(w.Body.Bytes(), &body)
	if w.Code != 400 || body["error"] != dpop.CodeUseNonce || w.Header().Get(dpop.NonceHeader) != n.Current() {
		t.Fatalf("%d %v %q", w.Code, body, w.Header().Get(dpop.NonceHeader))
	}
}

// countingCache counts the keys written to a memory cache.
type countingCache struct {
	*once.Memory
	uses int
}

func (c *countingCache) UseOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	c.uses++
	return c.Memory.UseOnce(ctx, key, ttl)
}

// TestMiddlewareReplayCacheNeedsToken: proofs sent without a valid token never
// reach the replay cache, so strangers cannot crowd out others' entries.
func TestMiddlewareReplayCacheNeedsToken(t *testing.T) {
	const u = "https://app.example.com/api/data"
	clk := &clock{t0}
	cache := &countingCache{Memory: once.NewMemory(10)}
	v := newVerifier(t, clk, dpop.Config{Replay: cache})
	tokens := newTokens(t, clk, issuer)
	h := dpop.Middleware(v, tokens, dpop.MiddlewareOptions{Origin: "https://app.example.com", Audience: audience})(&upstream{})
	stranger := newClient(t)
	forged := newTokens(t, clk, issuer) // another key: not ours
	bad, _, err := forged.Mint(dpop.Grant{Subject: "x", Audience: []string{audience}, JKT: stranger.jkt(t)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{bad, "abc.def.ghi"} {
		r := httptest.NewRequest("GET", u, nil)
		r.Header.Set("Authorization", "DPoP "+tok)
		r.Header.Set(dpop.ProofHeader, stranger.proof(t, "GET", u, t0, tok))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("%d %q", w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	if cache.uses != 0 {
		t.Fatalf("%d proofs without a valid token entered the replay cache", cache.uses)
	}
}
