package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/server/assertion"

	"github.com/tokenhook/tokenhook/internal/idp/zitadelop"
	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/connection"
)

const exchangeSecret = "upstream-exchange-secret"

// dataEnv is Dex for sign-in plus zitadel's example OP as a connection
// ("data") that viewers link.
type dataEnv struct {
	*testEnv
	data       *zitadelop.Provider
	dataTokens atomic.Int64
}

func newDataEnv(t *testing.T) *dataEnv { return newDataEnvWith(t, nil) }

// newDataEnvWith is newDataEnv with a hook that adjusts the configuration.
func newDataEnvWith(t *testing.T, mod func(*Config)) *dataEnv {
	d := &dataEnv{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d.testEnv = newEnvWith(t, func(e *testEnv, c *Config) {
		d.data, err = zitadelop.Start(ln, "tokenhook-data", "data-secret", []string{e.url + "/_tokenhook/callback"},
			testenv.CountPath("/oauth/token", &d.dataTokens))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.data.Close() })
		c.Connections = []connection.Spec{
			{Name: "data", Preset: "oidc", Issuer: d.data.Issuer, ClientID: "tokenhook-data", ClientSecret: "data-secret"},
			{Name: "other", Preset: "github", ClientID: "gh", ClientSecret: "gh-secret"},
		}
		c.ExchangeSecret = exchangeSecret
		c.Upstream = "http://127.0.0.1:9/app"
		if mod != nil {
			mod(c)
		}
	})
	return d
}

