// Package exampletest starts what the examples' tests run against: the real
// in-process OpenID provider (Dex, package internal/idp) and a real tokenhook
// server in front of the example's app, the way a user runs
// `tokenhook serve --upstream …`. It also signs a viewer in (over HTTP or
// in a real Chromium), starts example apps written in other languages as
// subprocesses, and decides whether a missing interpreter skips or fails a
// test (CI=true fails).
package exampletest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tokenhook/tokenhook/internal/browsertest"
	"github.com/tokenhook/tokenhook/internal/idp"
	"github.com/tokenhook/tokenhook/internal/idp/idptest"
	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server"
	"github.com/tokenhook/tokenhook/server/connection"
)

// ClientID is the OAuth client tokenhook uses at the provider; Dex puts it
// into the access tokens' aud, so backends validate with it as audience.
const ClientID = "examples"

// Scopes are the scopes tokenhook requests in the tests, as the READMEs
// recommend for Dex.
var Scopes = []string{"openid", "email", "profile", "groups", "offline_access"}

// Group is the one group of the test viewer (X-Forwarded-Groups).
const Group = "analysts"

// Connection is the name of the connection Options.Connection configures:
// a second OAuth client at the same provider, standing in for a data
// platform (Databricks, Snowflake …) whose token the app's backend gets with
// get_user_token.
const Connection = "data"

// ConnectionClientID is the connection's client at the provider; its access
// tokens carry it as aud.
const ConnectionClientID = "data-platform"

// Options are what an example's environment needs beyond sign-in.
type Options struct {
	// TokenTTL is the lifetime of the provider's access tokens (default one
	// hour).
	TokenTTL time.Duration
	// Connection configures the connection named Connection in tokenhook.
	Connection bool
}

// Env is a running provider and, after Serve, a tokenhook server.
type Env struct {
	// Issuer is the provider's issuer URL.
	Issuer string
	// ClientSecret is tokenhook's client secret at the provider.
	ClientSecret string
	// URL is tokenhook's public URL (http://127.0.0.1:P), known from New on.
	URL string
	// Email and Password are the viewer's credentials; Username is the
	// preferred username the provider derives from the email.
	Email, Password, Username string
	// ExchangeSecret is tokenhook's --exchange-secret.
	ExchangeSecret string

	t            testing.TB
	o            Options
	ln           net.Listener
	logs         *testenv.LogBuffer
	verifier     *oidc.IDTokenVerifier
	connVerifier *oidc.IDTokenVerifier
	connSecret   string
	cookieSecret []byte
	dataDir      string
	upstream     string
	stop         func()
}

// New starts the provider with one viewer and reserves tokenhook's address
// (so its URL is known before the app starts); Serve starts tokenhook.
// Everything stops when the test ends.
func New(t testing.TB) *Env { return NewWith(t, Options{}) }

// NewWith is New with options.
func NewWith(t testing.TB, o Options) *Env {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{
		t: t, ln: ln, URL: "http://" + ln.Addr().String(),
		Email: "viewer@example.com", Username: "viewer", Password: "pw-" + testenv.RandomHex(8),
		ClientSecret: testenv.RandomHex(16), logs: testenv.ShowOnFailure(t, "tokenhook log"), o: o,
		ExchangeSecret: testenv.RandomHex(16), connSecret: testenv.RandomHex(16), cookieSecret: []byte(testenv.RandomHex(32)), dataDir: t.TempDir(),
	}
	e.Issuer = idptest.Start(t, idp.Options{
		Users: []idp.User{{Email: e.Email, Password: e.Password, Name: "Example Viewer", Groups: []string{Group}}},
		Clients: []idp.Client{
			idptest.RelyingParty(ClientID, e.ClientSecret, e.URL),
			{ID: ConnectionClientID, Secret: e.connSecret, RedirectURIs: []string{e.URL + "/_tokenhook/callback"}},
		},
		TokenTTL: o.TokenTTL,
	}).Issuer
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	prov, err := oidc.NewProvider(ctx, e.Issuer)
	if err != nil {
		t.Fatalf("discover the provider: %v", err)
	}
	e.verifier = prov.Verifier(&oidc.Config{ClientID: ClientID})
	e.connVerifier = prov.Verifier(&oidc.Config{ClientID: ConnectionClientID})
	return e
}

