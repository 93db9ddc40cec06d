package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tokenhook/tokenhook/internal/browsertest"
)

// result is what a request made in the page resolved to.
type result struct {
	Status int    `json:"status"`
	Text   string `json:"text"`
	Type   string `json:"type"`
}

// hookCase is one request the page makes and what the backend must receive.
type hookCase struct {
	name string
	// js is an expression (a promise) the page runs; it requests path.
	js   string
	path string
	body string // the body the backend must receive
	// auth: "" = no Authorization header, "token" = the viewer's token,
	// anything else = exactly that value.
	auth string
	// headers are other headers the backend must receive.
	headers map[string]string
}

// runHookCases runs each case in tab and checks what rec received for it.
func runHookCases(t *testing.T, e *env, tab *browsertest.Tab, rec *recorder, cases []hookCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := browsertest.EvalErr[result](tab, `res(`+tc.js+`)`)
			if err != nil {
				t.Fatalf("the page's request failed: %v", err)
			}
			if got.Status != 200 && got.Type != "opaque" {
				t.Errorf("the page saw status %d (%s), want 200", got.Status, got.Text)
			}
			hits := rec.at(tc.path)
			if len(hits) != 1 {
				t.Fatalf("backend received %d requests at %s, want 1", len(hits), tc.path)
			}
			h := hits[0]
			if h.Body != tc.body {
				t.Errorf("body = %q, want %q", h.Body, tc.body)
			}
			switch tc.auth {
			case "":
				if h.Auth != "" {
					t.Errorf("Authorization = %.30q…, want none", h.Auth)
				}
			case "token":
				if h.Auth == "" {
					t.Fatalf("no Authorization header on %s %s", h.Method, tc.path)
				}
				e.checkToken(h.Auth)
			default:
				if h.Auth != tc.auth {
					t.Errorf("Authorization = %q, want %q", h.Auth, tc.auth)
				}
			}
			for k, v := range tc.headers {
				if got := h.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// post is a fetch POST of body to path with an optional extra init fragment.
func post(path, body, init string) string {
	return fmt.Sprintf(`fetch(%s, {method: "POST", body: %s%s})`, escapeJS(path), escapeJS(body), init)
}

// TestSameOriginRequests covers the request forms a dashboard uses: fetch
// with string, URL and Request inputs, every header form, XHR, and the
// defaults (POST only, never no-cors, never over the app's own header). The
// sign-in goes through the real Dex login page in the browser.
func TestSameOriginRequests(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.page("/dash", "", `<p>dashboard</p>`)
	tab := e.signedInTab(t, "/dash")

	token := browsertest.Eval[string](tab, `TokenHook.getToken()`)
	if token == "" {
		t.Fatal("TokenHook.getToken() returned no token after sign-in")
	}

	tokensBefore, _ := e.Tokens.snapshot()
	runHookCases(t, e, tab, e.Backend, []hookCase{
		{name: "fetch string POST", js: post("/api/string", "b-string", ""), path: "/api/string", body: "b-string", auth: "Bearer " + token},
		{name: "fetch URL POST", js: `fetch(new URL("/api/url", location.href), {method: "POST", body: "b-url"})`, path: "/api/url", body: "b-url", auth: "token"},
		{name: "fetch Request POST", js: `fetch(new Request("/api/request", {method: "POST", body: "b-req"}))`, path: "/api/request", body: "b-req", auth: "token"},
		{name: "lower-case method", js: `fetch("/api/lower", {method: "post", body: "b-lower"})`, path: "/api/lower", body: "b-lower", auth: "token"},
		{name: "Headers object", js: post("/api/headers-obj", "b1", `, headers: new Headers({"X-Test": "obj"})`), path: "/api/headers-obj", body: "b1", auth: "token", headers: map[string]string{"X-Test": "obj"}},
		{name: "header array", js: post("/api/headers-arr", "b2", `, headers: [["X-Test", "arr"]]`), path: "/api/headers-arr", body: "b2", auth: "token", headers: map[string]string{"X-Test": "arr"}},
		{name: "header record", js: post("/api/headers-rec", "b3", `, headers: {"X-Test": "rec", "Content-Type": "application/json"}`), path: "/api/headers-rec", body: "b3", auth: "token", headers: map[string]string{"X-Test": "rec", "Content-Type": "application/json"}},
		{
			name: "Request headers survive init.headers",
			js:   `fetch(new Request("/api/req-headers", {method: "POST", body: "b4", headers: {"X-Own": "own"}}), {headers: {"X-Init": "init"}})`,
			path: "/api/req-headers", body: "b4", auth: "token", headers: map[string]string{"X-Own": "own", "X-Init": "init"},
		},
		{name: "XHR POST", js: `xhr("POST", "/api/xhr", "b-xhr", {"X-Test": "x"})`, path: "/api/xhr", body: "b-xhr", auth: "token", headers: map[string]string{"X-Test": "x"}},
		{name: "XHR POST absolute URL", js: `xhr("POST", location.origin + "/api/xhr-abs", "b-xhr2")`, path: "/api/xhr-abs", body: "b-xhr2", auth: "token"},
		{name: "app's own Authorization kept", js: post("/api/own", "b5", `, headers: {"Authorization": "Bearer app-token"}`), path: "/api/own", body: "b5", auth: "Bearer app-token"},
		{name: "fetch GET", js: `fetch("/api/get")`, path: "/api/get", auth: ""},
		{name: "XHR GET", js: `xhr("GET", "/api/xhr-get")`, path: "/api/xhr-get", auth: ""},
		{name: "fetch PUT not in default methods", js: `fetch("/api/put", {method: "PUT", body: "b6"})`, path: "/api/put", body: "b6", auth: ""},
		{name: "no-cors POST", js: post("/api/no-cors", "b7", `, mode: "no-cors"`), path: "/api/no-cors", body: "b7", auth: ""},
	})
	// The cached token serves every request: no extra network request.
	if tokensAfter, _ := e.Tokens.snapshot(); len(tokensAfter) != len(tokensBefore) {
		t.Errorf("%d token requests while the token was valid, want 0", len(tokensAfter)-len(tokensBefore))
	}
	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("browser errors: %q", errs)
	}
}

// TestAllMethods: data-methods="*" decorates every method.
func TestAllMethods(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.page("/all", attr("data-methods", "*"), ``)
	tab := e.signedInTab(t, "/all")
	runHookCases(t, e, tab, e.Backend, []hookCase{
		{name: "fetch GET", js: `fetch("/api/get")`, path: "/api/get", auth: "token"},
		{name: "fetch PUT", js: `fetch("/api/put", {method: "PUT", body: "p"})`, path: "/api/put", body: "p", auth: "token"},
		{name: "fetch DELETE", js: `fetch("/api/delete", {method: "DELETE"})`, path: "/api/delete", auth: "token"},
		{name: "XHR GET", js: `xhr("GET", "/api/xhr-get")`, path: "/api/xhr-get", auth: "token"},
		{name: "fetch POST", js: post("/api/post", "b", ""), path: "/api/post", body: "b", auth: "token"},
		{name: "no-cors GET still bare", js: `fetch("/api/no-cors", {mode: "no-cors"})`, path: "/api/no-cors", auth: ""},
	})
}

// TestOtherOrigins: the token never goes to another origin (another port, or
// localhost instead of 127.0.0.1) unless that exact origin is listed in
// data-origins. The other servers allow Authorization through CORS, so a
// wrongly added header would arrive and be seen.
func TestOtherOrigins(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.page("/plain", "", ``)
	e.page("/allowed", attr("data-origins", e.Other), ``)
	tab := e.signedInTab(t, "/plain")

	t.Run("default", func(t *testing.T) {
		runHookCases(t, e, tab, e.OtherRec, []hookCase{
			{name: "other port fetch", js: post(e.Other+"/api/p1", "o1", ""), path: "/api/p1", body: "o1", auth: ""},
			{name: "other port XHR", js: `xhr("POST", ` + escapeJS(e.Other+"/api/p2") + `, "o2")`, path: "/api/p2", body: "o2", auth: ""},
		})
		runHookCases(t, e, tab, e.Backend, []hookCase{
			{name: "localhost same port fetch", js: post(e.Alt+"/api/p3", "o3", ""), path: "/api/p3", body: "o3", auth: ""},
			{name: "localhost same port XHR", js: `xhr("POST", ` + escapeJS(e.Alt+"/api/p4") + `, "o4")`, path: "/api/p4", body: "o4", auth: ""},
		})
	})

	tab.Navigate(e.Origin + "/allowed")
	t.Run("data-origins", func(t *testing.T) {
		runHookCases(t, e, tab, e.OtherRec, []hookCase{
			{name: "listed origin fetch", js: post(e.Other+"/api/a1", "a1", ""), path: "/api/a1", body: "a1", auth: "token"},
			{name: "listed origin XHR", js: `xhr("POST", ` + escapeJS(e.Other+"/api/a2") + `, "a2")`, path: "/api/a2", body: "a2", auth: "token"},
			{name: "listed origin as a Request", js: `fetch(new Request(` + escapeJS(e.Other+"/api/a3") + `, {method: "POST", body: "a3"}))`, path: "/api/a3", body: "a3", auth: "token"},
			{name: "same port under localhost is not listed", js: post(e.OtherAlt+"/api/a4", "a4", ""), path: "/api/a4", body: "a4", auth: ""},
			{name: "listed origin no-cors", js: post(e.Other+"/api/a5", "a5", `, mode: "no-cors"`), path: "/api/a5", body: "a5", auth: ""},
		})
		runHookCases(t, e, tab, e.Backend, []hookCase{
			{name: "own origin still decorated", js: post("/api/a6", "a6", ""), path: "/api/a6", body: "a6", auth: "token"},
			{name: "localhost same port still not", js: post(e.Alt+"/api/a7", "a7", ""), path: "/api/a7", body: "a7", auth: ""},
		})
	})
	for _, h := range e.Backend.at("/api/p3") {
		if !strings.HasPrefix(h.Host, "localhost:") {
			t.Errorf("the localhost request arrived for host %s", h.Host)
		}
	}
}

// TestBaseElement: a page whose <base href> points at another origin (the
// app's own markup, or HTML injected without script) sends its relative
// requests there; the hook's idea of "the page's own origin" is
// location.origin, so neither those nor absolute requests to that origin
// carry the token, while the page's real origin still gets it. The other
// server lets the page send Authorization (CORS), so a wrongly added header
// would arrive and be seen.
func TestBaseElement(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.page("/dash", "", `<p>dashboard</p>`)
	doc := `<!doctype html><html><head><meta charset="utf-8"><title>base page</title>
<script src="` + e.Origin + `/_tokenhook/tokenhook.js"></script>
<base href="` + e.Other + `/">
<script>` + pageHelpers + `</script></head><body>based</body></html>`
	e.Mux.HandleFunc("GET /based", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, doc)
	})
	tab := e.signedInTab(t, "/dash")
	tab.Navigate(e.Origin + "/based")

	runHookCases(t, e, tab, e.OtherRec, []hookCase{
		{name: "relative fetch", js: post("api/b1", "b1", ""), path: "/api/b1", body: "b1", auth: ""},
		{name: "root-relative fetch", js: post("/api/b2", "b2", ""), path: "/api/b2", body: "b2", auth: ""},
		{name: "absolute fetch to the base origin", js: post(e.Other+"/api/b3", "b3", ""), path: "/api/b3", body: "b3", auth: ""},
		{name: "relative XHR", js: `xhr("POST", "api/b4", "b4")`, path: "/api/b4", body: "b4", auth: ""},
		{name: "relative Request", js: `fetch(new Request("api/b5", {method: "POST", body: "b5"}))`, path: "/api/b5", body: "b5", auth: ""},
	})
	runHookCases(t, e, tab, e.Backend, []hookCase{
		{name: "absolute fetch to the page's own origin", js: post(e.Origin+"/api/b6", "b6", ""), path: "/api/b6", body: "b6", auth: "token"},
	})
}