// connect links the data connection in browser c.
func (d *dataEnv) connect(t *testing.T, c *http.Client) {
	t.Helper()
	resp, err := d.data.Login(context.Background(), c, d.url+"/_tokenhook/connect/data?rd=/after",
		func(u *url.URL) bool { return strings.HasPrefix(u.String(), d.url) && u.Path != "/_tokenhook/callback" })
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/after" {
		t.Fatalf("connect ended with %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func (d *dataEnv) assertion(t *testing.T, c *http.Client) string {
	t.Helper()
	a, err := d.srv.sessionAssertion(mustReq(c, d.url))
	if err != nil || a == "" {
		t.Fatalf("assertion: %q %v", a, err)
	}
	return a
}

type exchangeResult struct {
	status int
	body   map[string]any
}

func (d *dataEnv) exchange(t *testing.T, subject, audience string, mod func(*http.Request)) exchangeResult {
	t.Helper()
	form := url.Values{"grant_type": {assertion.GrantTokenExchange}, "subject_token": {subject},
		"subject_token_type": {assertion.TokenType}, "audience": {audience}}
	req, _ := http.NewRequest("POST", d.url+"/_tokenhook/exchange", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("upstream", exchangeSecret)
	if mod != nil {
		mod(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("exchange Cache-Control %q", cc)
	}
	return exchangeResult{resp.StatusCode, m}
}

// userinfo calls the data provider's userinfo endpoint with token.
func (d *dataEnv) userinfo(t *testing.T, token string) int {
	req, _ := http.NewRequest("GET", d.data.Issuer+"userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestConnectionAndExchange(t *testing.T) {
	d := newDataEnv(t)
	c := testenv.NewClient()
	d.signIn(c, users[0], "/")

	// Not linked yet.
	a := d.assertion(t, c)
	if r := d.exchange(t, a, "data", nil); r.status != 400 || r.body["error"] != "invalid_target" || !strings.Contains(r.body["connect_url"].(string), "/_tokenhook/connect/data") {
		t.Fatalf("exchange before connecting: %v", r)
	}
	d.connect(t, c)

	r := d.exchange(t, a, "data", nil)
	tok, _ := r.body["access_token"].(string)
	if r.status != 200 || tok == "" || r.body["issued_token_type"] != assertion.TokenTypeAccessToken || r.body["token_type"] != "Bearer" {
		t.Fatalf("exchange: %v", r)
	}
	if exp, _ := r.body["expires_in"].(float64); exp <= 0 || exp > 3600 {
		t.Fatalf("expires_in %v", r.body["expires_in"])
	}
	if st := d.userinfo(t, tok); st != 200 {
		t.Fatalf("the exchanged token does not work at the data provider: %d", st)
	}
	// The sign-in provider's own token under the reserved audience.
	if r := d.exchange(t, a, connection.ReservedName, nil); r.status != 200 || strings.Count(r.body["access_token"].(string), ".") != 2 {
		t.Fatalf("signin audience: %v", r)
	}
	// The browser sees the connection, never its token.
	resp, err := c.Get(d.url + "/_tokenhook/connections")
	if err != nil {
		t.Fatal(err)
	}
	list, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(list), `"name":"data","preset":"oidc","connected":true`) || strings.Contains(string(list), tok) {
		t.Fatalf("connections: %s", list)
	}

	// Refresh when the connection's token has expired: one call to the
	// provider, a new token that works.
	d.expireConnection(t, c, "data")
	before := d.dataTokens.Load()
	r2 := d.exchange(t, a, "data", nil)
	tok2, _ := r2.body["access_token"].(string)
	if r2.status != 200 || tok2 == "" || tok2 == tok || d.dataTokens.Load()-before != 1 {
		t.Fatalf("refresh via exchange: %v (provider calls %d)", r2, d.dataTokens.Load()-before)
	}
	if st := d.userinfo(t, tok2); st != 200 {
		t.Fatalf("refreshed token rejected by the provider: %d", st)
	}
	// The token endpoint can hand the connection's token to the browser hook.
	if ans := d.token(c, nil); ans.status != 200 {
		t.Fatal(ans)
	}
	req, _ := http.NewRequest("GET", d.url+"/_tokenhook/token?connection=data", nil)
	req.Header.Set("X-TokenHook", "1")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ct map[string]any
	json.NewDecoder(resp.Body).Decode(&ct)
	resp.Body.Close()
	if resp.StatusCode != 200 || ct["access_token"] != tok2 {
		t.Fatalf("token?connection=data: %d %v", resp.StatusCode, ct)
	}
	// Logout ends the session: the same assertion is refused afterwards.
	lreq, _ := http.NewRequest("POST", d.url+"/_tokenhook/logout", nil)
	lreq.Header.Set("X-TokenHook", "1")
	if lr, err := c.Do(lreq); err != nil || lr.StatusCode != 200 {
		t.Fatalf("logout: %v %v", lr, err)
	}
	if r := d.exchange(t, a, "data", nil); r.status != 400 || r.body["error"] != "invalid_grant" {
		t.Fatalf("assertion replayed after logout: %v", r)
	}
}

func TestExchangeRefusals(t *testing.T) {
	d := newDataEnv(t)
	c := testenv.NewClient()
	d.signIn(c, users[1], "/")
	d.connect(t, c)
	good := d.assertion(t, c)
	_, key, _ := d.srv.sessions.Load(mustReq(c, d.url))
	forger, err := newAssertionSigner([]byte("another-secret-another-secret-another"))
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := forger.Sign(d.url, d.srv.assertionAudience(), "x", "", key, time.Now())
	expired, _ := d.srv.assertions.Sign(d.url, d.srv.assertionAudience(), "x", "", key, time.Now().Add(-10*time.Minute))
	otherAud, _ := d.srv.assertions.Sign(d.url, "http://elsewhere.example", "x", "", key, time.Now())
	for _, tc := range []struct {
		name      string
		assertion string
		audience  string
		mod       func(*http.Request)
		status    int
		code      string
	}{
		{"valid", good, "data", nil, 200, ""},
		{"forged signature", forged, "data", nil, 400, "invalid_grant"},
		{"expired", expired, "data", nil, 400, "invalid_grant"},
		{"wrong audience", otherAud, "data", nil, 400, "invalid_grant"},
		{"garbage", "not.a.jwt", "data", nil, 400, "invalid_grant"},
		{"unknown connection", good, "nope", nil, 400, "invalid_target"},
		{"connection not linked", good, "other", nil, 400, "invalid_target"},
		{"wrong exchange secret", good, "data", func(r *http.Request) { r.SetBasicAuth("u", "wrong") }, 401, "invalid_client"},
		{"no client authentication", good, "data", func(r *http.Request) { r.Header.Del("Authorization") }, 401, "invalid_client"},
		{"from a browser (fetch metadata)", good, "data", func(r *http.Request) { r.Header.Set("Sec-Fetch-Mode", "cors") }, 403, "access_denied"},
		{"from a browser (Origin)", good, "data", func(r *http.Request) { r.Header.Set("Origin", d.url) }, 403, "access_denied"},
		{"wrong grant type", good, "data", func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader("grant_type=client_credentials"))
			r.ContentLength = -1
		}, 400, "unsupported_grant_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := d.exchange(t, tc.assertion, tc.audience, tc.mod)
			if r.status != tc.status || (tc.code != "" && r.body["error"] != tc.code) {
				t.Fatalf("got %v, want %d %s", r, tc.status, tc.code)
			}
			if tc.status != 200 && r.body["access_token"] != nil {
				t.Fatal("a refused exchange returned a token")
			}
		})
	}
}

// expireConnection marks a connection's access token expired in the store.
func (e *testEnv) expireConnection(t *testing.T, c *http.Client, name string) {
	t.Helper()
	sess, key, err := e.srv.sessions.Load(mustReq(c, e.url))
	if err != nil || sess.Connections[name] == nil {
		t.Fatalf("no %s connection: %v", name, err)
	}
	sess.Connections[name].Expiry = time.Now().Add(-time.Second)
	if err := e.srv.store.Save(context.Background(), key, sess); err != nil {
		t.Fatal(err)
	}
}

// sessionAssertion signs an assertion of the request's session, as the proxy
// does for forwarded requests ("" without a live session).
func (s *Server) sessionAssertion(r *http.Request) (string, error) {
	sess, key, err := s.sessions.Load(r)
	if err != nil {
		return "", nil
	}
	return s.assertions.Sign(s.cfg.PublicURL, s.assertionAudience(), sess.Subject, sess.Email, key, s.now())
}
