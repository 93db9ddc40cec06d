package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tokenhook/tokenhook/internal/idp"
	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/assertion"
	"github.com/tokenhook/tokenhook/server/verify"
)

// identityApp is an upstream app that records the headers of every request
// and WebSocket handshake it gets, and echoes WebSocket messages.
type identityApp struct {
	mu   sync.Mutex
	seen []http.Header
}

func (a *identityApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.seen = append(a.seen, r.Header.Clone())
	a.mu.Unlock()
	if r.Header.Get("Upgrade") != "websocket" {
		w.Write([]byte("app"))
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ctx := context.Background()
	for {
		typ, msg, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if err := ws.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

// last returns the headers of the latest request and forgets all.
func (a *identityApp) last() http.Header {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		return nil
	}
	h := a.seen[len(a.seen)-1]
	a.seen = nil
	return h
}

func newIdentityEnv(t *testing.T, mod func(*Config)) (*testEnv, *identityApp) {
	app := &identityApp{}
	return newAppEnv(t, app, func(_ *testEnv, c *Config) {
		if mod != nil {
			mod(c)
		}
	}), app
}

// bearerOf signs u in with a fresh browser and returns the browser and u's
// access token.
func (e *testEnv) bearerOf(u idp.User) (*http.Client, string) {
	e.t.Helper()
	c := e.signedIn(u)
	a := e.token(c, nil)
	at, _ := a.body["access_token"].(string)
	if at == "" {
		e.t.Fatalf("no access token: %v", a)
	}
	return c, at
}

// jwtClaims decodes a JWT's payload without checking it.
func jwtClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestOneIdentityPerRequest (issue 10, defect 4): viewer A's session cookie
// with viewer B's bearer is refused; a bearer and a session of the same
// viewer carry that session's assertion; a bearer alone carries none.
func TestOneIdentityPerRequest(t *testing.T) {
	e, app := newIdentityEnv(t, nil)
	ada, adaToken := e.bearerOf(users[0])
	_, bobToken := e.bearerOf(users[1])
	adaSub := jwtClaims(t, adaToken)["sub"]

	t.Run("session of A with bearer of B", func(t *testing.T) {
		resp, body := do(t, ada, "GET", e.url+"/report", map[string]string{"Authorization": "Bearer " + bobToken}, "")
		if resp.StatusCode != 401 || !strings.Contains(body, "invalid_token") || !strings.Contains(body, "different users") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Fatalf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
		}
		if h := app.last(); h != nil {
			t.Fatalf("the app received the request as %q with assertion %q", h.Get("X-Forwarded-Email"), h.Get(assertion.Header))
		}
	})
	t.Run("POST with session of A and bearer of B", func(t *testing.T) {
		resp, _ := do(t, ada, "POST", e.url+"/_dash-update-component", map[string]string{"Authorization": "Bearer " + bobToken}, "{}")
		if resp.StatusCode != 401 || app.last() != nil {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("session and bearer of A", func(t *testing.T) {
		resp, _ := do(t, ada, "POST", e.url+"/_dash-update-component", map[string]string{"Authorization": "Bearer " + adaToken}, "{}")
		h := app.last()
		if resp.StatusCode != 200 || h == nil {
			t.Fatalf("%d", resp.StatusCode)
		}
		if h.Get("X-Forwarded-Email") != users[0].Email {
			t.Fatalf("forwarded as %q", h.Get("X-Forwarded-Email"))
		}
		a := h.Get(assertion.Header)
		if a == "" || jwtClaims(t, a)["sub"] != adaSub {
			t.Fatalf("assertion %q does not follow A's session", a)
		}
	})
	t.Run("bearer alone", func(t *testing.T) {
		resp, _ := do(t, testenv.NewClient(), "POST", e.url+"/_dash-update-component", map[string]string{"Authorization": "Bearer " + bobToken}, "{}")
		h := app.last()
		if resp.StatusCode != 200 || h == nil || h.Get("X-Forwarded-Email") != users[1].Email {
			t.Fatalf("%d %v", resp.StatusCode, h)
		}
		if h.Get(assertion.Header) != "" {
			t.Fatal("a bearer without a session got a session assertion")
		}
	})
	t.Run("WebSocket with session of A and bearer of B", func(t *testing.T) {
		_, resp, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(e.url, "http")+"/ws", &websocket.DialOptions{
			HTTPClient: ada, HTTPHeader: http.Header{"Origin": {e.url}, "Authorization": {"Bearer " + bobToken}}})
		if err == nil || resp == nil || resp.StatusCode != 401 {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
	})
}

// TestOwnedHeadersInEverySpelling (issue 10, defect 5): client-sent headers
// that only tokenhook may set never reach the app, whatever their case or
// "_" for "-", on HTTP requests and WebSocket upgrades.
func TestOwnedHeadersInEverySpelling(t *testing.T) {
	e, app := newIdentityEnv(t, nil)
	c, _ := e.bearerOf(users[0])
	spoofed := []string{
		"X_TokenHook_Session", "X-Tokenhook_Session", "x-tokenhook-session", "X-TOKENHOOK-SESSION",
		"X-TokenHook-Anything", "X_TOKENHOOK", "X_Forwarded_Email", "x-forwarded_user",
		"X-Forwarded-Preferred_Username", "X_FORWARDED_GROUPS",
	}
	hdr := http.Header{}
	for _, k := range spoofed {
		hdr[k] = []string{"forged"} // sent exactly as spelled
	}
	check := func(t *testing.T, h http.Header) {
		t.Helper()
		if h == nil {
			t.Fatal("the app got nothing")
		}
		for k, v := range h {
			if strings.Contains(strings.Join(v, ","), "forged") {
				t.Errorf("%s: %q reached the app", k, v)
			}
		}
		if h.Get("X-Forwarded-Email") != users[0].Email || h.Get(assertion.Header) == "" {
			t.Errorf("own headers missing: email %q, assertion %q", h.Get("X-Forwarded-Email"), h.Get(assertion.Header))
		}
	}
	t.Run("HTTP", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.url+"/page", nil)
		req.Header = hdr.Clone()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		check(t, app.last())
	})
	t.Run("WebSocket", func(t *testing.T) {
		h := hdr.Clone()
		h.Set("Origin", e.url)
		ws, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(e.url, "http")+"/ws", &websocket.DialOptions{HTTPClient: c, HTTPHeader: h})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		check(t, app.last())
	})
}

// wsCloseStatus reads from ws until it ends and returns the close status
// and reason the proxy sent (-1 when the connection ended without a close
// frame, which browsers report as 1006).
func wsCloseStatus(t *testing.T, ws *websocket.Conn, within time.Duration) (websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			t.Fatalf("still open after %s", within)
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code, ce.Reason
		}
		return -1, err.Error()
	}
}

