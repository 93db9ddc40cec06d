package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/config"
	"github.com/tokenhook/tokenhook/server/dpop"
	"github.com/tokenhook/tokenhook/server/once"
)

// TestDPoPAcrossReplicas runs two replicas with --browser-token dpop on one
// Redis: a nonce issued by one is accepted by the other, and a proof one
// replica accepted is refused by the other (the replay cache is shared),
// with nothing reaching the app; a token whose session ended on one replica
// is refused on the other. Used proofs live under their own Redis prefix,
// apart from the sign-in states, for the proof's iat window.
func TestDPoPAcrossReplicas(t *testing.T) {
	var reached atomic.Int32
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Write([]byte("app"))
	}))
	t.Cleanup(app.Close)
	f := newFleetWith(t, 2, func(c *Config) { c.Upstream, c.BrowserToken = app.URL, config.BrowserTokenDPoP })
	c := testenv.NewClient()
	f.signIn(c, users[0], "/")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tokenURL := f.url + Prefix + "token"
	proof := func(method, u, token, nonce string) string {
		return testenv.DPoPProof(t, key, method, u, token, nonce)
	}
	askToken := func(i int, proof string) (*http.Response, string) {
		return f.on(c, i, "GET", Prefix+"token", map[string]string{"X-TokenHook": "1", "DPoP": proof})
	}

	// The nonce: replica 0 issues it, replica 1 takes it.
	resp, body := f.on(c, 0, "GET", Prefix+"token", map[string]string{"X-TokenHook": "1"})
	nonce := resp.Header.Get(dpop.NonceHeader)
	if resp.StatusCode != 200 || nonce == "" {
		t.Fatalf("first token request on replica 0: %d %s, nonce %q", resp.StatusCode, body, nonce)
	}
	resp, body = askToken(1, proof("GET", tokenURL, "", "not-a-nonce-of-ours"))
	if code, _ := jsonError(body); resp.StatusCode != 400 || code != dpop.CodeUseNonce {
		t.Fatalf("a made-up nonce on replica 1: %d %s, want 400 use_dpop_nonce", resp.StatusCode, body)
	}
	resp, body = askToken(1, proof("GET", tokenURL, "", nonce))
	var answer struct {
		Token string `json:"access_token"`
	}
	json.Unmarshal([]byte(body), &answer)
	token := answer.Token
	if resp.StatusCode != 200 || token == "" {
		t.Fatalf("replica 1 with replica 0's nonce: %d %s", resp.StatusCode, body)
	}

	// The replay: a proof replica 0 accepted is refused by replica 1.
	call := func(i int, p string) (*http.Response, string) {
		return f.on(c, i, "POST", "/data", map[string]string{"Authorization": "DPoP " + token, "DPoP": p})
	}
	p := proof("POST", f.url+"/data", token, nonce)
	if resp, body := call(0, p); resp.StatusCode != 200 || reached.Load() != 1 {
		t.Fatalf("a fresh proof on replica 0: %d %s, app reached %d times", resp.StatusCode, body, reached.Load())
	}
	resp, body = call(1, p)
	if code, _ := jsonError(body); resp.StatusCode != 401 || code != dpop.CodeInvalidProof ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_dpop_proof"`) {
		t.Fatalf("the same proof on replica 1: %d %s (%s), want 401 invalid_dpop_proof", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
	}
	if n := reached.Load(); n != 1 {
		t.Fatalf("the replayed proof reached the app (%d requests)", n)
	}
	if resp, body := call(1, proof("POST", f.url+"/data", token, nonce)); resp.StatusCode != 200 || reached.Load() != 2 {
		t.Fatalf("a fresh proof on replica 1: %d %s", resp.StatusCode, body)
	}

	// The token's verification is remembered, but not past its session:
	// after a logout on replica 0, the still unexpired token with a fresh
	// proof and the old session cookie is refused on replica 1.
	u := mustURL(f.url)
	old := testenv.NewClient()
	old.Jar.SetCookies(u, c.Jar.Cookies(u))
	if resp, body := f.on(old, 1, "POST", "/data", map[string]string{"Authorization": "DPoP " + token, "DPoP": proof("POST", f.url+"/data", token, nonce)}); resp.StatusCode != 200 {
		t.Fatalf("the copied cookie before the logout: %d %s", resp.StatusCode, body)
	}
	if resp, _ := f.on(c, 0, "POST", Prefix+"logout", map[string]string{"X-TokenHook": "1"}); resp.StatusCode != 200 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	resp, body = f.on(old, 1, "POST", "/data", map[string]string{"Authorization": "DPoP " + token, "DPoP": proof("POST", f.url+"/data", token, nonce)})
	if code, _ := jsonError(body); resp.StatusCode != 401 || code != dpop.CodeInvalidToken || reached.Load() != 3 {
		t.Fatalf("the token after its session ended: %d %s, app reached %d times", resp.StatusCode, body, reached.Load())
	}

	// Where the used proofs live: their own prefix, kept for the window.
	ctx := context.Background()
	keys, err := f.rc.Keys(ctx, dpopReplayPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 5 { // the token request's proof and the four calls'
		t.Fatalf("%d used proofs under %s*, want 5: %q", len(keys), dpopReplayPrefix, keys)
	}
	window := dpop.DefaultWindow + dpop.DefaultLeeway
	for _, k := range keys {
		ttl, err := f.rc.PTTL(ctx, k).Result()
		if err != nil || ttl <= window-10*time.Second || ttl > window {
			t.Fatalf("%s expires in %v (%v), want about %v", k, ttl, err, window)
		}
	}
}

// TestDPoPProofsApartFromSignInStates: on one replica (no Redis) used proofs
// are remembered apart from the used sign-in states, so proofs never push
// states out of their bounded table.
func TestDPoPProofsApartFromSignInStates(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("app")) }))
	t.Cleanup(app.Close)
	e := newEnvWith(t, func(_ *testEnv, c *Config) { c.Upstream, c.BrowserToken = app.URL, config.BrowserTokenDPoP })
	c := e.signedIn(users[0])
	states := e.srv.states.(*once.Memory)
	if states.Len() != 1 {
		t.Fatalf("%d used sign-in states, want 1", states.Len())
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tokenURL := e.url + Prefix + "token"
	a := e.token(c, nil)
	nonce := a.header.Get(dpop.NonceHeader)
	a = e.token(c, map[string]string{"DPoP": testenv.DPoPProof(t, key, "GET", tokenURL, "", nonce)})
	token, _ := a.body["access_token"].(string)
	if token == "" {
		t.Fatalf("no token: %s", a)
	}
	var used string
	for range 5 {
		used = testenv.DPoPProof(t, key, "POST", e.url+"/data", token, nonce)
		if resp, body := do(t, c, "POST", e.url+"/data", map[string]string{"Authorization": "DPoP " + token, "DPoP": used}, ""); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	}
	if resp, _ := do(t, c, "POST", e.url+"/data", map[string]string{"Authorization": "DPoP " + token, "DPoP": used}, ""); resp.StatusCode != 401 {
		t.Fatalf("a used proof again: %d, want 401", resp.StatusCode)
	}
	if states.Len() != 1 {
		t.Fatalf("%d used sign-in states after 6 proofs, want 1", states.Len())
	}
}
