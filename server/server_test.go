package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/server/broker"

	"github.com/gorilla/sessions"

	"github.com/tokenhook/tokenhook/internal/idp/idptest"
	"github.com/tokenhook/tokenhook/internal/testenv"
)

func TestSignInAndToken(t *testing.T) {
	e := newEnv(t)
	c := testenv.NewClient()
	resp := e.signIn(c, users[0], "/reports/q3?tab=2")
	if loc := resp.Header.Get("Location"); loc != "/reports/q3?tab=2" {
		t.Fatalf("redirected to %q after sign-in, want rd", loc)
	}
	a := e.token(c, nil)
	if a.status != http.StatusOK {
		t.Fatalf("token: %v", a)
	}
	at, _ := a.body["access_token"].(string)
	if strings.Count(at, ".") != 2 || a.body["token_type"] != "Bearer" {
		t.Fatalf("want a Bearer JWT, got %v", a)
	}
	if exp, _ := a.body["expires_at"].(float64); time.Unix(int64(exp), 0).Before(time.Now()) {
		t.Fatalf("expires_at %v is in the past", exp)
	}
	if cc := a.header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control = %q", cc)
	}
	if a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("token endpoint sent CORS headers")
	}
	// userinfo: claims, no tokens
	r, err := c.Get(e.url + "/_tokenhook/userinfo")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 || !strings.Contains(string(b), `"email":"ada@example.com"`) || strings.Contains(string(b), at) {
		t.Fatalf("userinfo: %d %s", r.StatusCode, b)
	}
	// Cookie attributes on plain http: HttpOnly, SameSite=Lax, Path=/, no Domain.
	for _, ck := range c.Jar.Cookies(mustURL(e.url)) {
		if ck.Name == "tokenhook" {
			return
		}
	}
	t.Fatal("no tokenhook session cookie in the jar")
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestSessionCookieAttributes(t *testing.T) {
	for _, tc := range []struct {
		publicURL, name string
		secure          bool
	}{
		{"http://127.0.0.1:4180", "tokenhook", false},
		{"https://dash.example.com", "__Host-tokenhook", true},
	} {
		s, err := New(context.Background(), Config{PublicURL: tc.publicURL, AuthURL: "https://idp.example/a", TokenURL: "https://idp.example/t",
			ClientID: "c", ClientSecret: "s", CookieSecret: []byte(strings.Repeat("k", 32))}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		if _, err := s.sessions.Start(rec, httptest.NewRequest("GET", "/", nil), sessionFor("at", time.Hour)); err != nil {
			t.Fatal(err)
		}
		sc := rec.Header().Get("Set-Cookie")
		for _, want := range []string{tc.name + "=", "Path=/", "HttpOnly", "SameSite=Lax"} {
			if !strings.Contains(sc, want) {
				t.Errorf("%s: Set-Cookie %q lacks %q", tc.publicURL, sc, want)
			}
		}
		if strings.Contains(sc, "Secure") != tc.secure || strings.Contains(strings.ToLower(sc), "domain=") {
			t.Errorf("%s: Set-Cookie %q: Secure want %v, Domain must be absent", tc.publicURL, sc, tc.secure)
		}
	}
}

func TestTokenEndpointGuards(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn(users[0])
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		status int
		code   string
	}{
		{"missing X-TokenHook", map[string]string{"X-TokenHook": ""}, 400, "invalid_request"},
		{"wrong X-TokenHook", map[string]string{"X-TokenHook": "yes"}, 400, "invalid_request"},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "forbidden"},
		{"same-site fetch", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200, ""},
		{"oversized stale hash", map[string]string{"X-TokenHook-Stale": strings.Repeat("a", 100)}, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := e.token(c, tc.hdr)
			if a.status != tc.status || (tc.code != "" && a.body["error"] != tc.code) {
				t.Fatalf("got %v, want %d %s", a, tc.status, tc.code)
			}
			if tc.status != 200 && strings.Contains(a.raw, "access_token") {
				t.Fatal("refused request still got a token")
			}
		})
	}
	t.Run("no session", func(t *testing.T) {
		if a := e.token(testenv.NewClient(), nil); a.status != 401 || a.body["error"] != "login_required" {
			t.Fatalf("got %v", a)
		}
	})
	t.Run("tampered cookie", func(t *testing.T) {
		u := mustURL(e.url)
		var val string
		for _, ck := range c.Jar.Cookies(u) {
			if ck.Name == "tokenhook" {
				val = ck.Value
			}
		}
		bad := []byte(val)
		bad[len(bad)/2] ^= 1
		b := testenv.NewClient()
		b.Jar.SetCookies(u, []*http.Cookie{{Name: "tokenhook", Value: string(bad)}})
		if a := e.token(b, nil); a.status != 401 || a.body["error"] != "login_required" {
			t.Fatalf("tampered cookie: %v", a)
		}
	})
}

