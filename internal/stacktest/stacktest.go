// Package stacktest runs a stack for tests: the in-process OpenID provider
// (Dex, package internal/idp) with tokenhook's client and one viewer, and a
// real tokenhook (server.New) on a listener of its own, restartable, its log
// shown when the test fails. It signs the viewer in the two ways a test
// needs: over plain HTTP with an http.Client holding a cookie jar
// (idptest.Login), and in a browser tab (browsertest's Tab.SubmitLogin).
//
// server/e2e and examples/internal/exampletest build on it; the package
// server's own tests cannot (a package that imports server is not importable
// from server's in-package tests).
//
//	s := stacktest.New(t, stacktest.Options{})
//	s.Serve("")                // tokenhook at s.URL, no upstream
//	c := testenv.NewClient()
//	s.SignIn(c)                // the session cookie is in c's jar
//	tok := s.Token(c)          // what the browser script would get
package stacktest

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tokenhook/tokenhook/internal/browsertest"
	"github.com/tokenhook/tokenhook/internal/idp"
	"github.com/tokenhook/tokenhook/internal/idp/idptest"
	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server"
	"github.com/tokenhook/tokenhook/server/connection"
)

// Connection is a connection tokenhook offers (its --connection setting): a
// second client at the same provider, standing in for a data platform whose
// token an app's backend asks tokenhook for.
type Connection struct {
	// Name is the connection's name in tokenhook (connect/NAME).
	Name string
	// ClientID is the connection's client at the provider; its access
	// tokens carry it as aud.
	ClientID string
}

// Options tune a Stack. The zero value is tokenhook with its defaults in
// front of nothing.
type Options struct {
	// ClientID is tokenhook's client at the provider (default "tokenhook").
	ClientID string
	// Name and Groups are the viewer's display name and groups claim at the
	// provider (optional).
	Name   string
	Groups []string
	// TokenTTL is the lifetime of the provider's access tokens (default one
	// hour).
	TokenTTL time.Duration
	// ProviderWrap wraps the provider's HTTP handler (to count its grants).
	ProviderWrap func(http.Handler) http.Handler

	// Scopes are tokenhook's scopes (default: tokenhook's default).
	Scopes []string
	// BrowserToken is tokenhook's --browser-token (default bearer).
	BrowserToken string
	// ForcedRefreshInterval is tokenhook's floor between refreshes a page
	// forces (default: tokenhook's).
	ForcedRefreshInterval time.Duration
	// Exchange turns on token exchange with a random Stack.ExchangeSecret.
	Exchange bool
	// Connections configures connections, each with a client of its own at
	// the provider.
	Connections []Connection

	// Handler, when set, makes the listener serve Handler(tokenhook's
	// handler) with a plain http.Server: tokenhook mounted in a test's own
	// handler, beside a backend on the same origin, the way a Go backend
	// embeds it. Without it the listener is tokenhook's own Serve, as
	// `tokenhook serve` runs it (with its drain on Stop).
	Handler func(tokenhook http.Handler) http.Handler
}

// Stack is a running provider and, after Serve, a tokenhook server.
type Stack struct {
	// URL is tokenhook's public URL (http://127.0.0.1:P), known from New on.
	URL string
	// Issuer is the provider's issuer URL.
	Issuer string
	// ClientID and ClientSecret are tokenhook's client at the provider.
	ClientID, ClientSecret string
	// Email and Password are the viewer's credentials; Username is the
	// preferred username the provider derives from the email.
	Email, Password, Username string
	// ExchangeSecret is tokenhook's --exchange-secret (empty without
	// Options.Exchange).
	ExchangeSecret string

	t            testing.TB
	o            Options
	ln           net.Listener
	logs         *testenv.LogBuffer
	provider     *oidc.Provider
	verifier     *oidc.IDTokenVerifier
	connections  []connection.Spec
	cookieSecret []byte
	dataDir      string
	upstream     string
	stop         func()
}

