package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tokenhook/tokenhook/internal/browsertest"
	"github.com/tokenhook/tokenhook/server"
)

// TestBrowserTokenNone: with --browser-token none (backend-for-frontend) no
// script in the page can read a token: the token endpoint, getToken() and
// the token event give none. The page's same-origin fetch and XHR POSTs
// reach the app with the session's access token, which tokenhook adds on
// the way; requests the script did not mark (an <img>, a same-origin form
// POST, a cross-site form POST, a plain GET) reach it with none, or not at
// all.
func TestBrowserTokenNone(t *testing.T) {
	e := newEnv(t, envOptions{Upstream: true, BrowserToken: "none"})
	e.page("/dash", "", `<p id="marker">dashboard</p>`)
	tab := e.signedInTab(t, "/dash")

	runHookCases(t, e, tab, e.Backend, []hookCase{
		{name: "fetch POST", js: post("/api/fetch", "f", ""), path: "/api/fetch", body: "f", auth: "token"},
		{name: "XHR POST", js: `xhr("POST", "/api/xhr", "x")`, path: "/api/xhr", body: "x", auth: "token"},
		{name: "fetch GET: not marked", js: `fetch("/api/get")`, path: "/api/get", auth: ""},
	})
	// What the app received is the token the page must never see.
	tok := e.checkToken(e.Backend.at("/api/fetch")[0].Auth)

	got := browsertest.Eval[map[string]any](tab, `(function () {
		var seen = [];
		TokenHook.on("token", function (t) { seen.push(t); });
		return Promise.all([
			TokenHook.getToken(),
			fetch("/_tokenhook/token", {headers: {"X-TokenHook": "1"}}).then(function (r) { return r.text(); }),
			fetch("/api/marked", {method: "POST", body: "m"}).then(function (r) { return r.status; }),
		]).then(function (v) {
			return new Promise(function (r) { setTimeout(r, 100); }).then(function () {
				return {token: v[0], endpoint: v[1], status: v[2], events: JSON.stringify(seen)};
			});
		});
	})()`)
	if got["token"] != nil {
		t.Errorf("getToken() = %v, want null", got["token"])
	}
	endpoint, _ := got["endpoint"].(string)
	if strings.Contains(endpoint, tok) || strings.Contains(endpoint, "access_token") || !strings.Contains(endpoint, `"token_type":"none"`) {
		t.Errorf("the token endpoint answered the page %s, want the session state without a token", endpoint)
	}
	if ev, _ := got["events"].(string); strings.Contains(ev, tok) {
		t.Errorf("a token event carried the token: %s", ev)
	}

	// Requests the script did not mark: an <img> and a form POST from the
	// page itself.
	browsertest.Eval[bool](tab, `(function () {
		var img = new Image(); img.src = "/api/img";
		var f = document.createElement("form");
		f.method = "POST"; f.action = "/api/form-same"; f.target = "sink";
		var i = document.createElement("input"); i.name = "a"; i.value = "1"; f.appendChild(i);
		var sink = document.createElement("iframe"); sink.name = "sink"; document.body.appendChild(sink);
		document.body.appendChild(f); f.submit();
		return true;
	})()`)

	// A cross-site page that posts a form and loads an image from the app.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><title>evil</title><img src="`+e.Origin+`/api/img-cross">
<form id="f" method="POST" action="`+e.Origin+`/api/form-cross"><input name="a" value="1"></form>
<script>document.getElementById("f").submit()</script>`)
	}))
	t.Cleanup(evil.Close)
	other := browser.Tab(t)
	other.Navigate(strings.Replace(evil.URL, "127.0.0.1", "localhost", 1) + "/")
	// Wait until tokenhook has seen each of these requests (the tests' log
	// counts every request that reached it), so the checks below are not
	// vacuous.
	seen := func() bool {
		for _, p := range []string{"/api/img", "/api/form-same", "/api/img-cross", "/api/form-cross"} {
			if e.Tokens.count(p) == 0 {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(10 * time.Second); !seen() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if !seen() {
		t.Fatal("not every unmarked request reached tokenhook")
	}

	for _, path := range []string{"/api/img", "/api/form-same", "/api/img-cross", "/api/form-cross"} {
		for _, h := range e.Backend.at(path) {
			if h.Auth != "" {
				t.Errorf("%s %s reached the app with Authorization %.20q…, want none", h.Method, path, h.Auth)
			}
		}
	}
	if len(e.Backend.at("/api/img")) != 1 {
		t.Error("the page's own <img> did not reach the app (it should, with the session and no token)")
	}
}

// TestBrowserTokenNoneForged: requests that carry the session cookie and
// X-TokenHook: 1 but come from another origin or site by their Origin or
// Sec-Fetch-Site headers (a non-browser client forging them, or a browser
// that sends them) get no token: refused, never forwarded with one.
func TestBrowserTokenNoneForged(t *testing.T) {
	e := newEnv(t, envOptions{Upstream: true, BrowserToken: "none"})
	e.page("/dash", "", `<p>dashboard</p>`)
	tab := e.signedInTab(t, "/dash")
	// The session cookie is HttpOnly: read it over CDP.
	jar, err := chromedp.Call(tab.Context(), network.GetCookies, network.GetCookiesParams{URLs: []string{e.Origin}})
	if err != nil {
		t.Fatalf("read the session cookie: %v", err)
	}
	tests := []struct {
		name    string
		headers map[string]string
		want    bool // forwarded with the session's token
	}{
		{"same origin", map[string]string{"Origin": e.Origin, "Sec-Fetch-Site": "same-origin"}, true},
		{"no fetch metadata (older browser)", nil, true},
		{"other origin", map[string]string{"Origin": e.Other}, false},
		{"other site", map[string]string{"Origin": e.Alt, "Sec-Fetch-Site": "cross-site"}, false},
		{"same site, other origin", map[string]string{"Sec-Fetch-Site": "same-site"}, false},
		{"without X-TokenHook", map[string]string{"X-TokenHook": ""}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := "/api/forged-" + strings.ReplaceAll(tc.name, " ", "-")
			req, _ := http.NewRequest(http.MethodPost, e.Origin+path, strings.NewReader("b"))
			req.Header.Set("X-TokenHook", "1")
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			for _, c := range jar.Cookies {
				req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
			}
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			hits := e.Backend.at(path)
			if tc.want {
				if len(hits) != 1 {
					t.Fatalf("status %d, %d requests reached the app, want 1", resp.StatusCode, len(hits))
				}
				e.checkToken(hits[0].Auth)
				return
			}
			if len(hits) != 0 || resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d and %d requests reached the app, want 401 and none", resp.StatusCode, len(hits))
			}
		})
	}
	if n := e.Tokens.count(server.Prefix + "token"); n == 0 {
		t.Error("the page never asked the token endpoint for the session state")
	}
}

// TestBrowserTokenNoneRefused: with --browser-token none, when the app
// refuses the session's token that tokenhook attached (401 invalid_token),
// the script's report makes tokenhook refresh it once (one grant at Dex):
// the refused request goes back to the page (it held no token to replay
// with), and the next one reaches the app with the fresh token. (The cap on
// forced refreshes, off in these tests, applies as in bearer mode.)
func TestBrowserTokenNoneRefused(t *testing.T) {
	e, refused, tab := pickyApp(t, "none")
	call := func(i int) int {
		return browsertest.Eval[result](tab, fmt.Sprintf(`res(fetch("/api/picky/%d", {method: "POST", body: "%d"}))`, i, i)).Status
	}
	if s := call(0); s != http.StatusOK {
		t.Fatalf("first call: status %d", s)
	}
	first := e.Backend.at("/api/picky/0")[0].Auth
	e.checkToken(first)
	refused.Store(first, true) // as if the provider revoked it

	grants := e.Grants.Load()
	if s := call(1); s != http.StatusUnauthorized {
		t.Errorf("the refused call: status %d, want the app's 401", s)
	}
	if n := e.Grants.Load() - grants; n != 1 {
		t.Errorf("%d refresh grants after the app refused the session's token, want 1", n)
	}
	if s := call(2); s != http.StatusOK {
		t.Errorf("the next call: status %d, want 200 with the refreshed token", s)
	}
	if next := e.Backend.at("/api/picky/2"); len(next) != 1 || next[0].Auth == first {
		t.Error("the next call did not carry a fresh token")
	} else {
		e.checkToken(next[0].Auth)
	}
}

// pickyApp is a signed-in page of an env with browserToken whose app at
// /api/picky/ refuses the Authorization values stored in refused (401
// invalid_token, as when the provider revoked a token).
func pickyApp(t *testing.T, browserToken string) (*env, *sync.Map, *browsertest.Tab) {
	e := newEnv(t, envOptions{Upstream: true, BrowserToken: browserToken})
	refused := &sync.Map{}
	e.Mux.Handle("POST /api/picky/", api(e.Backend, "", func(w http.ResponseWriter, r *http.Request, h hit) {
		if _, no := refused.Load(h.Auth); no {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	}))
	e.page("/dash", "", ``)
	tab := e.signedInTab(t, "/dash")
	return e, refused, tab
}
