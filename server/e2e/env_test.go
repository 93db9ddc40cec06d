package e2e_test

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tokenhook/tokenhook/internal/browsertest"
	"github.com/tokenhook/tokenhook/internal/idp/idptest"
	"github.com/tokenhook/tokenhook/internal/stacktest"
	"github.com/tokenhook/tokenhook/server"
)

const (
	clientID = "dashboard"
	// corsHeaders are the request headers the test APIs allow cross-origin,
	// Authorization among them: a token the browser hook wrongly added to a
	// cross-origin request would reach the server and be seen.
	corsHeaders = "Authorization, Content-Type, X-Test, X-Own, X-Init"
)

// hit is one request a test API received.
type hit struct {
	Method, Host, Path, Auth, Body, Origin string
	Header                                 http.Header
}

// recorder keeps the requests an API received.
type recorder struct {
	mu   sync.Mutex
	hits []hit
}

func (r *recorder) add(h hit) {
	r.mu.Lock()
	r.hits = append(r.hits, h)
	r.mu.Unlock()
}

// at returns the requests received for path (any host), in arrival order.
func (r *recorder) at(path string) []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []hit
	for _, h := range r.hits {
		if h.Path == path {
			out = append(out, h)
		}
	}
	return out
}

// tokenRequest is one request to /_tokenhook/token.
type tokenRequest struct {
	Stale string // X-TokenHook-Stale
	Seq   int    // position among all requests the page's server received
}

// tokenLog counts the requests that reached tokenhook's token endpoint.
type tokenLog struct {
	mu       sync.Mutex
	seq      int
	reqs     []tokenRequest
	inflight int
	paths    map[string]int    // requests per path, for any path
	queries  map[string]string // the last query string per path
}

// query returns the query of the last request for path.
func (l *tokenLog) query(path string) url.Values {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, _ := url.ParseQuery(l.queries[path])
	return v
}

// count returns how many requests for path the server received.
func (l *tokenLog) count(path string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.paths[path]
}

func (l *tokenLog) snapshot() (reqs []tokenRequest, inflight int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]tokenRequest(nil), l.reqs...), l.inflight
}

// wrap counts token requests on their way to h and numbers every request.
func (l *tokenLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.seq++
		if l.paths == nil {
			l.paths, l.queries = map[string]int{}, map[string]string{}
		}
		l.paths[r.URL.Path]++
		l.queries[r.URL.Path] = r.URL.RawQuery
		isToken := r.URL.Path == server.Prefix+"token"
		if isToken {
			l.reqs = append(l.reqs, tokenRequest{Stale: r.Header.Get("X-TokenHook-Stale"), Seq: l.seq})
			l.inflight++
		}
		l.mu.Unlock()
		if isToken {
			defer func() {
				l.mu.Lock()
				l.inflight--
				l.mu.Unlock()
			}()
		}
		h.ServeHTTP(w, r)
	})
}

