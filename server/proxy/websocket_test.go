package proxy

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// echoUpstream is a WebSocket echo server that picks the first offered
// subprotocol and records the handshake headers it saw.
type echoUpstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen http.Header
}

func newEchoUpstream(t *testing.T) *echoUpstream {
	e := &echoUpstream{}
	e.srv = httptest.NewServer(websocket.Server{
		Handshake: func(cfg *websocket.Config, r *http.Request) error {
			e.mu.Lock()
			e.seen = r.Header.Clone()
			e.mu.Unlock()
			if len(cfg.Protocol) > 0 {
				cfg.Protocol = cfg.Protocol[:1]
			}
			return nil
		},
		Handler: func(ws *websocket.Conn) { io.Copy(ws, ws) },
	})
	t.Cleanup(e.srv.Close)
	return e
}

func (e *echoUpstream) header() http.Header {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.seen
}

func wsURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") + "/_dash-ws" }

func dial(t *testing.T, front, origin string, protocols []string, cookie string) (*websocket.Conn, error) {
	t.Helper()
	cfg, err := websocket.NewConfig(wsURL(front), origin)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Protocol = protocols
	if cookie != "" {
		cfg.Header = http.Header{"Cookie": {cookie}}
	}
	return websocket.DialConfig(cfg)
}

// mustDial is dial for a handshake that must succeed; the connection is
// closed when the test ends.
func mustDial(t *testing.T, front, origin string, protocols []string, cookie string) *websocket.Conn {
	t.Helper()
	ws, err := dial(t, front, origin, protocols, cookie)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func echo(t *testing.T, ws *websocket.Conn, msg string) {
	t.Helper()
	ws.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := ws.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := ws.Read(buf)
	if err != nil || string(buf[:n]) != msg {
		t.Fatalf("echo: %q %v", buf[:n], err)
	}
}

// upgradeStatus sends a raw upgrade request and returns the status.
func upgradeStatus(t *testing.T, front string, h map[string]string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", front+"/_dash-ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestWebSocket(t *testing.T) {
	is := newIssuer(t)
	up := newEchoUpstream(t)
	var front *httptest.Server
	front = httptest.NewUnstartedServer(nil)
	front.Start()
	defer front.Close()
	p := newProxy(t, Config{
		Upstream: mustURL(t, up.srv.URL), Verifier: is.verifier(t),
		Sessions: sessionFromCookie, PublicOrigin: front.URL, AllowedOrigins: []string{"https://dash.example"},
		StripCookies: []string{"th_session"},
	})
	front.Config.Handler = p
	token := is.token(t, time.Hour)
	tokenProto := WebSocketTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(token))

	t.Run("session cookie and same origin", func(t *testing.T) {
		ws := mustDial(t, front.URL, front.URL, nil, "th_session=ok; other=1")
		echo(t, ws, "hello")
		h := up.header()
		if h.Get(HeaderUser) != "sess-user" || h.Get("Cookie") != "other=1" {
			t.Fatalf("upstream handshake headers: user %q cookie %q", h.Get(HeaderUser), h.Get("Cookie"))
		}
	})
	t.Run("allowed extra origin", func(t *testing.T) {
		ws := mustDial(t, front.URL, "https://dash.example", nil, "th_session=ok")
		echo(t, ws, "x")
	})
	t.Run("bearer in subprotocol", func(t *testing.T) {
		ws := mustDial(t, front.URL, "https://anywhere.example", []string{tokenProto, "dash"}, "")
		echo(t, ws, "via subprotocol")
		h := up.header()
		if got := h.Get("Sec-WebSocket-Protocol"); got != "dash" {
			t.Fatalf("upstream saw subprotocols %q, want the token removed", got)
		}
		if h.Get(HeaderUser) != "user-1" {
			t.Fatalf("identity %q", h.Get(HeaderUser))
		}
		if got := ws.Config().Protocol; len(got) != 1 || got[0] != "dash" {
			t.Fatalf("client got protocol %v", got)
		}
	})

	refusals := []struct {
		name   string
		h      map[string]string
		status int
	}{
		{"foreign origin with session", map[string]string{"Origin": "https://evil.example", "Cookie": "th_session=ok"}, 403},
		{"origin that only shares a prefix", map[string]string{"Origin": front.URL + ".evil.example", "Cookie": "th_session=ok"}, 403},
		{"no origin", map[string]string{"Cookie": "th_session=ok"}, 403},
		{"same origin without session", map[string]string{"Origin": front.URL}, 401},
		{"token protocol alone", map[string]string{"Origin": front.URL, "Sec-WebSocket-Protocol": tokenProto}, 400},
		{"bad token in protocol", map[string]string{"Sec-WebSocket-Protocol": WebSocketTokenPrefix + "bm9wZQ, dash"}, 401},
		{"protocol not base64url", map[string]string{"Sec-WebSocket-Protocol": WebSocketTokenPrefix + "a*b, dash"}, 400},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			if got := upgradeStatus(t, front.URL, tc.h); got != tc.status {
				t.Fatalf("status %d, want %d", got, tc.status)
			}
		})
	}
}

// TestWebSocketClosedWhenCredentialsEnd: a bearer-authenticated connection is
// closed at the token's expiry; a session-authenticated one when the session
// re-check fails.
func TestWebSocketClosedWhenCredentialsEnd(t *testing.T) {
	is := newIssuer(t)
	up := newEchoUpstream(t)
	var ended atomic.Bool
	front := httptest.NewUnstartedServer(nil)
	front.Start()
	defer front.Close()
	p := newProxy(t, Config{
		Upstream: mustURL(t, up.srv.URL), Verifier: is.verifier(t), PublicOrigin: front.URL,
		SessionRecheck: 100 * time.Millisecond,
		Sessions:       cookieSessions{ended: &ended},
	})
	front.Config.Handler = p

	waitClosed := func(t *testing.T, ws *websocket.Conn) time.Time {
		t.Helper()
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 16)
		_, err := ws.Read(buf)
		if err == nil {
			t.Fatal("connection still open")
		}
		if strings.Contains(err.Error(), "timeout") {
			t.Fatal("connection not closed by the proxy")
		}
		return time.Now()
	}

	t.Run("bearer expiry", func(t *testing.T) {
		token := is.token(t, 2*time.Second)
		var exp float64
		c, err := is.verifier(t).Verify(t.Context(), token)
		if err != nil {
			t.Fatal(err)
		}
		exp = float64(c.Expiry.Unix())
		proto := WebSocketTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(token))
		ws := mustDial(t, front.URL, front.URL, []string{proto, "dash"}, "")
		echo(t, ws, "before expiry")
		closedAt := waitClosed(t, ws)
		if float64(closedAt.Unix()) < exp {
			t.Fatalf("closed at %v, before the token expired at %v", closedAt.Unix(), exp)
		}
	})
	t.Run("session ends", func(t *testing.T) {
		ws := mustDial(t, front.URL, front.URL, nil, "th_session=ok")
		echo(t, ws, "one")
		time.Sleep(250 * time.Millisecond) // several re-checks pass while signed in
		echo(t, ws, "two")
		ended.Store(true)
		waitClosed(t, ws)
	})
}
