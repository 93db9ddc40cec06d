package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/testenv"

	"github.com/gorilla/securecookie"

	"github.com/tokenhook/tokenhook/server/audit"
	"github.com/tokenhook/tokenhook/server/config"
	"github.com/tokenhook/tokenhook/server/verify"
)

// adminOnlyBob is a rule: /admin is for bob only.
var adminOnlyBob = verify.Rule{PathPrefix: "/admin", Emails: []string{users[1].Email}}

// serveMetrics runs the server's metrics listener and returns its URL.
func serveMetrics(t *testing.T, e *testEnv) string {
	t.Helper()
	ln := localListener(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.ServeMetrics(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("metrics listener: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// scrape reads the metrics listener's exposition text.
func scrape(t *testing.T, metricsURL string) string {
	t.Helper()
	resp, err := http.Get(metricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// sample returns the value of the series named exactly series (name and
// labels as exposed), or -1 when it is absent.
func sample(text, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// openWebSocket opens a WebSocket through the proxy with c's session and
// holds it open until the test ends.
func openWebSocket(t *testing.T, e *testEnv, c *http.Client) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req, _ := http.NewRequest("GET", e.url+"/ws/room-42", nil)
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Origin", e.url)
	for _, ck := range c.Jar.Cookies(mustURL(e.url)) {
		req.AddCookie(ck)
	}
	req.Write(conn)
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
}

// TestMetricsAfterRealTraffic drives a composed server (Dex, an upstream,
// the memory store) through sign-in, tokens, a refresh, bearer requests, a
// rule refusal and a WebSocket, then scrapes its metrics listener: the
// series moved, and no label names the viewer or a token.
func TestMetricsAfterRealTraffic(t *testing.T) {
	e, _ := newProxyEnv(t, func(c *Config) {
		c.MetricsAddr = "127.0.0.1:0"
		c.DataDir = "" // the memory store counts its sessions
		c.Rules = verify.Rules{adminOnlyBob}
	})
	metricsURL := serveMetrics(t, e)

	c := e.signedIn(users[0])
	at := e.token(c, nil).body["access_token"].(string)
	e.expire(c)
	a := e.token(c, nil)
	at2, _ := a.body["access_token"].(string)
	if a.status != 200 || at2 == at {
		t.Fatalf("refresh: %v", a)
	}
	bearer := map[string]string{"Authorization": "Bearer " + at2}
	for range 2 { // validated, then from the cache
		if resp, _ := do(t, c, "POST", e.url+"/api/users/ada@example.com/items/123", bearer, ""); resp.StatusCode != 200 {
			t.Fatalf("bearer request: %d", resp.StatusCode)
		}
	}
	if resp, _ := do(t, c, "POST", e.url+"/api", map[string]string{"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}, ""); resp.StatusCode != 401 {
		t.Fatalf("forged bearer: %d", resp.StatusCode)
	}
	if resp, _ := do(t, c, "GET", e.url+"/admin/reports", bearer, ""); resp.StatusCode != 403 {
		t.Fatalf("rule refusal: %d", resp.StatusCode)
	}
	openWebSocket(t, e, c)

	// Never on the public listener.
	if resp, body := do(t, c, "GET", e.url+"/_tokenhook/metrics", nil, ""); resp.StatusCode != 404 || strings.Contains(body, "tokenhook_requests_total") {
		t.Fatalf("public listener answered /_tokenhook/metrics: %d", resp.StatusCode)
	}
	if _, body := do(t, c, "GET", e.url+"/metrics", bearer, ""); strings.Contains(body, "tokenhook_requests_total") {
		t.Fatal("public listener served the metrics")
	}

	text := scrape(t, metricsURL)
	for _, tc := range []struct {
		series string
		min    float64
	}{
		{`tokenhook_requests_total{code="2xx",route="token"}`, 2},
		{`tokenhook_requests_total{code="3xx",route="login"}`, 1},
		{`tokenhook_requests_total{code="3xx",route="callback"}`, 1},
		{`tokenhook_requests_total{code="2xx",route="proxy"}`, 2},
		{`tokenhook_requests_total{code="4xx",route="proxy"}`, 2},
		{`tokenhook_requests_total{code="4xx",route="other"}`, 1},
		{`tokenhook_bearer_validations_total{outcome="valid"}`, 1},
		{`tokenhook_bearer_validations_total{outcome="valid_cached"}`, 1},
		{`tokenhook_bearer_validations_total{outcome="invalid"}`, 1},
		{`tokenhook_refresh_duration_seconds_count{client="_signin",outcome="ok"}`, 1},
		{`tokenhook_lock_wait_seconds_count{outcome="acquired"}`, 1},
		{`tokenhook_provider_up{client="_signin"}`, 1},
		{`tokenhook_sessions_active`, 1},
		{`tokenhook_websockets_open`, 1},
	} {
		if v := sample(text, tc.series); v < tc.min {
			t.Errorf("%s = %v, want at least %v", tc.series, v, tc.min)
		}
	}
	if v := sample(text, `tokenhook_refresh_duration_seconds_count{client="_signin",outcome="failed"}`); v > 0 {
		t.Errorf("failed refreshes counted: %v", v)
	}

	sess, _, err := e.srv.sessions.Load(mustReq(c, e.url))
	if err != nil {
		t.Fatal(err)
	}
	for name, secret := range map[string]string{"email": users[0].Email, "subject": sess.Subject, "token": at, "refreshed token": at2,
		"refresh token": sess.RefreshToken, "path": "/api/users", "path id": "room-42", "admin path": "/admin"} {
		if strings.Contains(text, secret) {
			t.Errorf("the metrics hold the viewer's %s", name)
		}
	}
}

// TestMetricsOff: without --metrics-addr there is no metrics handler and the
// server works as before.
func TestMetricsOff(t *testing.T) {
	e := newEnv(t)
	if e.srv.metricsHandler() != nil {
		t.Fatal("metrics on without MetricsAddr")
	}
	c := e.signedIn(users[0])
	if a := e.token(c, nil); a.status != 200 {
		t.Fatalf("token: %v", a)
	}
}

// auditLines returns the JSON audit lines of the log.
func auditLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["msg"] == audit.Message {
			out = append(out, m)
		}
	}
	return out
}

// TestAuditEvents drives a composed server logging JSON through sign-in, a
// rule refusal, sign-out, a dead refresh token and a provider outage, and
// reads its audit lines: one per event, naming the viewer by subject hash
// only, and no token or email anywhere in the log.
func TestAuditEvents(t *testing.T) {
	e := newAppEnv(t, &recorder{}, func(e *testEnv, c *Config) {
		e.logJSON = true
		c.Rules = verify.Rules{adminOnlyBob}
	})
	ada, bob := testenv.NewClient(), testenv.NewClient()
	e.signIn(ada, users[0], "/")
	adaSess, _, err := e.srv.sessions.Load(mustReq(ada, e.url))
	if err != nil {
		t.Fatal(err)
	}
	at := e.token(ada, nil).body["access_token"].(string)
	if resp, _ := do(t, ada, "GET", e.url+"/admin/x", map[string]string{"Authorization": "Bearer " + at}, ""); resp.StatusCode != 403 {
		t.Fatalf("rule refusal: %d", resp.StatusCode)
	}
	if resp, _ := do(t, ada, "POST", e.url+"/_tokenhook/logout", map[string]string{"X-TokenHook": "1"}, ""); resp.StatusCode != 200 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}

	// Dex keeps one refresh token per user and client: bob's second sign-in
	// kills the first browser's refresh token.
	e.signIn(bob, users[1], "/")
	bobSess, _, err := e.srv.sessions.Load(mustReq(bob, e.url))
	if err != nil {
		t.Fatal(err)
	}
	e.signIn(testenv.NewClient(), users[1], "/")
	e.expire(bob)
	if a := e.token(bob, nil); a.status != 401 {
		t.Fatalf("dead refresh token: %v", a)
	}

	// The provider goes away: the next refresh fails.
	cy := e.signedIn(users[2])
	cySess, _, err := e.srv.sessions.Load(mustReq(cy, e.url))
	if err != nil {
		t.Fatal(err)
	}
	e.idp.Close()
	e.expire(cy)
	if a := e.token(cy, nil); a.status == 200 {
		t.Fatalf("refresh with the provider down: %v", a)
	}

	iss := e.cfg.Issuer
	want := []struct {
		event   audit.Event
		subject string
		attrs   map[string]any
	}{
		{audit.SignIn, adaSess.Subject, map[string]any{"popup": false}},
		{audit.AccessDenied, adaSess.Subject, map[string]any{"method": "GET", "path": "/admin/x", "source": "bearer"}},
		{audit.SignOut, adaSess.Subject, nil},
		{audit.SignIn, bobSess.Subject, nil},
		{audit.SignIn, bobSess.Subject, nil},
		{audit.SessionEnded, bobSess.Subject, map[string]any{"reason": "refresh token refused"}},
		{audit.SignIn, cySess.Subject, nil},
		{audit.RefreshFailed, cySess.Subject, map[string]any{"client": "_signin", "reason": "provider unavailable"}},
	}
	logs := e.logs.String()
	got := auditLines(t, logs)
	if len(got) != len(want) {
		t.Fatalf("%d audit lines, want %d:\n%s", len(got), len(want), logs)
	}
	for i, w := range want {
		g := got[i]
		if g["audit"] != string(w.event) || g["subject"] != audit.SubjectHash(iss, w.subject) || g["level"] != "INFO" {
			t.Errorf("line %d = %v, want %s for %s", i, g, w.event, audit.SubjectHash(iss, w.subject))
		}
		for k, v := range w.attrs {
			if g[k] != v {
				t.Errorf("line %d: %s = %v, want %v", i, k, g[k], v)
			}
		}
	}
	for name, secret := range map[string]string{"ada's email": users[0].Email, "bob's email": users[1].Email, "cy's email": users[2].Email,
		"access token": at, "refresh token": adaSess.RefreshToken, "client secret": testSecret} {
		if secret == "" || strings.Contains(logs, secret) {
			t.Errorf("the log holds %s", name)
		}
	}
	for _, g := range got {
		if s, _ := g["subject"].(string); len(s) != 16 || strings.Contains(logs, `"`+adaSess.Subject+`"`) {
			t.Errorf("subject %q is not a 16-digit hash, or a raw subject is logged", s)
		}
	}
}

// TestAuditSessionCallDenied: with --browser-token none, a call the script
// marks (X-TokenHook: 1) that the rules refuse is audited like a refused
// bearer, as the session's.
func TestAuditSessionCallDenied(t *testing.T) {
	e := newAppEnv(t, &recorder{}, func(e *testEnv, c *Config) {
		e.logJSON = true
		c.BrowserToken = config.BrowserTokenNone
		c.Rules = verify.Rules{adminOnlyBob}
	})
	ada := e.signedIn(users[0])
	sess, _, err := e.srv.sessions.Load(mustReq(ada, e.url))
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := do(t, ada, "POST", e.url+"/admin/x", map[string]string{"X-TokenHook": "1", "Origin": e.url}, "{}"); resp.StatusCode != 403 {
		t.Fatalf("rule refusal: %d %s", resp.StatusCode, body)
	}
	var denied []map[string]any
	for _, g := range auditLines(t, e.logs.String()) {
		if g["audit"] == string(audit.AccessDenied) {
			denied = append(denied, g)
		}
	}
	if len(denied) != 1 || denied[0]["subject"] != audit.SubjectHash(e.cfg.Issuer, sess.Subject) || denied[0]["source"] != "session" || denied[0]["path"] != "/admin/x" {
		t.Fatalf("access-denied audit lines: %v", denied)
	}
}

// TestMetricsAddrSetting: --metrics-addr is read from flags and environment,
// must be host:port, and may not be the public listener's address.
func TestMetricsAddrSetting(t *testing.T) {
	base := []string{"--issuer", "https://idp.example", "--client-id", "id", "--client-secret", "s",
		"--cookie-secret", "0123456789abcdef0123456789abcdef", "--addr", "127.0.0.1:4180"}
	for _, tc := range []struct {
		name    string
		args    []string
		env     string
		want    string
		wantErr string
	}{
		{"off by default", nil, "", "", ""},
		{"flag", []string{"--metrics-addr", "127.0.0.1:9180"}, "", "127.0.0.1:9180", ""},
		{"environment", nil, ":9180", ":9180", ""},
		{"not host:port", []string{"--metrics-addr", "9180"}, "", "", "--metrics-addr (TOKENHOOK_METRICS_ADDR): \"9180\" is not a host:port address"},
		{"the public listener", []string{"--metrics-addr", "127.0.0.1:4180"}, "", "", "must differ from --addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k == "TOKENHOOK_METRICS_ADDR" {
					return tc.env
				}
				return ""
			}
			c, err := loadConfig(append(append([]string(nil), base...), tc.args...), getenv, io.Discard)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case c.MetricsAddr != tc.want:
				t.Fatalf("MetricsAddr = %q, want %q", c.MetricsAddr, tc.want)
			}
		})
	}
}