func TestRefreshSingleFlight(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn(users[0])
	first := e.token(c, nil).body["access_token"]
	base := e.tokenCalls.Load() // the code exchange
	e.expire(c)
	const n = 50
	var wg sync.WaitGroup
	got := make([]tokenAnswer, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = e.token(c, nil)
		}()
	}
	wg.Wait()
	if calls := e.tokenCalls.Load() - base; calls != 1 {
		t.Fatalf("%d concurrent token calls caused %d refreshes at the IdP, want 1", n, calls)
	}
	for i, a := range got {
		if a.status != 200 || a.body["access_token"] == first || a.body["access_token"] != got[0].body["access_token"] {
			t.Fatalf("caller %d: %v", i, a)
		}
	}
}

func TestStaleTokenForcesOneRefresh(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn(users[0])
	at := e.token(c, nil).body["access_token"].(string)
	base := e.tokenCalls.Load()
	a := e.token(c, map[string]string{"X-TokenHook-Stale": broker.TokenHash(at)})
	if a.status != 200 || a.body["access_token"] == at {
		t.Fatalf("stale token not replaced: %v", a)
	}
	// The same stale hash again: the token was already replaced, no new refresh.
	b := e.token(c, map[string]string{"X-TokenHook-Stale": broker.TokenHash(at)})
	if b.body["access_token"] != a.body["access_token"] || e.tokenCalls.Load()-base != 1 {
		t.Fatalf("second stale call refreshed again (%d refreshes)", e.tokenCalls.Load()-base)
	}
}

func TestDeadRefreshTokenEndsSession(t *testing.T) {
	e := newEnv(t)
	c1 := e.signedIn(users[1])
	// Dex keeps one refresh token per user and client: signing in again
	// elsewhere revokes the first browser's refresh token.
	e.signIn(testenv.NewClient(), users[1], "/")
	e.expire(c1)
	if a := e.token(c1, nil); a.status != 401 || a.body["error"] != "login_required" {
		t.Fatalf("dead refresh token: %v", a)
	}
	if a := e.token(c1, nil); a.status != 401 {
		t.Fatalf("session survived its refresh token: %v", a)
	}
}

func TestSessionSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn(users[2])
	at := e.token(c, nil).body["access_token"]
	e.restart()
	a := e.token(c, nil)
	if a.status != 200 || a.body["access_token"] != at {
		t.Fatalf("after restart: %v", a)
	}
}