// dialSession opens a WebSocket through tokenhook with browser c's session.
func dialSession(t *testing.T, e *testEnv, c *http.Client) *websocket.Conn {
	t.Helper()
	return dialEcho(t, c, e.url, http.Header{})
}

// dialEcho opens a WebSocket to base+"/ws" from base's origin with browser
// c's cookies and the headers hdr, and checks it echoes.
func dialEcho(t *testing.T, c *http.Client, base string, hdr http.Header) *websocket.Conn {
	t.Helper()
	hdr.Set("Origin", base)
	ws, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(base, "http")+"/ws",
		&websocket.DialOptions{HTTPClient: c, HTTPHeader: hdr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	if err := ws.Write(t.Context(), websocket.MessageText, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := ws.Read(t.Context()); err != nil || string(msg) != "hello" {
		t.Fatalf("echo %q %v", msg, err)
	}
	return ws
}

// TestSessionWebSocketClosesWhenSessionEnds (issue 10, defect 6): an open
// WebSocket of a session gets a close frame 4401 at once when the session
// ends (logout, a dead refresh token, the session's expiry), well before
// the periodic re-check (one minute).
func TestSessionWebSocketClosesWhenSessionEnds(t *testing.T) {
	e, _ := newIdentityEnv(t, nil)
	logout := func(c *http.Client) {
		resp, _ := do(t, c, "POST", e.url+"/_tokenhook/logout", map[string]string{"X-TokenHook": "1"}, "")
		if resp.StatusCode != 200 {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
	}
	t.Run("logout", func(t *testing.T) {
		c, _ := e.bearerOf(users[0])
		ws := dialSession(t, e, c)
		other, _ := e.bearerOf(users[1])
		wsOther := dialSession(t, e, other)
		logout(c)
		if code, reason := wsCloseStatus(t, ws, 5*time.Second); code != 4401 || reason != "session ended" {
			t.Fatalf("closed with %d %q, want 4401", code, reason)
		}
		// Another viewer's connection stays open.
		if err := wsOther.Write(t.Context(), websocket.MessageText, []byte("still")); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := wsOther.Read(t.Context()); err != nil || string(msg) != "still" {
			t.Fatalf("other viewer's socket: %q %v", msg, err)
		}
	})
	t.Run("dead refresh token", func(t *testing.T) {
		c, _ := e.bearerOf(users[2])
		ws := dialSession(t, e, c)
		// Dex keeps one refresh token per user and client: signing in
		// again elsewhere revokes the first browser's refresh token.
		e.signIn(testenv.NewClient(), users[2], "/")
		e.expire(c)
		if a := e.token(c, nil); a.status != 401 {
			t.Fatalf("token with a revoked refresh token: %v", a)
		}
		if code, _ := wsCloseStatus(t, ws, 5*time.Second); code != 4401 {
			t.Fatalf("closed with %d, want 4401", code)
		}
	})
	t.Run("session expiry", func(t *testing.T) {
		c, _ := e.bearerOf(users[0])
		sess, key, err := e.srv.sessions.Load(mustReq(c, e.url))
		if err != nil {
			t.Fatal(err)
		}
		sess.ExpiresAt = time.Now().Add(1500 * time.Millisecond)
		if err := e.srv.store.Save(context.Background(), key, sess); err != nil {
			t.Fatal(err)
		}
		ws := dialSession(t, e, c)
		if code, _ := wsCloseStatus(t, ws, 5*time.Second); code != 4401 {
			t.Fatalf("closed with %d, want 4401", code)
		}
	})
}

// TestGroupsClaimSameOnBothPaths (issue 10, defect 7): a string groups claim
// is one group whether it arrives in a bearer or in the session: the same
// rule decision and the same X-Forwarded-Groups on both paths.
func TestGroupsClaimSameOnBothPaths(t *testing.T) {
	// Dex sends the display name as a string claim in access and ID tokens.
	team := users[3]
	for _, tc := range []struct {
		allowed string
		status  int
	}{
		{"data", 403}, // "data team" is one group, not "data" and "team"
		{"data team", 200},
	} {
		t.Run(tc.allowed, func(t *testing.T) {
			e, app := newIdentityEnv(t, func(c *Config) {
				c.GroupsClaim = "name"
				c.Rules = append(c.Rules, verify.Rule{PathPrefix: "/", Groups: []string{tc.allowed}})
			})
			c, at := e.bearerOf(team)
			sessionResp, _ := do(t, c, "GET", e.url+"/page", nil, "")
			sessionHeaders := app.last()
			bearerResp, _ := do(t, testenv.NewClient(), "GET", e.url+"/page", map[string]string{"Authorization": "Bearer " + at}, "")
			bearerHeaders := app.last()
			if sessionResp.StatusCode != tc.status || bearerResp.StatusCode != tc.status {
				t.Fatalf("session path %d, bearer path %d, want %d on both", sessionResp.StatusCode, bearerResp.StatusCode, tc.status)
			}
			if tc.status == 200 {
				if g, h := sessionHeaders.Get("X-Forwarded-Groups"), bearerHeaders.Get("X-Forwarded-Groups"); g != "data team" || h != g {
					t.Fatalf("X-Forwarded-Groups: session %q, bearer %q", g, h)
				}
			}
		})
	}
}

// TestShutdownClosesWebSockets: when the server shuts down, open WebSockets
// get the close code 1001 (going away) instead of a cut connection.
func TestShutdownClosesWebSockets(t *testing.T) {
	e, _ := newIdentityEnv(t, nil)
	c, _ := e.bearerOf(users[0])
	ws := dialSession(t, e, c)
	e.cancel()
	if code, reason := wsCloseStatus(t, ws, 5*time.Second); code != websocket.StatusGoingAway || reason != "server shutting down" {
		t.Fatalf("closed with %d %q, want 1001", code, reason)
	}
}

// TestSessionClaimsFollowTheSession: the proxy decodes a session's claims
// once (claimsMemo), and the memo cannot outlive them: when the session's
// claims change in the store, the next forwarded request carries the new
// ones. Two viewers never see each other's claims.
func TestSessionClaimsFollowTheSession(t *testing.T) {
	e, app := newIdentityEnv(t, nil)
	ada, _ := e.bearerOf(users[0])
	bob, _ := e.bearerOf(users[1])
	forwarded := func(c *http.Client) http.Header {
		t.Helper()
		resp, _ := do(t, c, "GET", e.url+"/report", nil, "")
		h := app.last()
		if resp.StatusCode != 200 || h == nil {
			t.Fatalf("%d, the app saw %v", resp.StatusCode, h)
		}
		return h
	}
	for range 2 { // the second time from the memo
		if got := forwarded(ada).Get("X-Forwarded-Preferred-Username"); got != "ada" {
			t.Fatalf("ada forwarded as %q", got)
		}
		if got := forwarded(bob).Get("X-Forwarded-Email"); got != users[1].Email {
			t.Fatalf("bob forwarded as %q", got)
		}
	}

	sess, key, err := e.srv.sessions.Load(mustReq(ada, e.url))
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(sess.Claims, &claims); err != nil {
		t.Fatal(err)
	}
	claims["preferred_username"] = "ada-renamed"
	if sess.Claims, err = json.Marshal(claims); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.store.Save(context.Background(), key, sess); err != nil {
		t.Fatal(err)
	}
	if got := forwarded(ada).Get("X-Forwarded-Preferred-Username"); got != "ada-renamed" {
		t.Fatalf("after the session's claims changed, forwarded as %q", got)
	}
}

// TestClaimsMemoBounded: the memo holds at most maxClaimsMemo claim sets,
// and what it hands out is a copy.
func TestClaimsMemoBounded(t *testing.T) {
	var cm claimsMemo
	for i := range maxClaimsMemo + 10 {
		c := cm.decode([]byte(fmt.Sprintf(`{"sub":"u%d","preferred_username":"n%d"}`, i, i)), "groups")
		if c.PreferredUsername != fmt.Sprintf("n%d", i) {
			t.Fatalf("claims %d: %+v", i, c)
		}
		if len(cm.m) > maxClaimsMemo {
			t.Fatalf("%d entries", len(cm.m))
		}
	}
	a := cm.decode([]byte(`{"preferred_username":"x"}`), "groups")
	a.PreferredUsername = "changed"
	if b := cm.decode([]byte(`{"preferred_username":"x"}`), "groups"); b.PreferredUsername != "x" {
		t.Fatalf("a caller's change reached the memo: %q", b.PreferredUsername)
	}
}
