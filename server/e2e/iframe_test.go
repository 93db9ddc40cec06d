package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tokenhook/tokenhook/internal/browsertest"
	"github.com/tokenhook/tokenhook/server"
)

// The iframe tests put a parent page on one site (http://localhost:P1) and
// frame the dashboard from another site (tokenhook and the test backend on
// http://127.0.0.1:P2), the way a portal or Tableau embeds a dashboard. The
// frame runs in its own renderer process (site isolation), so the tests
// attach to it as a target of its own.

// promptJS finds the sign-in prompt's host element in a document.
const promptJS = `document.querySelector('[data-tokenhook="signin"]')`

// portal serves a page on another site framing src, and returns its URL.
func portal(t *testing.T, src string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html><head><meta charset="utf-8"><title>portal</title></head>
<body style="margin:0"><h1 style="margin:0;height:40px">Portal</h1>
<iframe id="f" src="`+src+`" style="border:0;width:760px;height:520px;display:block"></iframe></body></html>`)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return strings.Replace(s.URL, "127.0.0.1", "localhost", 1) + "/"
}

// frame is a cross-site iframe the test attached to.
type frame struct {
	t   *testing.T
	ctx context.Context
}

// attachFrame waits for the iframe whose URL starts with prefix and attaches
// to it.
func attachFrame(t *testing.T, tab *browsertest.Tab, prefix string) *frame {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		infos, err := chromedp.Targets(tab.Context())
		if err != nil {
			t.Fatalf("list targets: %v", err)
		}
		for _, info := range infos {
			if info.Type == "iframe" && strings.HasPrefix(info.URL, prefix) {
				ctx, cancel := chromedp.NewContext(tab.Context(), chromedp.WithTargetID(info.TargetID))
				t.Cleanup(cancel)
				return &frame{t: t, ctx: ctx}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no cross-site iframe at %s appeared (site isolation off?)", prefix)
	return nil
}

// eval evaluates expr in the frame (awaiting a promise).
func frameEval[T any](f *frame, expr string) T {
	f.t.Helper()
	v, err := chromedp.Run(f.ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		f.t.Fatalf("eval in the frame %s: %v", expr, err)
	}
	return v
}

// waitFor polls expr in the frame until it is truthy.
func (f *frame) waitFor(expr string) {
	f.t.Helper()
	if _, err := chromedp.Run(f.ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		f.t.Fatalf("wait in the frame for %s: %v", expr, err)
	}
}

// prompt is what the sign-in prompt shows and how it is wired.
type prompt struct {
	Role, Heading, Text, Button, LabelledBy string
	Focused, Visible                        bool
}

// readPrompt waits for the prompt in the frame and reads it.
func (f *frame) readPrompt() prompt {
	f.t.Helper()
	f.waitFor(promptJS + ` && ` + promptJS + `.shadowRoot.querySelector("button")`)
	return frameEval[prompt](f, `(function () {
		var host = `+promptJS+`, root = host.shadowRoot, d = root.querySelector("[role]"), b = root.querySelector("button");
		return {Role: d.getAttribute("role"), Heading: root.querySelector("h2").textContent,
			Text: root.querySelector("p").textContent, Button: b.textContent,
			LabelledBy: root.getElementById(d.getAttribute("aria-labelledby")).textContent,
			Focused: document.activeElement === host && root.activeElement === b,
			Visible: getComputedStyle(host).visibility === "visible" && b.getBoundingClientRect().width > 0};
	})()`)
}

// clickPrompt clicks the prompt's button with a real mouse click at its place
// on the screen (a user gesture, so the popup is allowed) and returns the
// popup. The frame sits in the portal's #f.
func clickPrompt(t *testing.T, tab *browsertest.Tab, f *frame) *browsertest.Tab {
	t.Helper()
	in := frameEval[[]float64](f, `(function () {
		var r = `+promptJS+`.shadowRoot.querySelector("button").getBoundingClientRect();
		return [r.left + r.width / 2, r.top + r.height / 2];
	})()`)
	at := browsertest.Eval[[]float64](tab, `(function () { var r = document.getElementById("f").getBoundingClientRect(); return [r.left, r.top]; })()`)
	return tab.Popup(func() { tab.Do(chromedp.MouseClickXY(at[0]+in[0], at[1]+in[1])) })
}

// loginInPopup fills Dex's real login form in the popup and submits it.
func (e *env) loginInPopup(popup *browsertest.Tab) {
	e.t.Helper()
	// A provider that remembers the viewer skips its form.
	popup.WaitFor(`document.querySelector('input[name="login"]') || /^Signed in/.test(document.title)`)
	if !browsertest.Eval[bool](popup, `!!document.querySelector('input[name="login"]')`) {
		return
	}
	if err := popup.SendLogin(e.email, e.password); err != nil {
		e.t.Fatalf("submit the login form in the popup: %v", err)
	}
}

// popupOpen reports whether a window of tokenhook's sign-in is still open.
func popupOpen(t *testing.T, tab *browsertest.Tab, e *env) bool {
	infos, err := chromedp.Targets(tab.Context())
	if err != nil {
		t.Fatalf("list targets: %v", err)
	}
	for _, info := range infos {
		if info.Type == "page" && (strings.HasPrefix(info.URL, e.Origin+server.Prefix) || strings.HasPrefix(info.URL, e.Issuer)) {
			return true
		}
	}
	return false
}

// tableauPage serves the Tableau extension example at /tableau/.
func (e *env) tableauPage() {
	page, err := os.ReadFile("../../examples/tableau/index.html")
	if err != nil {
		e.t.Fatalf("read the Tableau example: %v", err)
	}
	e.Mux.HandleFunc("GET /tableau/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(page)
	})
}

// TestIframePopupSignIn: a dashboard framed by another site shows the
// sign-in prompt; its button opens the popup; after the sign-in at the
// provider's real login form the frame has a session and its next POST
// carries the viewer's token. With an opener the popup's postMessage hands
// the frame the one-time code it claims with, and the popup closes itself;
// opened with noopener (no opener, as with COOP or Tableau Desktop's system
// browser) the popup asks the viewer to compare the code the frame's prompt
// shows, and once confirmed the claim long-poll (rendezvous) delivers it.
func TestIframePopupSignIn(t *testing.T) {
	tests := []struct {
		name, path string
		// gated pages are hidden until a token; marker is an element of the page.
		gated         bool
		marker        string
		click         string // JS in the frame that makes the page POST
		post, body    string // what the backend must receive
		wantPopupGone bool
	}{
		{
			name: "Tableau extension, postMessage", path: "/tableau/", gated: true, marker: "#load",
			click: `document.getElementById("load").click()`,
			post:  "/api/query", body: `{"q":"sales by region"}`, wantPopupGone: true,
		},
		{
			name: "noopener popup, rendezvous only", path: "/dash", marker: "#marker",
			click: `fetch("/api/framed", {method: "POST", body: "framed-body"}).then(function (r) { window.done = r.status; })`,
			post:  "/api/framed", body: "framed-body",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			e.tableauPage()
			e.page("/dash", attr("data-popup-features", "popup,noopener")+` data-signin-text="Sign in to see your data"`,
				`<p id="marker">dashboard</p>`)
			tab := browser.Tab(t)
			tab.Navigate(portal(t, e.Origin+tc.path))
			f := attachFrame(t, tab, e.Origin+tc.path)

			p := f.readPrompt()
			wantHeading := "Sign in to continue"
			if !tc.gated {
				wantHeading = "Sign in to see your data" // data-signin-text
			}
			if p.Role != "dialog" || p.Heading != wantHeading || p.LabelledBy != wantHeading || p.Button != "Sign in" || !p.Visible || !p.Focused {
				t.Errorf("prompt = %+v, want a visible, focused dialog labelled %q with a Sign in button", p, wantHeading)
			}
			vis := frameEval[string](f, `getComputedStyle(document.querySelector(`+escapeJS(tc.marker)+`)).visibility`)
			if want := map[bool]string{true: "hidden", false: "visible"}[tc.gated]; vis != want {
				t.Errorf("before sign-in the page's %s is %s, want %s", tc.marker, vis, want)
			}
			if reqs, _ := e.Tokens.snapshot(); len(reqs) == 0 {
				t.Error("the frame never asked for a token")
			}

			claimsBefore := e.Tokens.count(server.Prefix + "claim")
			popup := clickPrompt(t, tab, f)
			popup.WaitFor(`document.querySelector('input[name="login"]')`)
			q := e.Tokens.query(server.Prefix + "login")
			channel := q.Get("channel")
			if q.Get("popup") != "1" || len(channel) < 16 || len(q.Get("challenge")) != 43 {
				t.Fatalf("the popup opened login with %v, want popup=1, a channel and an S256 challenge", q)
			}
			if hasOpener := browsertest.Eval[bool](popup, `!!window.opener`); hasOpener != tc.gated {
				t.Errorf("popup has opener = %v, want %v", hasOpener, tc.gated)
			}

			// Forged "signed in" notes: from the portal (another origin) and
			// from the frame itself (not the popup window). Neither ends the
			// prompt, and no sign-in can be claimed: none happened.
			msg := fmt.Sprintf(`{type: "tokenhook:signed-in", channel: %s}`, escapeJS(channel))
			browsertest.Eval[bool](tab, `document.getElementById("f").contentWindow.postMessage(`+msg+`, "*"), true`)
			frameEval[bool](f, `window.postMessage(`+msg+`, location.origin), true`)
			time.Sleep(300 * time.Millisecond)
			if frameEval[bool](f, `!`+promptJS) {
				t.Fatal("a forged message ended the prompt")
			}
			if n := len(e.Backend.at(tc.post)); n != 0 {
				t.Fatalf("%d requests reached %s before sign-in", n, tc.post)
			}

			e.loginInPopup(popup)
			if !tc.gated { // no opener: the viewer compares the codes and confirms
				shown := frameEval[string](f, promptJS+`.shadowRoot.querySelector(".k").textContent`)
				waitAcrossLoads(t, popup, `/^Signed in/.test(document.title)`)
				if got := browsertest.Eval[string](popup, `document.getElementById("short").textContent`); got != shown || len(shown) != 9 {
					t.Fatalf("the sign-in window shows %q, the frame %q: want the same code", got, shown)
				}
				if _, err := chromedp.RunResponse(popup.Context(), chromedp.Click(chromedp.CSS(`button[value=yes]`))); err != nil {
					t.Fatalf("confirm: %v", err)
				}
			}
			f.waitFor(`!` + promptJS)
			if e.Tokens.count(server.Prefix+"claim") == claimsBefore {
				t.Error("the frame never claimed the sign-in")
			}
			f.waitFor(`getComputedStyle(document.querySelector(` + escapeJS(tc.marker) + `)).visibility === "visible"`)
			frameEval[bool](f, tc.click+`, true`)
			deadline := time.Now().Add(10 * time.Second)
			for len(e.Backend.at(tc.post)) == 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			hits := e.Backend.at(tc.post)
			if len(hits) != 1 {
				t.Fatalf("%d requests reached %s, want 1", len(hits), tc.post)
			}
			e.checkToken(hits[0].Auth)
			if hits[0].Body != tc.body {
				t.Errorf("body %q, want %q", hits[0].Body, tc.body)
			}
			if tc.wantPopupGone {
				for popupOpen(t, tab, e) && time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
				}
				if popupOpen(t, tab, e) {
					t.Error("the popup did not close itself")
				}
			}
		})
	}
}

// revocable is a save API that refuses the tokens revoked on it with 401
// invalid_token, as a backend does once the session behind them ended, and
// echoes the body of any other request.
type revocable struct{ revoked sync.Map }

// revoke makes the API refuse the Authorization value auth from now on.
func (rv *revocable) revoke(auth string) { rv.revoked.Store(auth, true) }

func (rv *revocable) respond(w http.ResponseWriter, r *http.Request, h hit) {
	if _, bad := rv.revoked.Load(h.Auth); bad {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "body": h.Body})
}

// TestGateReauth: a gated, framed dashboard is hidden until the viewer signs
// in. When the session later ends (here: POST /_tokenhook/logout, the server
// forgets the session and its refresh token) and the backend refuses the old
// token, the re-auth prompt appears; the POSTs made meanwhile are held, not
// failed, and after the second popup sign-in they reach the backend with a
// fresh token and their bodies intact.
func TestGateReauth(t *testing.T) {
	e := newEnv(t, envOptions{})
	var save revocable
	e.Mux.Handle("/api/save", api(e.Backend, "", save.respond))
	e.page("/gate", "data-gate", `<p id="marker">dashboard</p>`)
	tab := browser.Tab(t)
	tab.Navigate(portal(t, e.Origin+"/gate"))
	f := attachFrame(t, tab, e.Origin+"/gate")

	if p := f.readPrompt(); p.Heading != "Sign in to continue" || !p.Visible {
		t.Fatalf("gate screen = %+v", p)
	}
	if vis := frameEval[string](f, `getComputedStyle(document.getElementById("marker")).visibility`); vis != "hidden" {
		t.Fatalf("before sign-in the gated content is %s, want hidden", vis)
	}
	// The gate screen covers the frame.
	if cover := frameEval[bool](f, `(function () { var r = `+promptJS+`.getBoundingClientRect(); return r.width >= innerWidth && r.height >= innerHeight; })()`); !cover {
		t.Error("the gate screen does not cover the page")
	}
	e.loginInPopup(clickPrompt(t, tab, f))
	f.waitFor(`!` + promptJS + ` && getComputedStyle(document.getElementById("marker")).visibility === "visible"`)

	// Signed in: a POST carries the token.
	if got := frameEval[string](f, `fetch("/api/save", {method: "POST", body: "first"}).then(function (r) { return r.text(); })`); !strings.Contains(got, `"first"`) {
		t.Fatalf("first save answered %s", got)
	}
	first := e.Backend.at("/api/save")
	old := e.checkToken(first[0].Auth)

	// The session ends on the server; the backend refuses the old token.
	if st := frameEval[int](f, `fetch("/_tokenhook/logout", {method: "POST", headers: {"X-TokenHook": "1"}}).then(function (r) { return r.status; })`); st != http.StatusOK {
		t.Fatalf("logout answered %d", st)
	}
	save.revoke("Bearer " + old)

	// Three saves while signed out (fetch, fetch with JSON, XHR): all held.
	frameEval[bool](f, `window.saves = [
		fetch("/api/save", {method: "POST", body: "second"}).then(function (r) { return r.status; }),
		fetch("/api/save", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({n: 3})}).then(function (r) { return r.status; }),
		xhr("POST", "/api/save", "via-xhr").then(function (r) { return r.status; })
	], window.settled = 0, window.saves.forEach(function (p) { p.then(function () { window.settled++; }); }), true`)
	p := f.readPrompt()
	if !p.Visible || p.Heading != "Sign in to continue" {
		t.Fatalf("re-auth prompt = %+v", p)
	}
	time.Sleep(300 * time.Millisecond)
	if n := frameEval[int](f, `window.settled`); n != 0 {
		t.Fatalf("%d saves settled while signed out, want them held", n)
	}
	for _, h := range e.Backend.at("/api/save")[1:] {
		if h.Auth != "Bearer "+old {
			t.Errorf("while signed out a save went out with Authorization %q", h.Auth)
		}
	}
	if vis := frameEval[string](f, `getComputedStyle(document.getElementById("marker")).visibility`); vis != "visible" {
		t.Errorf("the page's state is %s under the re-auth prompt, want it kept (visible behind the prompt)", vis)
	}

	e.loginInPopup(clickPrompt(t, tab, f))
	statuses := frameEval[[]int](f, `Promise.all(window.saves)`)
	if len(statuses) != 3 || statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 200 {
		t.Fatalf("held saves answered %v, want 200 200 200", statuses)
	}
	bodies := map[string]string{}
	for _, h := range e.Backend.at("/api/save") {
		if h.Auth != "Bearer "+old {
			bodies[h.Body] = e.checkToken(h.Auth)
		}
	}
	for _, want := range []string{"second", `{"n":3}`, "via-xhr"} {
		tok, ok := bodies[want]
		if !ok {
			t.Errorf("the held save %s never reached the backend with a fresh token (got %v)", want, bodies)
		} else if tok == old {
			t.Errorf("the held save %s carried the old token", want)
		}
	}
	f.waitFor(`!` + promptJS)
}

// waitForAcrossLoads polls expr in the frame until it is truthy, riding over
// the frame's own reloads (an evaluation cut short by one is tried again).
func (f *frame) waitForAcrossLoads(expr string) {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(f.ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	f.t.Fatalf("wait in the frame for %s: last error %v", expr, last)
}

// TestEmbeddedSignInPage: behind tokenhook's forwarding layer, a frame
// navigation without a session gets tokenhook's own "Sign in to continue"
// page (the script with data-reload and data-gate); after the popup sign-in
// the frame reloads itself and now loads the real dashboard through the
// proxy with its embed session, whose POSTs carry the token (with
// --browser-token none: the token tokenhook adds on the way).
func TestEmbeddedSignInPage(t *testing.T) {
	for _, mode := range []string{"bearer", "none"} {
		t.Run("browser-token="+mode, func(t *testing.T) { testEmbeddedSignInPage(t, mode) })
	}
}

func testEmbeddedSignInPage(t *testing.T, mode string) {
	e := newEnv(t, envOptions{Upstream: true, BrowserToken: mode})
	e.page("/dash", "", `<p id="marker">the real dashboard</p>`)
	tab := browser.Tab(t)
	tab.Navigate(portal(t, e.Origin+"/dash"))
	f := attachFrame(t, tab, e.Origin+"/dash")

	p := f.readPrompt()
	if !p.Visible || p.Heading != "Sign in to continue" {
		t.Fatalf("prompt on tokenhook's framed sign-in page = %+v", p)
	}
	if frameEval[bool](f, `!!document.getElementById("marker")`) {
		t.Fatal("the dashboard was served to a frame without a session")
	}
	e.loginInPopup(clickPrompt(t, tab, f))
	f.waitForAcrossLoads(`document.getElementById("marker") && window.TokenHook`)
	if got := frameEval[string](f, `fetch("/api/embedded", {method: "POST", body: "from-frame"}).then(function (r) { return r.text(); })`); !strings.Contains(got, "from-frame") {
		t.Fatalf("POST through the proxy answered %s", got)
	}
	hits := e.Backend.at("/api/embedded")
	if len(hits) != 1 {
		t.Fatalf("%d POSTs reached the upstream, want 1", len(hits))
	}
	e.checkToken(hits[0].Auth)
}

// TestGateTopLevel: a gated top-level page without a session goes to the
// login route (plain redirect; hidden meanwhile) and is shown once back with
// a token. When its session later ends, it does not navigate away (its state
// would be lost): the re-auth prompt opens the popup, and the POST made
// meanwhile is delivered after the sign-in with its body.
func TestGateTopLevel(t *testing.T) {
	e := newEnv(t, envOptions{})
	var save revocable
	e.Mux.Handle("/api/save", api(e.Backend, "", save.respond))
	e.page("/top", "data-gate", `<p id="marker">dashboard</p>`)
	tab := e.signedInTab(t, "/top") // the login route brings the viewer back
	tab.WaitFor(`getComputedStyle(document.getElementById("marker")).visibility === "visible"`)
	tok := browsertest.Eval[string](tab, `TokenHook.getToken()`)
	e.checkToken("Bearer " + tok)

	// Straight to the page with no session: it is hidden and navigates to the provider.
	fresh := browser.Tab(t)
	fresh.Navigate(e.Origin + "/top")
	waitAcrossLoads(t, fresh, `location.href.indexOf(`+escapeJS(e.Issuer)+`) === 0`)

	if st := browsertest.Eval[int](tab, `fetch("/_tokenhook/logout", {method: "POST", headers: {"X-TokenHook": "1"}}).then(function (r) { return r.status; })`); st != http.StatusOK {
		t.Fatalf("logout answered %d", st)
	}
	save.revoke("Bearer " + tok)
	browsertest.Eval[bool](tab, `window.saved = fetch("/api/save", {method: "POST", body: "kept"}).then(function (r) { return r.status; }), true`)
	tab.WaitFor(promptJS + ` && ` + promptJS + `.shadowRoot.querySelector("button")`)
	if loc := browsertest.Eval[string](tab, `location.pathname`); loc != "/top" {
		t.Fatalf("the gated page navigated to %s", loc)
	}
	at := browsertest.Eval[[]float64](tab, `(function () {
		var r = `+promptJS+`.shadowRoot.querySelector("button").getBoundingClientRect();
		return [r.left + r.width / 2, r.top + r.height / 2];
	})()`)
	popup := tab.Popup(func() { tab.Do(chromedp.MouseClickXY(at[0], at[1])) })
	e.loginInPopup(popup)
	if st := browsertest.Eval[int](tab, `window.saved`); st != http.StatusOK {
		t.Fatalf("the held save answered %d", st)
	}
	var kept []hit
	for _, h := range e.Backend.at("/api/save") {
		if h.Body == "kept" && h.Auth != "Bearer "+tok {
			kept = append(kept, h)
		}
	}
	if len(kept) != 1 {
		t.Fatalf("%d saves with a fresh token, want 1", len(kept))
	}
	if e.checkToken(kept[0].Auth) == tok {
		t.Error("the held save carried the refused token")
	}
}

// waitAcrossLoads polls expr in the tab until it is truthy, riding over the
// navigations it makes meanwhile.
func waitAcrossLoads(t *testing.T, tab *browsertest.Tab, expr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if ok, err := browsertest.EvalErr[bool](tab, "!!("+expr+")"); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("wait for %s: the tab is at %s", expr, browsertest.Eval[string](tab, `location.href`))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