func TestCallbackReplayAndMismatch(t *testing.T) {
	e := newEnv(t)
	// Stop at tokenhook's callback to hold the code and state.
	cb, txCookie := e.holdCallback(testenv.NewClient(), 0)
	get := func(u string, cookies []*http.Cookie) *http.Response {
		r, _ := get(t, u, cookies)
		return r
	}
	// Wrong state: refused.
	bad, _ := url.Parse(cb)
	q := bad.Query()
	q.Set("state", "forged")
	bad.RawQuery = q.Encode()
	if r := get(bad.String(), txCookie); r.StatusCode != 400 {
		t.Fatalf("state mismatch: %d", r.StatusCode)
	}
	// The right state but the transaction was used up by the failed attempt?
	// No: a mismatch must not burn the real state, but the cookie is cleared,
	// so replaying with a copied cookie is the attacker's case.
	if r := get(cb, txCookie); r.StatusCode != 302 || r.Header.Get("Location") != "/x" {
		t.Fatalf("genuine callback: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if r := get(cb, txCookie); r.StatusCode != 400 {
		t.Fatalf("replayed callback with copied cookie: %d, want 400", r.StatusCode)
	}
	if r := get(cb, nil); r.StatusCode != 400 {
		t.Fatalf("callback without transaction cookie: %d, want 400", r.StatusCode)
	}
}

func TestPKCEVerifierMismatch(t *testing.T) {
	e := newEnv(t)
	c := testenv.NewClient()
	resp, err := idptest.Login(context.Background(), c, e.url+"/_tokenhook/login", users[0].Email, users[0].Password,
		func(u *url.URL) bool { return u.Path == "/_tokenhook/callback" })
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb, _ := url.Parse(resp.Header.Get("Location"))
	// Forge a transaction with the right state but another PKCE verifier.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/", nil)
	hashKey, blockKey, err := cookieKeys(e.cfg.CookieSecret)
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := sessions.NewCookieStore(hashKey, blockKey).New(req, "tokenhook-login")
	tx.Values["state"] = cb.Query().Get("state")
	tx.Values["verifier"] = "a-different-verifier-a-different-verifier-000"
	tx.Values["nonce"] = "n"
	tx.Values["rd"] = "/"
	if err := tx.Save(req, rec); err != nil {
		t.Fatal(err)
	}
	r2, _ := http.NewRequest("GET", cb.String(), nil)
	for _, ck := range rec.Result().Cookies() {
		r2.AddCookie(ck)
	}
	r, err := http.DefaultTransport.RoundTrip(r2)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	// The provider refuses the code (invalid_grant): the client's problem.
	if r.StatusCode != http.StatusBadRequest {
		t.Fatalf("PKCE mismatch: status %d, want 400", r.StatusCode)
	}
	for _, ck := range r.Cookies() {
		if ck.Name == "tokenhook" && ck.MaxAge >= 0 {
			t.Fatal("a session was created despite the PKCE mismatch")
		}
	}
}

func TestOpenRedirectRefusedAfterSignIn(t *testing.T) {
	e := newEnv(t)
	resp := e.signIn(testenv.NewClient(), users[0], "//evil.example/steal")
	if loc := resp.Header.Get("Location"); loc != "/" {
		t.Fatalf("redirected to %q", loc)
	}
}

func TestIdPErrorPage(t *testing.T) {
	e := newEnv(t)
	r, err := http.Get(e.url + "/_tokenhook/callback?error=access_denied&error_description=" + url.QueryEscape("<script>alert(1)</script>"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	body := string(b)
	if r.StatusCode != 403 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d type %s", r.StatusCode, r.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, "Access was denied") || strings.Contains(body, "<script>") || strings.Contains(body, "goroutine") {
		t.Fatalf("page: %s", body)
	}
	if strings.Contains(body, "\n  ") {
		t.Fatal("page is not minified")
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn(users[0])
	post := func(hdr map[string]string) *http.Response {
		req, _ := http.NewRequest("POST", e.url+"/_tokenhook/logout", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		r, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r
	}
	if r := post(nil); r.StatusCode != 403 {
		t.Fatalf("logout without CSRF proof: %d", r.StatusCode)
	}
	if r := post(map[string]string{"Origin": "http://evil.example"}); r.StatusCode != 403 {
		t.Fatalf("logout from a foreign origin: %d", r.StatusCode)
	}
	if a := e.token(c, nil); a.status != 200 {
		t.Fatalf("refused logouts ended the session: %v", a)
	}
	if r := post(map[string]string{"X-TokenHook": "1"}); r.StatusCode != 200 {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	if a := e.token(c, nil); a.status != 401 {
		t.Fatalf("token after logout: %v", a)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"healthz", "readyz"} {
		r, err := http.Get(e.url + "/_tokenhook/" + p)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, r, err)
		}
		r.Body.Close()
	}
	// A provider that is not reachable: alive but not ready, and sign-in says so.
	s, err := New(context.Background(), Config{Issuer: "http://127.0.0.1:1/none", ClientID: "c", ClientSecret: "s",
		CookieSecret: []byte(strings.Repeat("k", 32))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/_tokenhook/healthz": 200, "/_tokenhook/readyz": 503, "/_tokenhook/login": 503} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("%s = %d, want %d", path, rec.Code, want)
		}
	}
}

// TestLogsHoldNoSecrets runs the whole flow with debug logging and checks that
// no token, code, secret or cookie value reached the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	e := newEnv(t)
	c := testenv.NewClient()
	resp, err := idptest.Login(context.Background(), c, e.url+"/_tokenhook/login?rd=/", users[0].Email, users[0].Password,
		func(u *url.URL) bool { return u.Path == "/_tokenhook/callback" })
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb, _ := url.Parse(resp.Header.Get("Location"))
	r, err := c.Get(cb.String())
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	at := e.token(c, nil).body["access_token"].(string)
	e.expire(c)
	at2 := e.token(c, nil).body["access_token"].(string)
	e.token(c, map[string]string{"X-TokenHook-Stale": broker.TokenHash(at2)})
	sess, _, _ := e.srv.sessions.Load(mustReq(c, e.url))
	logs := e.logs.String()
	if !strings.Contains(logs, "audit=sign_in") {
		t.Fatalf("expected sign-in to be logged; logs:\n%s", logs)
	}
	secrets := map[string]string{"code": cb.Query().Get("code"), "state": cb.Query().Get("state"), "access token": at, "refreshed access token": at2, "client secret": testSecret}
	if sess != nil {
		secrets["refresh token"] = sess.RefreshToken
	}
	for _, ck := range c.Jar.Cookies(mustURL(e.url)) {
		secrets["cookie "+ck.Name] = ck.Value
	}
	for name, v := range secrets {
		if v == "" {
			t.Fatalf("test could not capture %s", name)
		}
		if strings.Contains(logs, v) {
			t.Errorf("log contains the %s", name)
		}
	}
}

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics internally if it cannot)
	return base64.RawURLEncoding.EncodeToString(b)
}

func mustReq(c *http.Client, base string) *http.Request {
	req := httptest.NewRequest("GET", base+"/", nil)
	for _, ck := range c.Jar.Cookies(mustURL(base)) {
		req.AddCookie(ck)
	}
	return req
}

func TestServesTheScript(t *testing.T) {
	s, err := New(context.Background(), Config{AuthURL: "http://127.0.0.1:1/a", TokenURL: "http://127.0.0.1:1/t",
		ClientID: "c", ClientSecret: "s", CookieSecret: []byte(strings.Repeat("k", 32))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path   string
		status int
		cache  string
	}{
		{"/_tokenhook/tokenhook.js", 200, "max-age=300"},
		{s.bundle.HashedPath(), 200, "immutable"},
		{"/_tokenhook/other.js", 404, ""},
	} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if rec.Code != tc.status || !strings.Contains(rec.Header().Get("Cache-Control"), tc.cache) {
			t.Errorf("%s: %d %q", tc.path, rec.Code, rec.Header().Get("Cache-Control"))
		}
		if tc.status == 200 && (!strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") || !strings.Contains(rec.Body.String(), "TokenHook")) {
			t.Errorf("%s: not the script: %q", tc.path, rec.Header().Get("Content-Type"))
		}
	}
}
