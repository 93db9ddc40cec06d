package e2e_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/tokenhook/tokenhook/server/assertion"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/tokenhook/tokenhook/internal/browsertest"
	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server"
)

// dpopRecorder runs before the hook loads, so the hook's fetch wrapper sends
// through it: it keeps the Authorization and DPoP headers of every request
// the page sends (the test's view of the wire), and answers requests for
// /api/capture-* itself, so their proofs are never used.
const dpopRecorder = `window.sent = [];
var realFetch = window.fetch;
window.fetch = function (input, init) {
  var url = typeof input === "string" ? input : input.url;
  var h = new Headers(init && init.headers);
  window.sent.push({url: new URL(url, location.href).pathname, auth: h.get("Authorization"), dpop: h.get("DPoP")});
  if (url.indexOf("/api/capture-") >= 0) return Promise.resolve(new Response("captured"));
  return realFetch.apply(this, arguments);
};`

// sentRequest is one entry of window.sent.
type sentRequest struct {
	URL  string `json:"url"`
	Auth string `json:"auth"`
	DPoP string `json:"dpop"`
}

// proofKey signs DPoP proofs in Go (an attacker's key, or a client's).
type proofKey struct{ key *ecdsa.PrivateKey }

func newProofKey(t testing.TB) *proofKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &proofKey{k}
}

// proof is a DPoP proof for method and u, with ath for token and nonce
// when they are not "".
func (k *proofKey) proof(t testing.TB, method, u, token, nonce string) string {
	t.Helper()
	return testenv.DPoPProof(t, k.key, method, u, token, nonce)
}

// jwtClaims decodes the claims of a JWT into v (the signature is the
// server's business; this reads them).
func jwtClaims(t *testing.T, jwt string, v any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("%.20q… is not a JWT", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Fatalf("JWT claims %s: %v", b, err)
	}
}

