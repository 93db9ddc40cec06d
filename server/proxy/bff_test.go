package proxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/server/session"
	"github.com/tokenhook/tokenhook/server/verify"
)

// TestSessionToken: with Config.SessionToken (backend-for-frontend), a
// request the browser script marked (X-TokenHook: 1), not cross-origin by
// Origin or Sec-Fetch-Site, is forwarded with the session's token as
// Authorization: Bearer, POSTs and API paths included; an unmarked or
// cross-origin one is handled as without SessionToken and never carries the
// session's token; a client's own bearer is validated as always.
func TestSessionToken(t *testing.T) {
	is := newIssuer(t)
	token := is.token(t, time.Hour)
	const sessionToken = "the-sessions-access-token"
	hook := func(r *http.Request) (verify.Identity, string, error) {
		id, err := sessionFromCookie.Session(r)
		switch {
		case r.Header.Get("X-Test-Provider") == "down":
			return verify.Identity{}, "", errors.New("provider down")
		case r.Header.Get("X-Test-Store") == "down":
			return verify.Identity{}, "", &session.UnavailableError{Store: "redis", Op: "load", Err: errors.New("connection refused")}
		case err != nil:
			return verify.Identity{}, "", fmt.Errorf("%w: no session", verify.ErrNoToken)
		}
		return id, sessionToken, nil
	}
	marked := map[string]string{"Cookie": "th_session=ok", "X-TokenHook": "1"}
	with := func(extra map[string]string) map[string]string {
		h := map[string]string{}
		for k, v := range marked {
			h[k] = v
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	tests := []struct {
		name    string
		method  string
		path    string
		headers map[string]string
		strip   bool
		status  int
		auth    string // Authorization upstream; "-" = not forwarded
	}{
		{"marked POST, same origin", "POST", "/_dash-update-component", with(map[string]string{"Origin": "https://dash.example", "Sec-Fetch-Site": "same-origin"}), false, 200, "Bearer " + sessionToken},
		{"marked POST without fetch metadata", "POST", "/x", marked, false, 200, "Bearer " + sessionToken},
		{"marked API GET", "GET", "/api/data", marked, false, 200, "Bearer " + sessionToken},
		{"marked, other origin", "POST", "/x", with(map[string]string{"Origin": "https://evil.example"}), false, 401, "-"},
		{"marked, origin with a path is not the origin", "POST", "/x", with(map[string]string{"Origin": "https://dash.example/x"}), false, 401, "-"},
		{"marked, cross-site", "POST", "/x", with(map[string]string{"Sec-Fetch-Site": "cross-site"}), false, 401, "-"},
		{"marked, same-site", "POST", "/x", with(map[string]string{"Sec-Fetch-Site": "same-site"}), false, 401, "-"},
		{"marked GET, cross-site: the session, no token", "GET", "/img.png", with(map[string]string{"Sec-Fetch-Site": "cross-site", "Accept": "image/*"}), false, 200, ""},
		{"unmarked POST (a form)", "POST", "/x", map[string]string{"Cookie": "th_session=ok"}, false, 401, "-"},
		{"unmarked GET (an <img>): the session, no token", "GET", "/img.png", map[string]string{"Cookie": "th_session=ok", "Accept": "image/*"}, false, 200, ""},
		{"X-TokenHook other than 1", "POST", "/x", with(map[string]string{"X-TokenHook": "true"}), false, 401, "-"},
		{"marked without a session", "POST", "/x", map[string]string{"X-TokenHook": "1"}, false, 401, "-"},
		{"marked, rule not met", "POST", "/admin/x", marked, false, 403, "-"},
		{"marked, provider down", "POST", "/x", with(map[string]string{"X-Test-Provider": "down"}), false, 502, "-"},
		{"marked, session store down: 503, not a sign-in", "POST", "/x", with(map[string]string{"X-Test-Store": "down"}), false, 503, "-"},
		{"marked, StripAuthorization: no token upstream", "POST", "/x", marked, true, 200, ""},
		{"client's own bearer wins", "POST", "/x", map[string]string{"X-TokenHook": "1", "Authorization": "Bearer " + token}, false, 200, "Bearer " + token},
		{"client's invalid bearer is refused", "POST", "/x", with(map[string]string{"Authorization": "Bearer nope"}), false, 401, "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up, seen := upstream(t)
			p := newProxy(t, Config{
				Upstream: mustURL(t, up.URL), Verifier: is.verifier(t), APIPaths: []string{"/api/"},
				Rules:    verify.Rules{{PathPrefix: "/admin/", Groups: []string{"admins"}}},
				Sessions: sessionFromCookie, PublicOrigin: "https://dash.example", SessionToken: hook,
				StripAuthorization: tc.strip,
			})
			checkForwarded(t, p, seen, tc.method, tc.path, tc.headers, tc.status, tc.auth)
		})
	}
}

// TestDPoPMode: with Config.DPoP (--browser-token dpop), a request with
// `Authorization: DPoP …` is forwarded only when DPoP accepts it for the
// request's session, then with the session's token and without the DPoP
// token and proof; X-TokenHook marks nothing; a public route never gets the
// page's token or proof either.
func TestDPoPMode(t *testing.T) {
	const sessionToken = "the-sessions-access-token"
	hook := func(r *http.Request) (verify.Identity, string, error) {
		id, err := sessionFromCookie.Session(r)
		if err != nil {
			return verify.Identity{}, "", fmt.Errorf("%w: no session", verify.ErrNoToken)
		}
		return id, sessionToken, nil
	}
	// The stub accepts the proof "good" for a live session.
	check := func(w http.ResponseWriter, r *http.Request, session verify.Identity) bool {
		if r.Header.Get("DPoP") != "good" || session.Claims == nil {
			w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof"`)
			w.WriteHeader(http.StatusUnauthorized)
			return false
		}
		return true
	}
	good := map[string]string{"Cookie": "th_session=ok", "Authorization": "DPoP tok", "DPoP": "good"}
	tests := []struct {
		name    string
		method  string
		path    string
		headers map[string]string
		status  int
		auth    string // Authorization upstream; "-" = not forwarded
	}{
		{"accepted", "POST", "/x", good, 200, "Bearer " + sessionToken},
		{"refused proof", "POST", "/x", map[string]string{"Cookie": "th_session=ok", "Authorization": "DPoP tok", "DPoP": "bad"}, 401, "-"},
		{"no session", "POST", "/x", map[string]string{"Authorization": "DPoP tok", "DPoP": "good"}, 401, "-"},
		{"marked only", "POST", "/x", map[string]string{"Cookie": "th_session=ok", "X-TokenHook": "1"}, 401, "-"},
		{"public route", "GET", "/assets/a.js", good, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up, seen := upstream(t)
			p := newProxy(t, Config{
				Upstream: mustURL(t, up.URL), Verifier: newIssuer(t).verifier(t),
				Public:   []verify.Route{{Method: "GET", Path: "/assets/"}},
				Sessions: sessionFromCookie, PublicOrigin: "https://dash.example", SessionToken: hook, DPoP: check,
			})
			checkForwarded(t, p, seen, tc.method, tc.path, tc.headers, tc.status, tc.auth)
		})
	}
}

// checkForwarded sends method path with headers through p and checks the
// status and the Authorization the upstream (seen) received: auth, or "-"
// for not forwarded. Neither X-TokenHook nor a DPoP proof may reach it.
func checkForwarded(t *testing.T, p *Proxy, seen chan recorded, method, path string, headers map[string]string, status int, auth string) {
	t.Helper()
	req := httptest.NewRequest(method, "https://dash.example"+path, strings.NewReader("b"))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, req)
	if w.Code != status {
		t.Errorf("status %d (%s), want %d", w.Code, w.Body.String(), status)
	}
	select {
	case got := <-seen:
		if auth == "-" {
			t.Fatalf("forwarded with Authorization %q, want not forwarded", got.Header.Get("Authorization"))
		}
		if a := got.Header.Get("Authorization"); a != auth {
			t.Errorf("Authorization upstream %q, want %q", a, auth)
		}
		if got.Header.Get("X-TokenHook") != "" || got.Header.Get("DPoP") != "" {
			t.Error("X-TokenHook or a DPoP proof reached the upstream")
		}
	default:
		if auth != "-" {
			t.Fatal("not forwarded")
		}
	}
}
