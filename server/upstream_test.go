package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/server/assertion"

	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/verify"
)

// recorder is an upstream app that records what it received.
type recorder struct {
	mu   sync.Mutex
	last *http.Request
	body string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") == "websocket" {
		// A minimal upgrade: switch protocols, then echo bytes.
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		buf := make([]byte, 64)
		n, _ := brw.Read(buf)
		conn.Write(buf[:n])
		return
	}
	b, _ := io.ReadAll(r.Body)
	rec.mu.Lock()
	rec.last, rec.body = r.Clone(r.Context()), string(b)
	rec.mu.Unlock()
	if r.URL.Path == "/slow" {
		time.Sleep(2 * time.Second)
	}
	w.Write([]byte("app:" + r.URL.Path))
}

func (rec *recorder) got() (*http.Request, string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.last, rec.body
}

func newProxyEnv(t *testing.T, mod func(*Config)) (*testEnv, *recorder) {
	rec := &recorder{}
	return newAppEnv(t, rec, func(_ *testEnv, c *Config) {
		c.UpstreamTimeout = 500 * time.Millisecond
		if mod != nil {
			mod(c)
		}
	}), rec
}

func TestForwardWithoutCredentials(t *testing.T) {
	e, rec := newProxyEnv(t, nil)
	anon := testenv.NewClient()
	for _, tc := range []struct {
		name     string
		method   string
		path     string
		hdr      map[string]string
		status   int
		contains string
		location string
	}{
		{"page navigation", "GET", "/report?q=1", map[string]string{"Accept": "text/html"}, 302, "", "/_tokenhook/login?rd=%2Freport%3Fq%3D1"},
		{"iframe navigation", "GET", "/", map[string]string{"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Mode": "navigate"}, 401, "data-reload", ""},
		{"API GET without session", "GET", "/data.json", map[string]string{"Accept": "application/json"}, 401, "bearer token required", ""},
		{"POST without bearer", "POST", "/api", nil, 401, "bearer token required", ""},
		{"malformed Authorization", "POST", "/api", map[string]string{"Authorization": "Basic dXNlcjpwdw=="}, 400, "invalid_request", ""},
		{"garbage bearer", "POST", "/api", map[string]string{"Authorization": "Bearer not-a-token"}, 401, "invalid_token", ""},
		{"forged JWT", "POST", "/api", map[string]string{"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}, 401, "invalid_token", ""},
		{"websocket without session", "GET", "/ws", map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, 403, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, anon, tc.method, e.url+tc.path, tc.hdr, "")
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.contains) || resp.Header.Get("Location") != tc.location {
				t.Fatalf("%d %q location %q", resp.StatusCode, body, resp.Header.Get("Location"))
			}
			if tc.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm=`) && tc.name != "iframe navigation" {
				t.Fatalf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
			}
			if got, _ := rec.got(); got != nil {
				t.Fatalf("the app received %s %s", got.Method, got.URL)
			}
		})
	}
}

func TestForwardWithBearer(t *testing.T) {
	e, rec := newProxyEnv(t, nil)
	c := e.signedIn(users[0])
	at := e.token(c, nil).body["access_token"].(string)
	c.Jar.SetCookies(mustURL(e.url), []*http.Cookie{{Name: "app_pref", Value: "dark"}})
	resp, body := do(t, c, "POST", e.url+"/api/update", map[string]string{
		"Authorization":      "Bearer " + at,
		"X-Forwarded-Email":  "ceo@example.com",
		"X-Forwarded-Groups": "admins",
		"X_Forwarded_User":   "ceo",
		assertion.Header:     "forged",
	}, `{"x":1}`)
	if resp.StatusCode != 200 || body != "app:/api/update" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	got, gotBody := rec.got()
	if got.Header.Get("Authorization") != "Bearer "+at || gotBody != `{"x":1}` {
		t.Fatalf("Authorization or body not passed through: %q %q", got.Header.Get("Authorization"), gotBody)
	}
	if got.Header.Get("X-Forwarded-Email") != "ada@example.com" || got.Header.Get("X-Forwarded-Groups") == "admins" || got.Header.Get("X-Forwarded-User") == "" || got.Header.Get("X_Forwarded_User") != "" {
		t.Fatalf("identity headers: %v", got.Header)
	}
	if ck := got.Header.Get("Cookie"); ck != "app_pref=dark" {
		t.Fatalf("cookies forwarded: %q", ck)
	}
	a := got.Header.Get(assertion.Header)
	claims, err := e.srv.assertions.Verify(a, e.url, e.srv.assertionAudience(), time.Now())
	if err != nil || claims.Subject == "" {
		t.Fatalf("session assertion %q: %v", a, err)
	}
	// A page load with the session only.
	resp, _ = do(t, c, "GET", e.url+"/page", map[string]string{"Accept": "text/html"}, "")
	got, _ = rec.got()
	if resp.StatusCode != 200 || got.URL.Path != "/page" || got.Header.Get("X-Forwarded-Email") != "ada@example.com" {
		t.Fatalf("navigation with session: %d %v", resp.StatusCode, got.Header)
	}
	// A POST with the session cookie but no bearer: still refused.
	if resp, _ := do(t, c, "POST", e.url+"/api/update", nil, ""); resp.StatusCode != 401 {
		t.Fatalf("POST with cookie only: %d", resp.StatusCode)
	}
}

func TestForwardStripAuthorizationAndAPIPaths(t *testing.T) {
	e, rec := newProxyEnv(t, func(c *Config) { c.StripAuthorization = true; c.APIPaths = []string{"/api/"} })
	c := e.signedIn(users[0])
	at := e.token(c, nil).body["access_token"].(string)
	do(t, c, "POST", e.url+"/x", map[string]string{"Authorization": "Bearer " + at}, "")
	if got, _ := rec.got(); got == nil || got.Header.Get("Authorization") != "" || got.Header.Get("X-Forwarded-Email") == "" {
		t.Fatalf("strip-authorization: %v", got)
	}
	if resp, _ := do(t, c, "GET", e.url+"/api/items", nil, ""); resp.StatusCode != 401 {
		t.Fatalf("GET under an API path with a session but no bearer: %d", resp.StatusCode)
	}
}

// wsHandshake sends an upgrade through the proxy and, when switched, checks
// the tunnel echoes.
func wsHandshake(t *testing.T, e *testEnv, c *http.Client, origin string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req, _ := http.NewRequest("GET", e.url+"/ws", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Origin", origin)
	for _, ck := range c.Jar.Cookies(mustURL(e.url)) {
		req.AddCookie(ck)
	}
	req.Write(conn)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		conn.Write([]byte("ping"))
		buf := make([]byte, 4)
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("tunnel echo: %q %v", buf, err)
		}
	}
	return resp.StatusCode
}

func TestForwardWebSocket(t *testing.T) {
	e, _ := newProxyEnv(t, nil)
	c := e.signedIn(users[0])
	if st := wsHandshake(t, e, c, e.url); st != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade with session and our origin: %d", st)
	}
	if st := wsHandshake(t, e, c, "http://evil.example"); st != http.StatusForbidden {
		t.Fatalf("upgrade from a foreign origin: %d", st)
	}
	if st := wsHandshake(t, e, testenv.NewClient(), e.url); st != http.StatusUnauthorized {
		t.Fatalf("upgrade without a session: %d", st)
	}
}

func TestForwardUpstreamFailures(t *testing.T) {
	e, _ := newProxyEnv(t, nil)
	c := e.signedIn(users[0])
	resp, body := do(t, c, "GET", e.url+"/slow", nil, "")
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, "gateway_timeout") {
		t.Fatalf("slow upstream: %d %s", resp.StatusCode, body)
	}
	// A dead upstream.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	e2 := newEnvWith(t, func(_ *testEnv, c *Config) { c.Upstream = dead })
	c2 := testenv.NewClient()
	e2.signIn(c2, users[1], "/")
	resp, body = do(t, c2, "GET", e2.url+"/page", map[string]string{"Accept": "text/html"}, "")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "not reachable") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("dead upstream, page: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, c2, "GET", e2.url+"/data", map[string]string{"Accept": "application/json"}, "")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, `"error":"bad_gateway"`) {
		t.Fatalf("dead upstream, API: %d %s", resp.StatusCode, body)
	}
}

func TestForwardRulesAndSkipRoutes(t *testing.T) {
	e, rec := newProxyEnv(t, func(c *Config) {
		c.Rules = verify.Rules{
			{PathPrefix: "/", Emails: []string{"ada@example.com", "bob@example.com"}},
			{PathPrefix: "/admin/", Groups: []string{"admins"}},
		}
		c.SkipAuth = []verify.Route{{Method: "GET", Path: "/static/"}}
	})
	ada, cy := testenv.NewClient(), testenv.NewClient()
	e.signIn(ada, users[0], "/")
	e.signIn(cy, users[2], "/")
	adaTok := e.token(ada, nil).body["access_token"].(string)
	cyTok := e.token(cy, nil).body["access_token"].(string)
	for _, tc := range []struct {
		name   string
		c      *http.Client
		method string
		path   string
		hdr    map[string]string
		status int
		want   string
	}{
		{"allowed email, bearer", ada, "POST", "/api", map[string]string{"Authorization": "Bearer " + adaTok}, 200, "app:/api"},
		{"other email, bearer", cy, "POST", "/api", map[string]string{"Authorization": "Bearer " + cyTok}, 403, "insufficient_scope"},
		{"other email, page", cy, "GET", "/page", map[string]string{"Accept": "text/html"}, 403, "not allowed"},
		{"admin path without the group", ada, "POST", "/admin/x", map[string]string{"Authorization": "Bearer " + adaTok}, 403, "insufficient_scope"},
		{"admin page without the group", ada, "GET", "/admin/", map[string]string{"Accept": "text/html"}, 403, "not allowed"},
		{"skipped route, anonymous", testenv.NewClient(), "GET", "/static/app.js", nil, 200, "app:/static/app.js"},
		{"skip is per method", testenv.NewClient(), "POST", "/static/app.js", nil, 401, "bearer token required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.c, tc.method, e.url+tc.path, tc.hdr, "")
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
		})
	}
	if got, _ := rec.got(); got.URL.Path == "/static/app.js" && got.Header.Get("X-Forwarded-Email") != "" {
		t.Fatal("a skipped route carried identity headers")
	}
}