// Serve starts tokenhook on the reserved address in front of upstream (empty:
// no upstream) and returns once it has discovered the provider. Sessions are
// kept in a data directory, so they survive Restart.
func (e *Env) Serve(upstream string) {
	t := e.t
	t.Helper()
	e.upstream = upstream
	cfg := server.Config{
		PublicURL: e.URL, Issuer: e.Issuer, ClientID: ClientID, ClientSecret: e.ClientSecret,
		Upstream: upstream, CookieSecret: e.cookieSecret, DataDir: e.dataDir,
		// "groups" puts the viewer's groups into Dex's tokens (and so into
		// X-Forwarded-Groups); it is not among the default scopes.
		Scopes:         Scopes,
		ExchangeSecret: e.ExchangeSecret,
	}
	if e.o.Connection {
		cfg.Connections = []connection.Spec{{Name: Connection, Preset: "oidc", Issuer: e.Issuer,
			ClientID: ConnectionClientID, ClientSecret: e.connSecret}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, e.logs.Logger())
	if err != nil {
		cancel()
		t.Fatalf("start tokenhook: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, e.ln) }()
	var once sync.Once
	e.stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(e.stop)
	testenv.WaitHTTP(t, e.URL+server.Prefix+"readyz", http.StatusOK, 20*time.Second)
}

// Stop stops tokenhook, which ends every proxied connection (the app's
// WebSockets among them); Restart starts it again.
func (e *Env) Stop() { e.stop() }

// Restart stops tokenhook if it runs and starts it again on the same address
// with the same secrets and sessions.
func (e *Env) Restart() {
	e.t.Helper()
	e.stop()
	var err error
	for i := 0; i < 50; i++ {
		if e.ln, err = net.Listen("tcp", strings.TrimPrefix(e.URL, "http://")); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		e.t.Fatalf("listen again at %s: %v", e.URL, err)
	}
	e.Serve(e.upstream)
}

// PythonEnv is the environment the tokenhook Python package needs in an app
// that appURL serves behind this tokenhook (tokenhook's --upstream).
func (e *Env) PythonEnv(appURL string) []string {
	return []string{
		"TOKENHOOK_URL=" + e.URL, "TOKENHOOK_ISSUER=" + e.URL, "TOKENHOOK_AUDIENCE=" + appURL,
		"TOKENHOOK_EXCHANGE_SECRET=" + e.ExchangeSecret, "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1",
	}
}

// Connect links the connection in tab: tokenhook's connect route, the
// provider's login form, back to the app's page at rd.
func (e *Env) Connect(tab *browsertest.Tab, rd string) {
	e.t.Helper()
	tab.Navigate(e.URL + server.Prefix + "connect/" + Connection + "?rd=" + url.QueryEscape(rd))
	e.SubmitLoginForm(tab)
	if got := browsertest.Eval[string](tab, `location.href`); got != e.URL+rd {
		e.t.Fatalf("after connecting the browser is at %s, want %s%s", got, e.URL, rd)
	}
}

// ConnectClient links the connection over plain HTTP with c, which holds
// the viewer's session (see SignIn).
func (e *Env) ConnectClient(c *http.Client) {
	e.t.Helper()
	e.loginAt(c, "connect/"+Connection, "connect "+Connection)
}

// CheckConnectionToken fails the test unless tok is an access token the
// provider issued to the connection's client for the viewer.
func (e *Env) CheckConnectionToken(tok string) {
	e.t.Helper()
	it, err := e.connVerifier.Verify(context.Background(), tok)
	if err != nil {
		e.t.Fatalf("%.20q… is not a token of the connection: %v", tok, err)
	}
	var c Claims
	if err := it.Claims(&c); err != nil || c.Email != e.Email {
		e.t.Fatalf("connection token for %q (%v), want %q", c.Email, err, e.Email)
	}
}

// SignIn signs the viewer in over plain HTTP with c (which needs a cookie
// jar): tokenhook's login route, the provider's login form, the callback.
func (e *Env) SignIn(c *http.Client) {
	e.t.Helper()
	e.loginAt(c, "login", "sign in")
}

// loginAt follows tokenhook's route (login or connect/NAME, back to /) with
// c through the provider's login form and fails the test (naming what)
// unless it ends with tokenhook's redirect back to the app.
func (e *Env) loginAt(c *http.Client, route, what string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := idptest.Login(ctx, c, e.URL+server.Prefix+route+"?rd=%2F", e.Email, e.Password,
		func(next *url.URL) bool {
			// Stop at the page tokenhook sends the viewer back to.
			return strings.HasPrefix(next.String(), e.URL) && !strings.HasPrefix(next.Path, server.Prefix)
		})
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		e.t.Fatalf("%s ended with %d at %s, want a redirect back to the app", what, resp.StatusCode, resp.Request.URL)
	}
}

// Token asks tokenhook's token endpoint for the signed-in viewer's access
// token, as the browser script does.
func (e *Env) Token(c *http.Client) string {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.URL+server.Prefix+"token", nil)
	req.Header.Set("X-TokenHook", "1")
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("token endpoint: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil || body.AccessToken == "" {
		e.t.Fatalf("token endpoint answered %d without an access token", resp.StatusCode)
	}
	return body.AccessToken
}

// SubmitLoginForm fills in and submits the provider's login form shown in
// tab and waits for the page the submission leads to.
func (e *Env) SubmitLoginForm(tab *browsertest.Tab) {
	e.t.Helper()
	if err := tab.SubmitLogin(e.Email, e.Password); err != nil {
		body := browsertest.Eval[string](tab, `document.body ? document.body.innerText.slice(0, 300) : ""`)
		e.t.Fatalf("submit the login form: %v (page says: %s)", err, body)
	}
}

// Claims are the claims of a checked access token that the tests look at.
type Claims struct {
	Subject string   `json:"sub"`
	Email   string   `json:"email"`
	Groups  []string `json:"groups"`
}

// CheckBearer fails the test unless auth is "Bearer <token>" with an access
// token the provider issued to tokenhook for the viewer. It returns the
// token's claims.
func (e *Env) CheckBearer(auth string) Claims {
	e.t.Helper()
	var c Claims
	idptest.CheckBearer(e.t, e.verifier, auth, e.Email, &c)
	return c
}

// Python is the Debian interpreter that sees Debian's python3-* packages (the
// python3 first on PATH may be another one).
const Python = "/usr/bin/python3"

// NeedPython checks that Python can import every module, skipping or failing
// the test (see Need) otherwise.
func NeedPython(t testing.TB, modules ...string) {
	t.Helper()
	if _, err := os.Stat(Python); err != nil {
		testenv.Need(t, Python, err)
		return
	}
	for _, m := range modules {
		out, err := exec.Command(Python, "-c", "import "+m).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
		}
		testenv.Need(t, "Python module "+m, err)
	}
}

