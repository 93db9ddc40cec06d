package server

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/server/assertion"

	"github.com/tokenhook/tokenhook/server/connection"
)

// TestWebSocketAssertionLivesWithSession: a WebSocket app keeps the
// assertion of the upgrade for the connection's life, so that assertion
// stays exchangeable past the five minutes of an HTTP request's while the
// session lives, and is refused once the session ended. Through the
// composed server with its clock moved forward.
func TestWebSocketAssertionLivesWithSession(t *testing.T) {
	app := &identityApp{}
	e := newAppEnv(t, app, func(_ *testEnv, c *Config) { c.ExchangeSecret = exchangeSecret })
	// No request has reached the server yet: setting its clock is safe.
	var ahead atomic.Int64
	e.srv.now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	d := &dataEnv{testEnv: e}
	c, _ := e.bearerOf(users[0])

	if resp, _ := do(t, c, "GET", e.url+"/report", map[string]string{"Accept": "text/html"}, ""); resp.StatusCode != 200 {
		t.Fatalf("page: %d", resp.StatusCode)
	}
	page := app.last().Get(assertion.Header)
	ws := dialSession(t, e, c)
	upgrade := app.last().Get(assertion.Header)
	if page == "" || upgrade == "" {
		t.Fatalf("assertions: page %q, upgrade %q", page, upgrade)
	}

	exchange := func(assertion string) exchangeResult {
		t.Helper()
		return d.exchange(t, assertion, connection.ReservedName, nil)
	}
	for name, a := range map[string]string{"page": page, "upgrade": upgrade} {
		if r := exchange(a); r.status != 200 {
			t.Fatalf("the %s's assertion at once: %v", name, r)
		}
	}
	// The upgrade's assertion ends with the session, not later.
	sess, _, err := e.srv.sessions.Load(mustReq(c, e.url))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := e.srv.assertions.Verify(upgrade, e.url, e.srv.assertionAudience(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if exp := claims.Expiry.Time(); exp.After(sess.ExpiresAt) || exp.Before(time.Now().Add(time.Hour)) {
		t.Fatalf("the upgrade's assertion expires at %v, the session at %v", exp, sess.ExpiresAt)
	}

	ahead.Store(int64(6 * time.Minute))
	if r := exchange(page); r.status != 400 || r.body["error"] != "invalid_grant" {
		t.Fatalf("a page's assertion after 6 minutes: %v", r)
	}
	if r := exchange(upgrade); r.status != 200 || !isJWT(r.body["access_token"]) {
		t.Fatalf("the upgrade's assertion after 6 minutes, session live: %v", r)
	}

	if resp, _ := do(t, c, "POST", e.url+"/_tokenhook/logout", map[string]string{"X-TokenHook": "1"}, ""); resp.StatusCode != 200 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if code, _ := wsCloseStatus(t, ws, 5*time.Second); code != 4401 {
		t.Fatalf("socket closed with %d, want 4401", code)
	}
	if r := exchange(upgrade); r.status != 400 || r.body["error"] != "invalid_grant" || r.body["access_token"] != nil {
		t.Fatalf("the upgrade's assertion after logout: %v", r)
	}
}

// isJWT reports whether v is a string shaped like a JWT.
func isJWT(v any) bool {
	s, _ := v.(string)
	return strings.Count(s, ".") == 2
}
