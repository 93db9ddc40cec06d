// Package exampletest starts what the examples' tests run against: the
// stack of package internal/stacktest (the real in-process OpenID provider
// and a real tokenhook server) in front of the example's app, the way a user
// runs `tokenhook serve --upstream …`, with the viewer, client and
// connection the examples' READMEs describe. It also starts example apps
// written in other languages as subprocesses, drives their pages in a real
// Chromium, and decides whether a missing interpreter skips or fails a test
// (CI=true fails).
package exampletest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tokenhook/tokenhook/internal/browsertest"
	"github.com/tokenhook/tokenhook/internal/idp/idptest"
	"github.com/tokenhook/tokenhook/internal/stacktest"
	"github.com/tokenhook/tokenhook/internal/testenv"
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

// Env is a running provider and, after Serve, a tokenhook server (a
// stacktest.Stack, which holds its URL, the viewer's credentials and the
// sign-in helpers).
type Env struct {
	*stacktest.Stack

	t            testing.TB
	connVerifier *oidc.IDTokenVerifier
}

// New starts the provider with one viewer and reserves tokenhook's address
// (so its URL is known before the app starts); Serve starts tokenhook.
// Everything stops when the test ends.
func New(t testing.TB) *Env { return NewWith(t, Options{}) }

// NewWith is New with options.
func NewWith(t testing.TB, o Options) *Env {
	t.Helper()
	so := stacktest.Options{
		ClientID: ClientID, Name: "Example Viewer", Groups: []string{Group}, TokenTTL: o.TokenTTL,
		// "groups" puts the viewer's groups into Dex's tokens (and so into
		// X-Forwarded-Groups); it is not among the default scopes.
		Scopes: Scopes, Exchange: true,
	}
	if o.Connection {
		so.Connections = []stacktest.Connection{{Name: Connection, ClientID: ConnectionClientID}}
	}
	e := &Env{Stack: stacktest.New(t, so), t: t}
	e.connVerifier = e.Verifier(&oidc.Config{ClientID: ConnectionClientID})
	return e
}

// PythonEnv is the environment the tokenhook Python package needs in an app
// that appURL serves behind this tokenhook (tokenhook's --upstream).
func (e *Env) PythonEnv(appURL string) []string {
	return []string{
		"TOKENHOOK_URL=" + e.URL, "TOKENHOOK_ISSUER=" + e.URL, "TOKENHOOK_AUDIENCE=" + appURL,
		"TOKENHOOK_EXCHANGE_SECRET=" + e.ExchangeSecret, "PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1",
	}
}

// CheckConnectionToken fails the test unless tok is an access token the
// provider issued to the connection's client for the viewer.
func (e *Env) CheckConnectionToken(tok string) {
	e.t.Helper()
	idptest.CheckBearer(e.t, e.connVerifier, "Bearer "+tok, e.Email, nil)
}

// Claims are the claims of a checked access token that the tests look at
// (see stacktest's Stack.CheckBearer).
type Claims struct {
	Subject string   `json:"sub"`
	Email   string   `json:"email"`
	Groups  []string `json:"groups"`
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
// in front of it. args is the command line after the interpreter, in which
// $HOST and $PORT stand for the app's address and $PUBLIC_HOST for
// tokenhook's host:port (the one the browser uses); the environment is
// PythonEnv, HOST and PORT, and env. It returns the app's URL.
func (e *Env) StartPython(py, health string, env, args []string) string {
	e.t.Helper()
	addr := testenv.FreeAddr(e.t)
	host, port, _ := strings.Cut(addr, ":")
	appURL := "http://" + addr
	vars := map[string]string{"HOST": host, "PORT": port, "PUBLIC_HOST": strings.TrimPrefix(e.URL, "http://")}
	expanded := make([]string, len(args))
	for i, a := range args {
		expanded[i] = os.Expand(a, func(name string) string {
			v, ok := vars[name]
			if !ok {
				e.t.Fatalf("StartPython: unknown $%s in %q", name, a)
			}
			return v
		})
	}
	env = append(append(e.PythonEnv(appURL), "HOST="+host, "PORT="+port), env...)
	Start(e.t, ".", env, py, expanded...)
	testenv.WaitHTTP(e.t, appURL+health, http.StatusOK, 90*time.Second)
	e.Serve(appURL)
	return appURL
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
	// The app may start processes of its own (Dash's FastAPI backend runs
	// uvicorn as a child): give it a process group and end the whole group,
	// so nothing outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
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
	// Args is the command line after the interpreter, with $HOST, $PORT
	// and $PUBLIC_HOST (see StartPython); nil runs app.py, which takes its
	// address from HOST and PORT.
	Args []string
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
	args := a.Args
	if args == nil {
		args = []string{"app.py"}
	}
	appURL := e.StartPython(py, a.Health, append([]string{"OIDC_ISSUER=" + e.Issuer}, a.Env...), args)
	tab := browser.Tab(t)
	e.OpenSignedIn(tab, a.SignIn)
	return e, tab, appURL
}

// SignedInClient returns a new cookie-keeping client (a browser without
// scripts) signed in to tokenhook as the viewer.
func (e *Env) SignedInClient() *http.Client {
	c := testenv.NewClient()
	e.SignIn(c)
	return c
}

// ForeignOrigin is tokenhook's origin with another host name (localhost for
// 127.0.0.1): the same server, but the origin a page elsewhere would send.
func (e *Env) ForeignOrigin() string {
	return "http://localhost" + strings.TrimPrefix(e.URL, "http://127.0.0.1")
}

// Direct returns a client for calls straight at an app, past tokenhook: no
// cookies, and a timeout.
func Direct() *http.Client { return &http.Client{Timeout: 10 * time.Second} }

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