// VenvPython returns the interpreter of the virtual environment `make venv`
// builds (TOKENHOOK_PYTHON, else .venv/bin/python at the repository root)
// after checking that it imports every module; it skips the test without
// it, or fails it when CI=true (see Need).
func VenvPython(t testing.TB, modules ...string) string {
	t.Helper()
	py := os.Getenv("TOKENHOOK_PYTHON")
	if py == "" {
		dir, err := os.Getwd()
		for err == nil {
			if _, serr := os.Stat(filepath.Join(dir, "go.mod")); serr == nil {
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				err = os.ErrNotExist
			}
			dir = parent
		}
		py = filepath.Join(dir, ".venv", "bin", "python")
	}
	if _, err := os.Stat(py); err != nil {
		testenv.Need(t, "the Python virtual environment (make venv)", err)
		return ""
	}
	args := []string{"-c", "import " + strings.Join(append([]string{"tokenhook"}, modules...), ", ")}
	if out, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		testenv.Need(t, "Python modules in "+py+" (make venv)", fmt.Errorf("%v: %s", err, bytes.TrimSpace(out)))
	}
	return py
}

// Screenshot saves what tab shows (800×560 CSS pixels) as the PNG at path
// when the environment variable SCREENSHOTS is 1, for the examples' READMEs;
// otherwise it does nothing, so test runs leave the tree alone.
func Screenshot(t testing.TB, tab *browsertest.Tab, path string) {
	t.Helper()
	if os.Getenv("SCREENSHOTS") != "1" {
		return
	}
	if err := chromedp.Do(tab.Context(), chromedp.EmulateViewport(800, 560)); err != nil {
		t.Fatalf("screenshot viewport: %v", err)
	}
	png, err := chromedp.Run(tab.Context(), chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Click clicks the element with the id in tab (through the DOM, as the
// page's own event handlers see a click).
func Click(t testing.TB, tab *browsertest.Tab, id string) {
	t.Helper()
	if !browsertest.Eval[bool](tab, fmt.Sprintf(`(function(){ var el = document.getElementById(%q); if (!el) return false; el.click(); return true; })()`, id)) {
		t.Fatalf("no element #%s to click", id)
	}
}

// WaitText waits until the element with the id shows text containing want
// and returns that text; it fails the test with what the element shows
// otherwise.
func WaitText(t testing.TB, tab *browsertest.Tab, id, want string) string {
	t.Helper()
	got, err := browsertest.WaitFor[string](tab, fmt.Sprintf(
		`(function(){ var el = document.getElementById(%q); var s = el ? el.textContent : ""; return s.indexOf(%q) >= 0 ? s : ""; })()`, id, want))
	if err != nil {
		now, _ := browsertest.EvalErr[string](tab, fmt.Sprintf(`(document.getElementById(%q) || {}).textContent || "(no #%s)"`, id, id))
		t.Fatalf("#%s shows %q, want %q in it (%v)", id, now, want, err)
	}
	return got
}

// deepText is a JavaScript function returning the text of the page,
// including what open shadow roots hold (Panel's components live in them).
const deepText = `(function deep(n) {
	var s = "";
	if (n.nodeType === 3) return n.textContent;
	if (n.shadowRoot) s += deep(n.shadowRoot);
	for (var c = n.firstChild; c; c = c.nextSibling) s += deep(c);
	return s;
})`

// WaitPageText waits until the page's text (shadow roots included) contains
// want, failing the test with the start of the page's text otherwise.
func WaitPageText(t testing.TB, tab *browsertest.Tab, want string) {
	t.Helper()
	if _, err := browsertest.WaitFor[bool](tab, fmt.Sprintf(`%s(document.body || document).indexOf(%q) >= 0`, deepText, want)); err != nil {
		now, _ := browsertest.EvalErr[string](tab, deepText+`(document.body || document).replace(/\s+/g, " ").slice(0, 600)`)
		t.Fatalf("the page does not show %q (%v); it shows: %s", want, err, now)
	}
}

// ClickButton clicks the first button (shadow roots included) whose text
// contains label, waiting for one to appear.
func ClickButton(t testing.TB, tab *browsertest.Tab, label string) {
	t.Helper()
	if _, err := browsertest.WaitFor[bool](tab, fmt.Sprintf(`(function find(root) {
		var all = root.querySelectorAll("*");
		for (var i = 0; i < all.length; i++) {
			var el = all[i];
			if (el.tagName === "BUTTON" && el.textContent.indexOf(%q) >= 0) { el.click(); return true; }
			if (el.shadowRoot && find(el.shadowRoot)) return true;
		}
		return false;
	})(document)`, label)); err != nil {
		t.Fatalf("no button %q to click: %v", label, err)
	}
}

// ReconnectedClick clicks the button labelled label until the page shows
// "Click N: <want>" for an N it did not show before: a page that lost its
// WebSocket needs a moment to reconnect, and clicks made meanwhile are lost.
func ReconnectedClick(t testing.TB, tab *browsertest.Tab, label, want string) {
	t.Helper()
	count := fmt.Sprintf(`(function(){ var m = %s(document.body).match(/Click (\d+): /); return m ? +m[1] : 0; })()`, deepText)
	before := browsertest.Eval[int](tab, count)
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		ClickButton(t, tab, label)
		for i := 0; i < 20; i++ {
			time.Sleep(100 * time.Millisecond)
			if n := browsertest.Eval[int](tab, count); n > before {
				WaitPageText(t, tab, fmt.Sprintf("Click %d: %s", n, want))
				return
			}
		}
	}
	t.Fatalf("no click was answered within 45 s after the reconnect")
}

// StartPython starts an example app in the current directory with
// interpreter py (see VenvPython) on a free loopback port, behind e
// (PythonEnv), waits until health (a path) answers 200, and starts tokenhook
// in front of it. args gets the host and port and returns the command line
// after the interpreter; the environment is PythonEnv, HOST and PORT, and
// env. It returns the app's URL.
func (e *Env) StartPython(py, health string, env []string, args func(host, port string) []string) string {
	e.t.Helper()
	addr := testenv.FreeAddr(e.t)
	host, port, _ := strings.Cut(addr, ":")
	appURL := "http://" + addr
	env = append(append(e.PythonEnv(appURL), "HOST="+host, "PORT="+port), env...)
	Start(e.t, ".", env, py, args(host, port)...)
	testenv.WaitHTTP(e.t, appURL+health, http.StatusOK, 90*time.Second)
	e.Serve(appURL)
	return appURL
}

// SignInTab opens path through tokenhook in tab and signs the viewer in on
// the provider's form; the tab ends on the app's page.
func (e *Env) SignInTab(tab *browsertest.Tab, path string) {
	e.t.Helper()
	tab.Navigate(e.URL + path)
	e.SubmitLoginForm(tab)
}

// AskButton labels the button of the WebSocket app examples (Panel,
// Streamlit, Shiny for Python) whose Python callback calls get_user_token and
// the provider's userinfo endpoint; they answer "Click N: " + Asked + email.
const AskButton = "Ask the identity provider who I am"

// Asked is the part of a WebSocket app example's answer before the email.
const Asked = "the provider says you are "

// CheckSignedInApp runs the subtests the WebSocket app examples share, in a
// tab signed in to the app: the page shows the verified viewer, and a click
// on AskButton round-trips (the callback's get_user_token got a token the
// provider accepts). With a screenshot path it then takes the screenshot.
// The answer ends with "Your session lasts until <exp>.", the expiry of the
// assertion the callback sees, which must be the session's end.
func (e *Env) CheckSignedInApp(t *testing.T, tab *browsertest.Tab, screenshot string) {
	t.Run("the page shows the verified viewer", func(t *testing.T) {
		WaitPageText(t, tab, "Signed in as "+e.Email)
	})
	t.Run("a click round-trips and get_user_token works in the callback", func(t *testing.T) {
		ClickButton(t, tab, AskButton)
		WaitPageText(t, tab, "Click 1: "+Asked+e.Email)
		if screenshot != "" {
			Screenshot(t, tab, screenshot)
		}
	})
	t.Run("the callback's assertion is the WebSocket upgrade's, which lives as long as the session", func(t *testing.T) {
		// An HTTP request's lives five minutes: get_user_token would fail
		// with it in a page kept open longer.
		text, err := browsertest.EvalErr[string](tab, deepText+`(document.body || document)`)
		m := regexp.MustCompile(`Your session lasts until (\S+)\.`).FindStringSubmatch(text)
		if err != nil || m == nil {
			t.Fatalf("the page does not show when the session ends (%v)", err)
		}
		until, err := time.Parse(time.RFC3339, m[1])
		if err != nil || until.Before(time.Now().Add(time.Hour)) {
			t.Fatalf("the callback's assertion expires at %s (%v), want the session's end", m[1], err)
		}
	})
}

// CheckReconnect is the subtest for a WebSocket app example after
// CheckSignedInApp: with tokenhook stopped a click goes unanswered (the page
// still shows the first answer); once tokenhook runs again the page
// reconnects and a click is answered.
func (e *Env) CheckReconnect(t *testing.T, tab *browsertest.Tab) {
	t.Run("the page reconnects after tokenhook restarts", func(t *testing.T) {
		e.Stop()
		ClickButton(t, tab, AskButton)
		time.Sleep(time.Second)
		WaitPageText(t, tab, "Click 1: "+Asked)
		e.Restart()
		ReconnectedClick(t, tab, AskButton, Asked+e.Email)
	})
}

// Upgrade sends a WebSocket upgrade for u with c and returns the status it
// got; origin and the X-TokenHook-Session assertion are sent when not empty.
func Upgrade(t testing.TB, c *http.Client, u, origin, assertion string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if assertion != "" {
		req.Header.Set("X-TokenHook-Session", assertion)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Start runs a command (an example app) until the test ends. Its output is
// logged when the test fails. It stops the process it started, and only it.
func Start(t testing.TB, dir string, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out := testenv.ShowOnFailure(t, name+" output")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// Browser is the Chromium a package of example tests shares (from its
// TestMain), with a tab timeout long enough for a Python app's first page.
func Browser() *browsertest.Shared {
	return &browsertest.Shared{Options: browsertest.Options{Timeout: 3 * time.Minute}}
}

// App is a Python example app that RunApp starts.
type App struct {
	// Modules are what the interpreter must import (see VenvPython).
	Modules []string
	// Options configure the environment (see NewWith).
	Options Options
	// Health is a path of the app that answers 200 once it serves.
	Health string
	// Env is more environment for the app; OIDC_ISSUER (the provider's
	// issuer) is always set, with PythonEnv, HOST and PORT.
	Env []string
	// Args returns the command line after the interpreter, for the app on
	// host and port behind e.
	Args func(e *Env, host, port string) []string
	// SignIn is the path the viewer opens and signs in at.
	SignIn string
}

// RunApp is how every browser test of a Python example starts: the
// interpreter, an environment, the app behind tokenhook (StartPython) and a
// tab of browser signed in at a.SignIn. It returns the environment, the tab
// and the app's URL.
func RunApp(t *testing.T, browser *browsertest.Shared, a App) (*Env, *browsertest.Tab, string) {
	t.Helper()
	py := VenvPython(t, a.Modules...)
	e := NewWith(t, a.Options)
	appURL := e.StartPython(py, a.Health, append([]string{"OIDC_ISSUER=" + e.Issuer}, a.Env...),
		func(host, port string) []string { return a.Args(e, host, port) })
	tab := browser.Tab(t)
	e.SignInTab(tab, a.SignIn)
	return e, tab, appURL
}

// AppPy is App.Args for an app.py that takes its address from HOST and PORT.
func AppPy(*Env, string, string) []string { return []string{"app.py"} }

// PostAuth POSTs to u with c, with the header Authorization: auth unless auth
// is empty, and fails t if no answer comes. The caller closes the body.
func PostAuth(t testing.TB, c *http.Client, u, auth string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}