// tokenJKT returns the cnf.jkt of a token.
func tokenJKT(t *testing.T, token string) string {
	t.Helper()
	var c struct {
		Cnf struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if jwtClaims(t, token, &c); c.Cnf.JKT == "" {
		t.Fatalf("token %.20q… has no cnf.jkt", token)
	}
	return c.Cnf.JKT
}

// sessionCookies reads the tab's cookies for the origin over CDP (the
// session cookie is HttpOnly).
func sessionCookies(t *testing.T, e *env, tab *browsertest.Tab) []*http.Cookie {
	t.Helper()
	jar, err := chromedp.Call(tab.Context(), network.GetCookies, network.GetCookiesParams{URLs: []string{e.Origin}})
	if err != nil {
		t.Fatalf("read the session cookie: %v", err)
	}
	var cs []*http.Cookie
	for _, c := range jar.Cookies {
		cs = append(cs, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	return cs
}

// send makes a request with Go's client, with cookies and headers.
func send(t *testing.T, method, u string, cookies []*http.Cookie, headers map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader("b"))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestBrowserTokenDPoP: with --browser-token dpop the page holds a token
// tokenhook minted, bound to a key the page cannot export; its fetch and
// XHR POSTs carry the token and a fresh proof and reach the app with the
// viewer's identity and provider token (never ours). The token copied out
// of the page, with the session cookie, is refused without a proof, with a
// proof of another key, with a used proof, and with a proof for another
// method or URL, each with a DPoP challenge, and none of them reaches the
// app. The key survives a reload.
func TestBrowserTokenDPoP(t *testing.T) {
	e := newEnv(t, envOptions{Upstream: true, BrowserToken: "dpop"})
	e.pageWith("/dash", dpopRecorder, "", `<p>dashboard</p>`)
	tab := browser.Tab(t)
	e.signIn(tab, "/dash")

	ids := map[string]string{"DPoP": "", "X-Forwarded-Email": e.email}
	runHookCases(t, e, tab, e.Backend, []hookCase{
		{name: "fetch POST", js: post("/api/fetch", "f", ""), path: "/api/fetch", body: "f", auth: "token", headers: ids},
		{name: "XHR POST", js: `xhr("POST", "/api/xhr", "x")`, path: "/api/xhr", body: "x", auth: "token", headers: ids},
	})
	if h := e.Backend.at("/api/fetch"); len(h) == 1 && h[0].Header.Get(assertion.Header) == "" {
		t.Error("the app got no session assertion")
	}

	t.Run("the key cannot be exported", func(t *testing.T) {
		got := browsertest.Eval[string](tab, `new Promise(function (ok, no) {
			var o = indexedDB.open("tokenhook", 1);
			o.onerror = no;
			o.onsuccess = function () {
				var g = o.result.transaction("keys").objectStore("keys").get("dpop");
				g.onerror = no;
				g.onsuccess = function () { ok(g.result); };
			};
		}).then(function (p) {
			if (!p) return "no key stored";
			return Promise.all(["jwk", "pkcs8"].map(function (f) {
				return crypto.subtle.exportKey(f, p.privateKey).then(function () { return "exported"; }, function (e) { return e.name; });
			})).then(function (r) { return r.join(","); });
		})`)
		if got != "InvalidAccessError,InvalidAccessError" {
			t.Errorf("exportKey of the stored private key: %s, want InvalidAccessError for jwk and pkcs8", got)
		}
	})

	// Proofs the page signed and never used (the recorder answered them).
	browsertest.Eval[bool](tab, `Promise.all([1, 2, 3, 4].map(function (i) {
		return fetch("/api/capture-" + i, {method: "POST", body: "c"});
	})).then(function () { return true; })`)
	var sent []sentRequest
	raw := browsertest.Eval[string](tab, `JSON.stringify(window.sent)`)
	if err := json.Unmarshal([]byte(raw), &sent); err != nil {
		t.Fatal(err)
	}
	captured := map[string]sentRequest{}
	for _, s := range sent {
		captured[s.URL] = s
	}
	c1 := captured["/api/capture-1"]
	if !strings.HasPrefix(c1.Auth, "DPoP ") || c1.DPoP == "" {
		t.Fatalf("the page sent %+v, want Authorization: DPoP and a DPoP proof", c1)
	}
	token := strings.TrimPrefix(c1.Auth, "DPoP ")
	if got := browsertest.Eval[string](tab, `TokenHook.getToken()`); got != token {
		t.Errorf("getToken() = %.20q…, want the token the requests carry", got)
	}
	jkt := tokenJKT(t, token)
	cookies := sessionCookies(t, e, tab)
	auth := "DPoP " + token

	// The page's own proof works once from anywhere: the control case.
	resp := send(t, "POST", e.Origin+"/api/capture-1", cookies, map[string]string{"Authorization": auth, "DPoP": c1.DPoP})
	if hits := e.Backend.at("/api/capture-1"); resp.StatusCode != http.StatusOK || len(hits) != 1 {
		t.Fatalf("an unused proof of the page: status %d, %d requests reached the app; want 200 and 1", resp.StatusCode, len(hits))
	}
	nonce := resp.Header.Get("DPoP-Nonce")
	if nonce == "" {
		// The answer renews the nonce only when it changed: read it off a refusal.
		nonce = send(t, "POST", e.Origin+"/api/nonce", cookies, map[string]string{"Authorization": auth}).Header.Get("DPoP-Nonce")
	}
	other := newProofKey(t)
	for _, tc := range []struct {
		name, method, path string
		headers            map[string]string
	}{
		{"no proof", "POST", "/api/replay-none", map[string]string{"Authorization": auth}},
		{"a proof of another key", "POST", "/api/replay-other", map[string]string{"Authorization": auth, "DPoP": other.proof(t, "POST", e.Origin+"/api/replay-other", token, nonce)}},
		{"a used proof", "POST", "/api/capture-1", map[string]string{"Authorization": auth, "DPoP": c1.DPoP}},
		{"a proof for another method", "PUT", "/api/capture-2", map[string]string{"Authorization": auth, "DPoP": captured["/api/capture-2"].DPoP}},
		{"a proof for another URL", "POST", "/api/replay-url", map[string]string{"Authorization": auth, "DPoP": captured["/api/capture-3"].DPoP}},
		{"as a bearer", "POST", "/api/replay-bearer", map[string]string{"Authorization": "Bearer " + token}},
		{"without the session", "POST", "/api/capture-4", map[string]string{"Authorization": auth, "DPoP": captured["/api/capture-4"].DPoP}},
	} {
		t.Run("replayed "+tc.name, func(t *testing.T) {
			before := len(e.Backend.at(tc.path))
			cs := cookies
			if tc.name == "without the session" {
				cs = nil
			}
			resp := send(t, tc.method, e.Origin+tc.path, cs, tc.headers)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
			challenge := resp.Header.Get("WWW-Authenticate")
			if want := "DPoP "; tc.name != "as a bearer" && !strings.HasPrefix(challenge, want) {
				t.Errorf("WWW-Authenticate %q, want a DPoP challenge", challenge)
			}
			if n := len(e.Backend.at(tc.path)); n != before {
				t.Errorf("%d requests reached the app, want none", n-before)
			}
		})
	}

	t.Run("the key survives a reload", func(t *testing.T) {
		tab.Navigate(e.Origin + "/dash")
		again := browsertest.Eval[string](tab, `TokenHook.getToken()`)
		if again == token {
			t.Fatal("the page kept its token across a reload (it lives in memory only)")
		}
		if got := tokenJKT(t, again); got != jkt {
			t.Errorf("after a reload the token is bound to %s, want the same key %s", got, jkt)
		}
	})
}

// TestBrowserTokenDPoPTokenEndpoint: a client of the token endpoint in dpop
// mode (here Go, with its own key and the session cookie) learns the mode
// and a nonce from its first request (200 token_type DPoP, no token), is
// asked for the nonce when its proof has none (400 use_dpop_nonce with
// DPoP-Nonce), then gets a token bound
// to its key, at most five minutes, never stored; with the token and fresh
// proofs its requests reach the app with the provider's token. Without a
// session it gets login_required before any proof is looked at.
func TestBrowserTokenDPoPTokenEndpoint(t *testing.T) {
	e := newEnv(t, envOptions{Upstream: true, BrowserToken: "dpop"})
	e.page("/dash", "", `<p>dashboard</p>`)
	tab := browser.Tab(t)
	e.signIn(tab, "/dash")
	cookies := sessionCookies(t, e, tab)
	k := newProofKey(t)
	tokenURL := e.Origin + server.Prefix + "token"
	client := &http.Client{Timeout: 10 * time.Second}
	ask := func(cs []*http.Cookie, proof string) (*http.Response, map[string]any) {
		return askToken(t, client, tokenURL, cs, proof)
	}

	if resp, body := ask(nil, k.proof(t, "GET", tokenURL, "", "")); resp.StatusCode != http.StatusUnauthorized || body["error"] != "login_required" {
		t.Errorf("without a session: %d %v, want 401 login_required", resp.StatusCode, body)
	}
	resp, body := ask(cookies, "")
	if resp.StatusCode != http.StatusOK || body["token_type"] != "DPoP" || body["access_token"] != nil || resp.Header.Get("DPoP-Nonce") == "" {
		t.Errorf("without a proof: %d %v, want 200 token_type DPoP, no token, and a DPoP-Nonce", resp.StatusCode, body)
	}
	resp, body = ask(cookies, k.proof(t, "GET", tokenURL, "", ""))
	nonce := resp.Header.Get("DPoP-Nonce")
	if resp.StatusCode != http.StatusBadRequest || body["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("a proof without a nonce: %d %v (DPoP-Nonce %q), want 400 use_dpop_nonce with a nonce", resp.StatusCode, body, nonce)
	}
	resp, body = ask(cookies, k.proof(t, "GET", tokenURL, "", nonce))
	token, _ := body["access_token"].(string)
	if resp.StatusCode != http.StatusOK || body["token_type"] != "DPoP" || token == "" {
		t.Fatalf("with the nonce: %d %v, want 200 and a DPoP token", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if in, _ := body["expires_in"].(float64); in <= 0 || in > 300 {
		t.Errorf("expires_in %v, want at most 300", body["expires_in"])
	}
	if got, want := tokenJKT(t, token), jktOf(t, k); got != want {
		t.Errorf("token bound to %s, want the proof's key %s", got, want)
	}
	for i := range 2 {
		path := fmt.Sprintf("/api/go-%d", i)
		resp := send(t, "POST", e.Origin+path, cookies, map[string]string{"Authorization": "DPoP " + token, "DPoP": k.proof(t, "POST", e.Origin+path, token, nonce)})
		hits := e.Backend.at(path)
		if resp.StatusCode != http.StatusOK || len(hits) != 1 {
			t.Fatalf("%s: status %d, %d requests reached the app", path, resp.StatusCode, len(hits))
		}
		if tok := e.checkToken(hits[0].Auth); tok == token {
			t.Error("the app received our DPoP token, want the provider's")
		}
	}
}

// jktOf is the RFC 7638 thumbprint of k's public key.
func jktOf(t *testing.T, k *proofKey) string {
	t.Helper()
	sum, err := (&jose.JSONWebKey{Key: k.key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(sum)
}

// askToken asks the token endpoint at tokenURL as the script does, with
// cookies and the DPoP proof when not "", and returns the answer and its
// JSON body.
func askToken(t testing.TB, client *http.Client, tokenURL string, cookies []*http.Cookie, proof string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", tokenURL, nil)
	req.Header.Set("X-TokenHook", "1")
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

// TestBrowserTokenDPoPRefused: with --browser-token dpop, when the app
// refuses the provider token tokenhook attached (401 invalid_token), the
// script's report makes tokenhook refresh it (one grant at Dex) and mint a
// fresh DPoP token, and the script replays the request once with that token
// and a proof of its own: the fetch and the XHR succeed with the refreshed
// provider token.
func TestBrowserTokenDPoPRefused(t *testing.T) {
	e, refused, tab := pickyApp(t, "dpop")
	for i, js := range []string{
		`fetch("/api/picky/%d", {method: "POST", body: "%d"})`,
		`xhr("POST", "/api/picky/%d", "%d")`,
	} {
		call := func(n int) int {
			return browsertest.Eval[result](tab, `res(`+fmt.Sprintf(js, n, n)+`)`).Status
		}
		base := 10 * i
		if s := call(base); s != http.StatusOK {
			t.Fatalf("%s: first call: status %d", js, s)
		}
		first := e.Backend.at(fmt.Sprintf("/api/picky/%d", base))[0].Auth
		e.checkToken(first)
		refused.Store(first, true) // as if the provider revoked it
		grants := e.Grants.Load()
		if s := call(base + 1); s != http.StatusOK {
			t.Errorf("%s: the refused call: status %d, want 200 after the replay", js, s)
		}
		if n := e.Grants.Load() - grants; n != 1 {
			t.Errorf("%s: %d refresh grants after the app refused the token, want 1", js, n)
		}
		hits := e.Backend.at(fmt.Sprintf("/api/picky/%d", base+1))
		if len(hits) != 2 || hits[1].Auth == first {
			t.Fatalf("%s: %d requests, the replay did not carry a fresh token", js, len(hits))
		}
		e.checkToken(hits[1].Auth)
	}
}

// dpopNonceRecorder is dpopRecorder plus two things: an answer of its own
// for /api/stale-nonce carrying the DPoP-Nonce "stale" (the page then holds a
// nonce the server no longer accepts, as after two nonce periods idle), and
// window.xsent, the DPoP header of every XHR the hook sends.
const dpopNonceRecorder = dpopRecorder + `
var realFetch2 = window.fetch;
window.fetch = function (input, init) {
  var url = typeof input === "string" ? input : input.url;
  if (url.indexOf("/api/stale-nonce") >= 0) return Promise.resolve(new Response("stale", {headers: {"DPoP-Nonce": "stale"}}));
  return realFetch2.apply(this, arguments);
};
window.xsent = [];
var xOpen = XMLHttpRequest.prototype.open, xSet = XMLHttpRequest.prototype.setRequestHeader;
XMLHttpRequest.prototype.open = function (m, u) { this.recordedURL = u; return xOpen.apply(this, arguments); };
XMLHttpRequest.prototype.setRequestHeader = function (k, v) {
  if (k === "DPoP") window.xsent.push({url: this.recordedURL, dpop: v});
  return xSet.apply(this, arguments);
};`

// proofNonce returns the nonce claim of a DPoP proof.
func proofNonce(t *testing.T, proof string) string {
	t.Helper()
	var c struct {
		Nonce string `json:"nonce"`
	}
	jwtClaims(t, proof, &c)
	return c.Nonce
}

// TestBrowserTokenDPoPNonce (issue 15): when the page's nonce is one the
// composed server no longer accepts, a request is answered 401
// use_dpop_nonce with a fresh DPoP-Nonce; the fetch and the XHR wrappers
// send it once more with a proof carrying that nonce, the app receives it
// once, and the page sees only the success.
func TestBrowserTokenDPoPNonce(t *testing.T) {
	e := newEnv(t, envOptions{Upstream: true, BrowserToken: "dpop"})
	e.pageWith("/dash", dpopNonceRecorder, "", `<p>dashboard</p>`)
	tab := browser.Tab(t)
	e.signIn(tab, "/dash")

	stale := `fetch("/api/stale-nonce", {method: "POST", body: "s"}).then(function () { return %s; })`
	ids := map[string]string{"DPoP": "", "X-Forwarded-Email": e.email}
	runHookCases(t, e, tab, e.Backend, []hookCase{
		{name: "fetch POST", js: fmt.Sprintf(stale, post("/api/nonce-fetch", "f", "")), path: "/api/nonce-fetch", body: "f", auth: "token", headers: ids},
		{name: "XHR POST", js: fmt.Sprintf(stale, `xhr("POST", "/api/nonce-xhr", "x")`), path: "/api/nonce-xhr", body: "x", auth: "token", headers: ids},
	})

	var sent []sentRequest
	raw := browsertest.Eval[string](tab, `JSON.stringify(window.sent.concat(window.xsent))`)
	if err := json.Unmarshal([]byte(raw), &sent); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/api/nonce-fetch", "/api/nonce-xhr"} {
		var nonces []string
		for _, s := range sent {
			if strings.HasSuffix(s.URL, path) {
				nonces = append(nonces, proofNonce(t, s.DPoP))
			}
		}
		if len(nonces) != 2 || nonces[0] != "stale" || nonces[1] == "" || nonces[1] == "stale" {
			t.Errorf("%s: the page sent proofs with nonces %q, want two: \"stale\", then the server's", path, nonces)
		}
	}
}