// TestMetricsCountStoreErrors: a session request while the Redis store is
// unreachable answers 503 and counts a store error labelled redis.
func TestMetricsCountStoreErrors(t *testing.T) {
	e := newEnvWith(t, func(_ *testEnv, c *Config) {
		c.MetricsAddr = "127.0.0.1:0"
		c.SessionStore = "redis://" + localListener(t).Addr().String() + "/0" // accepts, never answers
	})
	metricsURL := serveMetrics(t, e)
	hashKey, blockKey, err := cookieKeys(e.cfg.CookieSecret)
	if err != nil {
		t.Fatal(err)
	}
	val, err := securecookie.New(hashKey, blockKey).SetSerializer(securecookie.NopEncoder{}).Encode("tokenhook", []byte("a-session-id-of-32-characters-xx"))
	if err != nil {
		t.Fatal(err)
	}
	c := testenv.NewClient()
	c.Jar.SetCookies(mustURL(e.url), []*http.Cookie{{Name: "tokenhook", Value: val}})
	if a := e.token(c, nil); a.status != http.StatusServiceUnavailable {
		t.Fatalf("token with the store down: %v", a)
	}
	text := scrape(t, metricsURL)
	if v := sample(text, `tokenhook_store_errors_total{store="redis"}`); v < 1 {
		t.Errorf("store errors = %v, want at least 1", v)
	}
	if v := sample(text, `tokenhook_requests_total{code="5xx",route="token"}`); v < 1 {
		t.Errorf("token 5xx = %v, want at least 1", v)
	}
}

