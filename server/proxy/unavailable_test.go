package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/server/session"
	"github.com/tokenhook/tokenhook/server/verify"
)

// downSessions is a session store that cannot answer.
type downSessions struct{}

func (downSessions) Session(*http.Request) (verify.Identity, error) {
	return verify.Identity{}, &session.UnavailableError{Store: "redis", Op: "load", Err: errors.New("connection refused")}
}

func (downSessions) Recheck(_ context.Context, id verify.Identity) (verify.Identity, bool) {
	return id, true
}

// TestSessionStoreUnavailable: when the session store cannot answer, a
// request that relies on the session gets 503 with a JSON error naming the
// store (never a sign-in redirect or a 401, which would sign the viewer
// out); a request with a valid bearer is served by the bearer alone.
func TestSessionStoreUnavailable(t *testing.T) {
	is := newIssuer(t)
	up, _ := upstream(t)
	p := newProxy(t, Config{Upstream: mustURL(t, up.URL), Verifier: is.verifier(t), Sessions: downSessions{}, SignIn: redirectToSignIn,
		PublicOrigin: "http://dash.example"})
	token := is.token(t, time.Hour)
	for _, tc := range []struct {
		name    string
		headers map[string]string
		status  int
		body    string
	}{
		{"navigation", map[string]string{"Accept": "text/html", "Sec-Fetch-Mode": "navigate"}, 503, `the session store (redis) is unavailable`},
		{"XHR", map[string]string{"Accept": "application/json"}, 503, `"error":"temporarily_unavailable"`},
		{"WebSocket upgrade", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
			"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Origin": "http://dash.example"}, 503, `temporarily_unavailable`},
		{"bearer", map[string]string{"Authorization": "Bearer " + token}, 200, "upstream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/page", nil)
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			p.ServeHTTP(w, r)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.body) {
				t.Fatalf("%d %s, want %d with %q", w.Code, w.Body.String(), tc.status, tc.body)
			}
			if tc.status == 503 && (w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Retry-After") == "") {
				t.Fatalf("503 headers: %v", w.Header())
			}
		})
	}
}