// api records each request in rec and answers it with respond, or with
// {"ok":true,"body":…} when respond is nil. Requests from allowOrigin get CORS
// headers that let them carry Authorization; preflights are answered, not
// recorded.
func api(rec *recorder, allowOrigin string, respond func(http.ResponseWriter, *http.Request, hit)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && o == allowOrigin {
			w.Header().Set("Access-Control-Allow-Origin", o)
			w.Header().Set("Access-Control-Allow-Headers", corsHeaders)
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
			w.Header().Add("Vary", "Origin")
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		h := hit{
			Method: r.Method, Host: r.Host, Path: r.URL.Path, Auth: r.Header.Get("Authorization"),
			Body: string(body), Origin: r.Header.Get("Origin"), Header: r.Header.Clone(),
		}
		rec.add(h)
		if respond != nil {
			respond(w, r, h)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "body": h.Body})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// envOptions tunes an env.
type envOptions struct {
	// TokenTTL is the lifetime of Dex's access tokens (default one hour).
	TokenTTL time.Duration
	// Upstream puts the test backend (Mux) behind tokenhook's forwarding
	// layer (--upstream) on a port of its own, instead of beside tokenhook.
	Upstream bool
	// BrowserToken is --browser-token (default bearer).
	BrowserToken string
}

// env is one complete setup: Dex, a tokenhook server and the test's backend on
// one origin, and a second server on another origin.
type env struct {
	t testing.TB
	// Origin is the page origin and tokenhook's public URL
	// (http://127.0.0.1:P); Alt is the same server as http://localhost:P,
	// which is another origin and another site.
	Origin, Alt string
	// Other is another server (http://127.0.0.1:Q), OtherAlt the same as
	// http://localhost:Q.
	Other, OtherAlt string
	Issuer          string
	email, password string

	// Mux is the test backend: everything outside /_tokenhook/. /api/ records
	// into Backend; tests add their own pages and handlers.
	Mux      *http.ServeMux
	Backend  *recorder
	OtherRec *recorder
	Tokens   *tokenLog
	// Grants counts refresh_token grants at Dex's token endpoint.
	Grants atomic.Int32

	stack    *stacktest.Stack
	verifier *oidc.IDTokenVerifier
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	e := &env{t: t, Mux: http.NewServeMux(), Backend: &recorder{}, OtherRec: &recorder{}, Tokens: &tokenLog{}}
	upstream := ""
	if o.Upstream {
		up := httptest.NewServer(e.Mux)
		t.Cleanup(up.Close)
		upstream = up.URL
	}
	s := stacktest.New(t, stacktest.Options{
		ClientID: clientID, TokenTTL: o.TokenTTL, ProviderWrap: e.countGrants, BrowserToken: o.BrowserToken,
		// The replay tests force a refresh per case in one session; the
		// server-side cap of forced refreshes has its own test.
		ForcedRefreshInterval: time.Nanosecond,
		// One origin: /_tokenhook/ is tokenhook, the rest is the test's
		// backend (behind tokenhook's forwarding with Upstream).
		Handler: func(tokenhook http.Handler) http.Handler {
			if o.Upstream {
				return e.Tokens.wrap(tokenhook)
			}
			top := http.NewServeMux()
			top.Handle(server.Prefix, tokenhook)
			top.Handle("/", e.Mux)
			return e.Tokens.wrap(top)
		},
	})
	e.stack, e.Origin, e.Alt = s, s.URL, strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
	e.Issuer, e.email, e.password = s.Issuer, s.Email, s.Password
	// Expiry is not what these tests check: short-lived tokens may be
	// verified after they ran out.
	e.verifier = s.Verifier(&oidc.Config{ClientID: clientID, SkipExpiryCheck: true})

	e.Mux.Handle("/api/", api(e.Backend, e.Origin, nil))
	// No favicon: a 404 would show up as a console error.
	e.Mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	s.Serve(upstream)

	// Another origin with an API that lets the page's origin send Authorization.
	otherMux := http.NewServeMux()
	otherMux.Handle("/api/", api(e.OtherRec, e.Origin, nil))
	other := httptest.NewServer(otherMux)
	t.Cleanup(other.Close)
	e.Other = other.URL
	e.OtherAlt = strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	return e
}

// countGrants counts the refresh_token grants Dex receives.
func (e *env) countGrants(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
			r.Body = io.NopCloser(bytes.NewReader(body))
			if form, err := url.ParseQuery(string(body)); err == nil && form.Get("grant_type") == "refresh_token" {
				e.Grants.Add(1)
			}
		}
		h.ServeHTTP(w, r)
	})
}

// page serves an HTML page at path that loads the browser hook with the given
// script-tag attributes, followed by body.
func (e *env) page(path, attrs, body string) { e.pageWith(path, "", attrs, body) }

// pageWith is page with a script run before the hook loads (for
// window.TokenHookConfig).
func (e *env) pageWith(path, before, attrs, body string) {
	doc := `<!doctype html><html><head><meta charset="utf-8"><title>test page</title>
<script>` + before + `</script>
<script src="/_tokenhook/tokenhook.js" ` + attrs + `></script>
<script>` + pageHelpers + `</script></head><body>` + body + `</body></html>`
	e.Mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, doc)
	})
}

// pageHelpers are small functions the tests call in the page.
const pageHelpers = `
function xhr(method, url, body, headers) {
  return new Promise(function (resolve, reject) {
    var x = new XMLHttpRequest();
    x.open(method, url);
    for (var k in headers || {}) x.setRequestHeader(k, headers[k]);
    x.onload = function () { resolve({status: x.status, text: x.responseText}); };
    x.onerror = function () { reject(new Error("xhr failed: " + method + " " + url)); };
    x.send(body === undefined ? null : body);
  });
}
function res(p) {
  return Promise.resolve(p).then(function (r) {
    if (r instanceof Response) return r.text().then(function (t) { return {status: r.status, text: t, type: r.type}; });
    return r;
  });
}`

// signIn signs the viewer in through tokenhook's login route and Dex's real
// login form, and ends on rd.
func (e *env) signIn(tab *browsertest.Tab, rd string) {
	e.t.Helper()
	e.stack.SignInTab(tab, rd)
}

// signedInTab opens a tab of the shared browser for t and signs the viewer
// in there (signIn), ending on rd.
func (e *env) signedInTab(t testing.TB, rd string) *browsertest.Tab {
	t.Helper()
	tab := browser.Tab(t)
	e.signIn(tab, rd)
	return tab
}

// checkToken fails the test unless auth is "Bearer <access token>" signed by
// Dex for our client and the signed-in viewer. It returns the token.
func (e *env) checkToken(auth string) string {
	e.t.Helper()
	return idptest.CheckBearer(e.t, e.verifier, auth, e.email, nil)
}

// escapeJS renders s as a JavaScript string literal.
func escapeJS(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// attr renders a data attribute for the script tag.
func attr(name, value string) string {
	return name + `="` + html.EscapeString(value) + `"`
}