// TestRouteClass: every route maps to its class, never to its path.
func TestRouteClass(t *testing.T) {
	for _, tc := range []struct {
		method, path, upgrade, want string
	}{
		{"GET", "/_tokenhook/token", "", "token"},
		{"GET", "/_tokenhook/login", "", "login"},
		{"POST", "/_tokenhook/confirm", "", "login"},
		{"GET", "/_tokenhook/callback", "", "callback"},
		{"POST", "/_tokenhook/logout", "", "logout"},
		{"POST", "/_tokenhook/claim", "", "claim"},
		{"POST", "/_tokenhook/exchange", "", "exchange"},
		{"GET", "/_tokenhook/connect/warehouse", "", "connect"},
		{"DELETE", "/_tokenhook/connections/warehouse", "", "connect"},
		{"GET", "/_tokenhook/readyz", "", "health"},
		{"POST", "/_tokenhook/backchannel-logout", "", "backchannel"},
		{"GET", "/_tokenhook/tokenhook.js", "", "asset"},
		{"GET", "/_tokenhook/tokenhook.0123abcd.js", "", "asset"},
		{"GET", "/_tokenhook/userinfo", "", "other"},
		{"GET", "/_tokenhook/tokenhook", "", "other"},
		{"GET", "/_tokenhook/", "", "other"},
		{"POST", "/_dash-update-component", "", "proxy"},
		{"GET", "/ws/room-42", "websocket", "websocket"},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.upgrade != "" {
			r.Header.Set("Upgrade", tc.upgrade)
		}
		if got := routeClass(r).String(); got != tc.want {
			t.Errorf("%s %s = %s, want %s", tc.method, tc.path, got, tc.want)
		}
	}
}