// New starts the provider with tokenhook's client, the connections' clients
// and one viewer, and reserves tokenhook's address, so that its URL is known
// before an app behind it starts; Serve starts tokenhook. Everything stops
// when the test ends.
func New(t testing.TB, o Options) *Stack {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.ClientID == "" {
		o.ClientID = "tokenhook"
	}
	s := &Stack{
		t: t, o: o, ln: ln, URL: "http://" + ln.Addr().String(),
		ClientID: o.ClientID, ClientSecret: testenv.RandomHex(16),
		Email: "viewer@example.com", Username: "viewer", Password: "pw-" + testenv.RandomHex(8),
		logs: testenv.ShowOnFailure(t, "tokenhook log"), cookieSecret: []byte(testenv.RandomHex(32)), dataDir: t.TempDir(),
	}
	if o.Exchange {
		s.ExchangeSecret = testenv.RandomHex(16)
	}
	clients := []idp.Client{idptest.RelyingParty(s.ClientID, s.ClientSecret, s.URL)}
	for _, c := range o.Connections {
		secret := testenv.RandomHex(16)
		clients = append(clients, idptest.RelyingParty(c.ClientID, secret, s.URL))
		s.connections = append(s.connections, connection.Spec{Name: c.Name, Preset: "oidc", ClientID: c.ClientID, ClientSecret: secret})
	}
	s.Issuer = idptest.Start(t, idp.Options{
		Users:    []idp.User{{Email: s.Email, Password: s.Password, Name: o.Name, Groups: o.Groups}},
		Clients:  clients,
		TokenTTL: o.TokenTTL,
		Wrap:     o.ProviderWrap,
	}).Issuer
	for i := range s.connections {
		s.connections[i].Issuer = s.Issuer
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if s.provider, err = oidc.NewProvider(ctx, s.Issuer); err != nil {
		t.Fatalf("discover the provider: %v", err)
	}
	s.verifier = s.Verifier(&oidc.Config{ClientID: s.ClientID})
	return s
}

// Serve starts tokenhook on the reserved address in front of upstream
// (empty: no upstream) and returns once it has discovered the provider.
// Sessions are kept in a data directory, so they survive Restart.
func (s *Stack) Serve(upstream string) {
	t := s.t
	t.Helper()
	s.upstream = upstream
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, server.Config{
		PublicURL: s.URL, Issuer: s.Issuer, ClientID: s.ClientID, ClientSecret: s.ClientSecret,
		Upstream: upstream, CookieSecret: s.cookieSecret, DataDir: s.dataDir,
		Scopes: s.o.Scopes, BrowserToken: s.o.BrowserToken, ForcedRefreshInterval: s.o.ForcedRefreshInterval,
		ExchangeSecret: s.ExchangeSecret, Connections: s.connections,
	}, s.logs.Logger())
	if err != nil {
		cancel()
		t.Fatalf("start tokenhook: %v", err)
	}
	done := make(chan error, 1)
	if s.o.Handler == nil {
		go func() { done <- srv.Serve(ctx, s.ln) }()
	} else {
		hs := &http.Server{Handler: s.o.Handler(srv.Handler()), ReadHeaderTimeout: 10 * time.Second}
		context.AfterFunc(ctx, func() { hs.Close() })
		go func() { done <- hs.Serve(s.ln) }()
	}
	s.stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(s.stop)
	testenv.WaitHTTP(t, s.URL+server.Prefix+"readyz", http.StatusOK, 20*time.Second)
}

// Stop stops tokenhook, which ends every proxied connection (an app's
// WebSockets among them); Restart starts it again.
func (s *Stack) Stop() { s.stop() }

