package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/internal/idp"
	"github.com/tokenhook/tokenhook/internal/idp/idptest"
	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/config"
)

const testSecret = "client-secret-do-not-log-7f3a9c"

// testEnv is a real Dex provider and a tokenhook server in front of nothing.
type testEnv struct {
	t          *testing.T
	idp        *idp.Provider
	srv        *Server
	cfg        Config
	url        string // tokenhook's public URL
	tokenCalls atomic.Int64
	logs       *testenv.LogBuffer
	logJSON    bool // log in JSON (--log-format json) instead of text
	cancel     context.CancelFunc
}

var users = []idp.User{
	{Email: "ada@example.com", Password: "pw-ada"},
	{Email: "bob@example.com", Password: "pw-bob"},
	{Email: "cy@example.com", Password: "pw-cy"},
	{Email: "dee@example.com", Password: "pw-dee", Name: "data team"}, // a string "name" claim with a space
}

func newEnv(t *testing.T) *testEnv { return newEnvWith(t, nil) }

// newAppEnv is newEnv with tokenhook in front of app, and mod (may be nil)
// adjusting the configuration.
func newAppEnv(t *testing.T, app http.Handler, mod func(e *testEnv, c *Config)) *testEnv {
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	return newEnvWith(t, func(e *testEnv, c *Config) {
		c.Upstream = srv.URL
		if mod != nil {
			mod(e, c)
		}
	})
}

// newEnvWith is newEnv with a hook that adjusts the configuration before the
// server starts (e.url is known by then).
func newEnvWith(t *testing.T, mod func(e *testEnv, c *Config)) *testEnv {
	t.Helper()
	e := &testEnv{t: t, logs: &testenv.LogBuffer{}}
	thLn := localListener(t)
	e.url = "http://" + thLn.Addr().String()
	e.idp = idptest.Start(t, idp.Options{
		Users:   users,
		Clients: []idp.Client{idptest.RelyingParty("tokenhook", testSecret, e.url)},
		Wrap:    testenv.CountPath("/dex/token", &e.tokenCalls),
	})
	e.cfg = Config{
		PublicURL: e.url, Issuer: e.idp.Issuer, ClientID: "tokenhook", ClientSecret: testSecret,
		CookieSecret: []byte("0123456789abcdef0123456789abcdef-test"), DataDir: t.TempDir(),
	}
	if mod != nil {
		mod(e, &e.cfg)
	}
	e.start(thLn)
	return e
}

// start runs a tokenhook server on ln with e.cfg (again, for restart tests).
func (e *testEnv) start(ln net.Listener) {
	t := e.t
	ctx, cancel := context.WithCancel(context.Background())
	var h slog.Handler = slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	if e.logJSON {
		h = slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	logger := slog.New(h)
	srv, err := New(ctx, e.cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	e.srv, e.cancel = srv, cancel
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for srv.broker.SignIn().Provider() == nil {
		if time.Now().After(deadline) {
			t.Fatal("provider not discovered")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// restart stops the server and starts a new one on the same address and data dir.
func (e *testEnv) restart() {
	e.cancel()
	addr := strings.TrimPrefix(e.url, "http://")
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.start(ln)
}

// signedIn returns a new browser (its own cookie jar) in which u has signed
// in.
func (e *testEnv) signedIn(u idp.User) *http.Client {
	e.t.Helper()
	c := testenv.NewClient()
	e.signIn(c, u, "/")
	return c
}

// signIn runs the whole browser flow for user u starting at /_tokenhook/login?rd=rd
// and returns the final response's URL path.
func (e *testEnv) signIn(c *http.Client, u idp.User, rd string) *http.Response {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := idptest.Login(ctx, c, e.url+"/_tokenhook/login?rd="+url.QueryEscape(rd), u.Email, u.Password,
		func(next *url.URL) bool {
			return next.Path != "/_tokenhook/callback" && strings.HasPrefix(next.String(), e.url)
		})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("sign-in ended with %d, want a redirect to rd", resp.StatusCode)
	}
	return resp
}

type tokenAnswer struct {
	status int
	body   map[string]any
	header http.Header
	raw    string
}

// token asks the token endpoint as the script does (X-TokenHook: 1), with
// hdr added ("" removes a header).
func (e *testEnv) token(c *http.Client, hdr map[string]string) tokenAnswer {
	e.t.Helper()
	resp, b := do(e.t, c, http.MethodGet, e.url+"/_tokenhook/token", withHeaders(map[string]string{"X-TokenHook": "1"}, hdr), "")
	a := tokenAnswer{status: resp.StatusCode, header: resp.Header, raw: b}
	json.Unmarshal([]byte(b), &a.body)
	return a
}

// do sends a request with the headers in hdr ("" removes one) and body from
// c, following no redirect, and returns the answer with its body read.
func do(t testing.TB, c *http.Client, method, url string, hdr map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := noRedirect(c).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// withHeaders returns base with more's entries set over it.
func withHeaders(base, more map[string]string) map[string]string {
	for k, v := range more {
		base[k] = v
	}
	return base
}

func noRedirect(c *http.Client) *http.Client {
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}

func (a tokenAnswer) String() string { return fmt.Sprintf("%d %s", a.status, a.raw) }

// expire marks the access token of c's session as expired in the store.
func (e *testEnv) expire(c *http.Client) {
	e.t.Helper()
	req := mustReq(c, e.url)
	sess, key, err := e.srv.sessions.Load(req)
	if err != nil {
		e.t.Fatal(err)
	}
	sess.Expiry = time.Now().Add(-time.Second)
	if err := e.srv.store.Save(context.Background(), key, sess); err != nil {
		e.t.Fatal(err)
	}
}

// loadConfig is config.Load as "tokenhook serve" runs it, keeping the
// server's part.
func loadConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	o, err := config.Load(args, getenv, out)
	return o.Server, err
}

// tokenResponse is the token endpoint's answer in bearer mode, as the
// browser hook reads it.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresAt   int64  `json:"expires_at"`
	Scope       string `json:"scope,omitempty"`
}