// TestActiveSessionsShared: with the file store and with Redis, the
// active-sessions gauge counts the signed-in viewer (on Redis, the live set
// every replica reads).
func TestActiveSessionsShared(t *testing.T) {
	redisURL := "redis://" + testenv.StartRedis(t).Addr(t) + "/0"
	for _, store := range []string{"file", "redis"} {
		t.Run(store, func(t *testing.T) {
			e := newEnvWith(t, func(_ *testEnv, c *Config) {
				c.MetricsAddr = "127.0.0.1:0"
				if store == "redis" {
					c.SessionStore = redisURL
				}
			})
			e.signedIn(users[0])
			if v := sample(scrape(t, serveMetrics(t, e)), `tokenhook_sessions_active`); v != 1 {
				t.Fatalf("active sessions after one sign-in = %v, want 1", v)
			}
		})
	}
}

// TestSessionCountCached: the gauge asks the store at most once per
// interval, and asks again once the interval has passed (a count never
// outlives it).
func TestSessionCountCached(t *testing.T) {
	now := time.Unix(1000, 0)
	calls, n := 0, 5
	count := sessionCount(context.Background(), func(context.Context) (int, error) { calls++; return n, nil }, 15*time.Second, func() time.Time { return now })
	if got := count(); got != 5 || calls != 1 {
		t.Fatalf("first read %d after %d calls", got, calls)
	}
	n = 7
	now = now.Add(14 * time.Second)
	if got := count(); got != 5 || calls != 1 {
		t.Fatalf("within the interval: %d after %d calls, want the cached 5", got, calls)
	}
	now = now.Add(time.Second)
	if got := count(); got != 7 || calls != 2 {
		t.Fatalf("after the interval: %d after %d calls, want 7", got, calls)
	}
}