// Restart stops tokenhook if it runs and starts it again on the same address
// with the same secrets and sessions.
func (s *Stack) Restart() {
	s.t.Helper()
	s.stop()
	var err error
	for range 50 {
		if s.ln, err = net.Listen("tcp", strings.TrimPrefix(s.URL, "http://")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("listen again at %s: %v", s.URL, err)
	}
	s.Serve(s.upstream)
}

// Verifier checks the provider's tokens with conf (the audience a test
// expects; SkipExpiryCheck for tokens checked after they ran out).
func (s *Stack) Verifier(conf *oidc.Config) *oidc.IDTokenVerifier {
	return s.provider.Verifier(conf)
}

// CheckBearer fails the test unless auth is "Bearer <token>" with an
// unexpired access token the provider issued to tokenhook for the viewer.
// It returns the token and decodes its claims into claims unless nil.
func (s *Stack) CheckBearer(auth string, claims any) string {
	s.t.Helper()
	return idptest.CheckBearer(s.t, s.verifier, auth, s.Email, claims)
}

// SignIn signs the viewer in over plain HTTP with c (which needs a cookie
// jar): tokenhook's login route, the provider's login form, the callback,
// up to tokenhook's redirect back to the app.
func (s *Stack) SignIn(c *http.Client) {
	s.t.Helper()
	s.follow(c, "login", "sign in")
}

// ConnectClient links the connection name over plain HTTP with c, which
// holds the viewer's session (see SignIn).
func (s *Stack) ConnectClient(c *http.Client, name string) {
	s.t.Helper()
	s.follow(c, "connect/"+name, "connect "+name)
}

// follow takes tokenhook's route (login or connect/NAME, back to /) with c
// through the provider's login form and fails the test (naming what) unless
// it ends with tokenhook's redirect back to the app.
func (s *Stack) follow(c *http.Client, route, what string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := idptest.Login(ctx, c, s.URL+server.Prefix+route+"?rd=%2F", s.Email, s.Password,
		func(next *url.URL) bool {
			// Stop at the page tokenhook sends the viewer back to.
			return strings.HasPrefix(next.String(), s.URL) && !strings.HasPrefix(next.Path, server.Prefix)
		})
	if err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		s.t.Fatalf("%s ended with %d at %s, want a redirect back to the app", what, resp.StatusCode, resp.Request.URL)
	}
}

// Token asks tokenhook's token endpoint for the signed-in viewer's access
// token with c, as the browser script does.
func (s *Stack) Token(c *http.Client) string {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+server.Prefix+"token", nil)
	req.Header.Set("X-TokenHook", "1")
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatalf("token endpoint: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil || body.AccessToken == "" {
		s.t.Fatalf("token endpoint answered %d without an access token", resp.StatusCode)
	}
	return body.AccessToken
}

// SignInTab signs the viewer in in tab through tokenhook's login route and
// the provider's login form, and fails the test unless the tab ends on rd
// (a path of tokenhook's origin).
func (s *Stack) SignInTab(tab *browsertest.Tab, rd string) {
	s.t.Helper()
	s.followTab(tab, "login", rd, "sign-in")
}

// ConnectTab links the connection name in tab: tokenhook's connect route,
// the provider's login form, back to rd.
func (s *Stack) ConnectTab(tab *browsertest.Tab, name, rd string) {
	s.t.Helper()
	s.followTab(tab, "connect/"+name, rd, "connecting")
}

// followTab is follow in a tab; after names the step in the failure.
func (s *Stack) followTab(tab *browsertest.Tab, route, rd, after string) {
	s.t.Helper()
	tab.Navigate(s.URL + server.Prefix + route + "?rd=" + url.QueryEscape(rd))
	s.SubmitLoginForm(tab)
	if got := browsertest.Eval[string](tab, `location.href`); got != s.URL+rd {
		s.t.Fatalf("after %s the browser is at %s, want %s; page says: %s", after, got, s.URL+rd, pageText(tab))
	}
}

// OpenSignedIn opens path of tokenhook's origin in tab, a page that sends a
// viewer without a session to sign in, and signs in on the provider's form.
func (s *Stack) OpenSignedIn(tab *browsertest.Tab, path string) {
	s.t.Helper()
	tab.Navigate(s.URL + path)
	s.SubmitLoginForm(tab)
}

// SubmitLoginForm fills in and submits the provider's login form shown in
// tab with the viewer's credentials and waits for the page the submission
// leads to.
func (s *Stack) SubmitLoginForm(tab *browsertest.Tab) {
	s.t.Helper()
	if err := tab.SubmitLogin(s.Email, s.Password); err != nil {
		s.t.Fatalf("submit the login form: %v (page says: %s)", err, pageText(tab))
	}
}

// pageText is the start of what the page in tab says, for failures.
func pageText(tab *browsertest.Tab) string {
	text, _ := browsertest.EvalErr[string](tab, `document.body ? document.body.innerText.slice(0, 500) : ""`)
	return text
}
