package proxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/server/verify"
)

// cookieSessions is the test's session store: cookie th_session=ok is a
// signed-in viewer (subject "sess-user", or subject when set) whose session
// lives while ended is unset or false.
type cookieSessions struct {
	subject string
	ended   *atomic.Bool
}

var sessionFromCookie = cookieSessions{}

func (s cookieSessions) claims() *verify.Claims {
	sub := s.subject
	if sub == "" {
		sub = "sess-user"
	}
	return &verify.Claims{Subject: sub, Email: "sam@example.com", PreferredUsername: "sam", Groups: []string{"staff"}}
}

func (s cookieSessions) Session(r *http.Request) (verify.Identity, error) {
	c, err := r.Cookie("th_session")
	if err != nil || c.Value != "ok" || (s.ended != nil && s.ended.Load()) {
		return verify.Identity{}, verify.ErrNoToken
	}
	return verify.Identity{Claims: s.claims(), SessionKey: "key-ok"}, nil
}

func (s cookieSessions) Recheck(_ context.Context, id verify.Identity) (verify.Identity, bool) {
	if id.SessionKey != "key-ok" || (s.ended != nil && s.ended.Load()) {
		return verify.Identity{}, false
	}
	return verify.Identity{Claims: s.claims(), SessionKey: id.SessionKey}, true
}

// redirectToSignIn answers navigations without a session like the server.
var redirectToSignIn = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/_tokenhook/login?rd="+r.URL.Path, http.StatusFound)
})

func TestForwarding(t *testing.T) {
	is := newIssuer(t)
	up, seen := upstream(t)
	token := is.token(t, time.Hour)
	expired := is.token(t, -time.Hour)
	p := newProxy(t, Config{
		Upstream: mustURL(t, up.URL), Verifier: is.verifier(t), Realm: "dash",
		APIPaths:     []string{"/api/"},
		Public:       []verify.Route{{Method: "GET", Path: "/assets/"}},
		Rules:        verify.Rules{{PathPrefix: "/admin/", Groups: []string{"admins"}}},
		Sessions:     sessionFromCookie,
		SignIn:       redirectToSignIn,
		StripCookies: []string{"th_session", "th_csrf*"},
	})

	type want struct {
		status   int
		location string
		user     string // X-Forwarded-User upstream; "" = must be absent
		groups   string
		body     string // substring of the answer body
	}
	tests := []struct {
		name    string
		method  string
		path    string
		headers map[string]string
		want    want
	}{
		{"bearer POST", "POST", "/_dash-update-component", map[string]string{"Authorization": "Bearer " + token},
			want{status: 200, user: "user-1", groups: "admins,staff", body: "upstream"}},
		{"spoofed identity is replaced", "POST", "/x", map[string]string{"Authorization": "Bearer " + token, HeaderUser: "root", HeaderEmail: "root@evil", HeaderGroups: "admins", HeaderPreferredUsername: "root"},
			want{status: 200, user: "user-1", groups: "admins,staff"}},
		{"underscore spellings of identity headers are stripped", "POST", "/x", map[string]string{"Authorization": "Bearer " + token, "X_Forwarded_User": "root", "x_forwarded_groups": "admins"},
			want{status: 200, user: "user-1", groups: "admins,staff"}},
		{"spoofed identity is stripped on a public route", "GET", "/assets/app.js", map[string]string{HeaderUser: "root", HeaderGroups: "admins"},
			want{status: 200, body: "upstream"}},
		{"POST without bearer", "POST", "/_dash-update-component", map[string]string{"Cookie": "th_session=ok"},
			want{status: 401, body: "bearer token required"}},
		{"API GET without bearer", "GET", "/api/data", map[string]string{"Cookie": "th_session=ok", "Accept": "text/html"},
			want{status: 401}},
		{"expired bearer", "POST", "/x", map[string]string{"Authorization": "Bearer " + expired},
			want{status: 401, body: "JWT Expired"}},
		{"malformed header", "POST", "/x", map[string]string{"Authorization": "Token abc"},
			want{status: 400, body: "invalid_request"}},
		{"navigation with session", "GET", "/", map[string]string{"Cookie": "th_session=ok", "Accept": "text/html,*/*"},
			want{status: 200, user: "sess-user", groups: "staff"}},
		{"navigation without session redirects", "GET", "/page", map[string]string{"Accept": "text/html"},
			want{status: 302, location: "/_tokenhook/login?rd=/page"}},
		{"XHR GET without session gets 401, never a redirect", "GET", "/data.json", map[string]string{"Accept": "application/json"},
			want{status: 401}},
		{"asset GET with session", "GET", "/img.png", map[string]string{"Cookie": "th_session=ok", "Accept": "image/*"},
			want{status: 200, user: "sess-user"}},
		{"rule met by bearer groups", "POST", "/admin/x", map[string]string{"Authorization": "Bearer " + token},
			want{status: 200, user: "user-1"}},
		{"rule not met by session user (navigation)", "GET", "/admin/x", map[string]string{"Cookie": "th_session=ok", "Accept": "text/html"},
			want{status: 403, body: "Access denied"}},
		{"CORS preflight passes", "OPTIONS", "/api/data", map[string]string{"Origin": "https://x.example", "Access-Control-Request-Method": "POST"},
			want{status: 200}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for len(seen) > 0 {
				<-seen
			}
			r := httptest.NewRequest(tc.method, tc.path, nil)
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			p.ServeHTTP(w, r)
			if w.Code != tc.want.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tc.want.status, w.Body)
			}
			if loc := w.Header().Get("Location"); loc != tc.want.location {
				t.Fatalf("Location %q, want %q", loc, tc.want.location)
			}
			if !strings.Contains(w.Body.String(), tc.want.body) {
				t.Fatalf("body %q lacks %q", w.Body, tc.want.body)
			}
			if w.Code == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Bearer realm="dash"`) {
				t.Fatalf("401 without challenge: %q", w.Header().Get("WWW-Authenticate"))
			}
			if tc.want.status != 200 {
				select {
				case got := <-seen:
					t.Fatalf("refused request reached upstream: %+v", got)
				default:
				}
				return
			}
			got := <-seen
			for k := range got.Header {
				if strings.Contains(k, "_") {
					t.Fatalf("header %s reached upstream", k)
				}
			}
			if u := got.Header.Get(HeaderUser); u != tc.want.user {
				t.Fatalf("upstream %s = %q, want %q", HeaderUser, u, tc.want.user)
			}
			if tc.want.user == "" {
				for _, k := range []string{HeaderEmail, HeaderGroups, HeaderPreferredUsername} {
					if got.Header.Get(k) != "" {
						t.Fatalf("spoofed %s reached upstream", k)
					}
				}
			}
			if tc.want.groups != "" && got.Header.Get(HeaderGroups) != tc.want.groups {
				t.Fatalf("groups %q, want %q", got.Header.Get(HeaderGroups), tc.want.groups)
			}
			if tc.want.user == "user-1" && (got.Header.Get(HeaderEmail) != "ann@example.com" || got.Header.Get(HeaderPreferredUsername) != "ann") {
				t.Fatalf("identity headers %v", got.Header)
			}
		})
	}
}

func TestAuthorizationAndCookies(t *testing.T) {
	is := newIssuer(t)
	up, seen := upstream(t)
	token := is.token(t, time.Hour)
	for _, strip := range []bool{false, true} {
		p := newProxy(t, Config{
			Upstream: mustURL(t, up.URL), Verifier: is.verifier(t), StripAuthorization: strip,
			StripCookies: []string{"__Host-th_session", "th_csrf*"},
		})
		r := httptest.NewRequest("POST", "/x", nil)
		r.Header.Set("Authorization", "Bearer "+token)
		r.Header.Set("Cookie", "__Host-th_session=s1; _csrf_token=abc; th_csrf_1=z; theme=dark")
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("status %d %s", w.Code, w.Body)
		}
		got := <-seen
		wantAuth := "Bearer " + token
		if strip {
			wantAuth = ""
		}
		if a := got.Header.Get("Authorization"); a != wantAuth {
			t.Fatalf("strip=%v: upstream Authorization %q", strip, a)
		}
		if c := got.Header.Get("Cookie"); c != "_csrf_token=abc; theme=dark" {
			t.Fatalf("upstream Cookie %q", c)
		}
	}
}

func TestUpstreamFailures(t *testing.T) {
	is := newIssuer(t)
	token := is.token(t, time.Hour)
	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()

	tests := []struct {
		name     string
		upstream string
		accept   string
		status   int
		ctype    string
		body     string
	}{
		{"down, API call", dead, "application/json", 502, "application/json", `"error":"bad_gateway"`},
		{"down, navigation", dead, "text/html", 502, "text/html", "not reachable"},
		{"slow, API call", slow.URL, "*/*", 504, "application/json", `"error":"gateway_timeout"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProxy(t, Config{
				Upstream: mustURL(t, tc.upstream), Verifier: is.verifier(t),
				ResponseHeaderTimeout: 200 * time.Millisecond, Sessions: sessionFromCookie,
			})
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+token)
			r.Header.Set("Accept", tc.accept)
			w := httptest.NewRecorder()
			p.ServeHTTP(w, r)
			if w.Code != tc.status || !strings.HasPrefix(w.Header().Get("Content-Type"), tc.ctype) || !strings.Contains(w.Body.String(), tc.body) {
				t.Fatalf("got %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body)
			}
			if tc.ctype == "application/json" && !json.Valid(w.Body.Bytes()) {
				t.Fatalf("body is not JSON: %s", w.Body)
			}
		})
	}
}

func gz(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

func TestInjectScript(t *testing.T) {
	const tag = `<script src="/_tokenhook/tokenhook.js"></script>`
	pages := map[string]struct {
		body     []byte
		ctype    string
		encoding string
	}{
		"/plain":   {[]byte("<html><HEAD><title>x</title></HEAD><body>hi</body></html>"), "text/html; charset=utf-8", ""},
		"/gzip":    {gz("<html><head></head><body>gz</body></html>"), "text/html", "gzip"},
		"/nohead":  {[]byte(`<body class="a">x</body>`), "text/html", ""},
		"/json":    {[]byte(`{"a":"</head>"}`), "application/json", ""},
		"/br":      {[]byte("opaque-brotli-bytes"), "text/html", "br"},
		"/big":     {[]byte("<head></head>" + strings.Repeat("x", 2000)), "text/html", ""},
		"/corrupt": {[]byte("not gzip at all"), "text/html", "gzip"},
	}
	var lastAE string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastAE = r.Header.Get("Accept-Encoding")
		pg := pages[r.URL.Path]
		w.Header().Set("Content-Type", pg.ctype)
		w.Header().Set("ETag", `"v1"`)
		if pg.encoding != "" {
			w.Header().Set("Content-Encoding", pg.encoding)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(pg.body)))
		w.Write(pg.body)
	}))
	defer up.Close()
	is := newIssuer(t)
	p := newProxy(t, Config{
		Upstream: mustURL(t, up.URL), Verifier: is.verifier(t), Sessions: sessionFromCookie,
		InjectScript: tag, MaxInjectSize: 1000,
	})
	front := httptest.NewServer(p)
	defer front.Close()
	// A client that does not decompress, to see the bytes as sent.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}

	tests := []struct {
		path     string
		injected bool
		want     string // decoded body must equal this when injected
	}{
		{"/plain", true, "<html><HEAD><title>x</title>" + tag + "</HEAD><body>hi</body></html>"},
		{"/gzip", true, "<html><head>" + tag + "</head><body>gz</body></html>"},
		{"/nohead", true, `<body class="a">` + tag + "x</body>"},
		{"/json", false, ""},
		{"/br", false, ""},
		{"/big", false, ""},
		{"/corrupt", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp := loadPage(t, client, front.URL+tc.path, "gzip, deflate, br")
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if lastAE != "gzip" {
				t.Fatalf("upstream saw Accept-Encoding %q, want gzip only", lastAE)
			}
			if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(raw)) {
				t.Fatalf("Content-Length %q, body %d bytes", cl, len(raw))
			}
			if !tc.injected {
				if !bytes.Equal(raw, pages[tc.path].body) {
					t.Fatalf("body changed: %q", raw)
				}
				return
			}
			body := raw
			if resp.Header.Get("Content-Encoding") == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(raw))
				if err != nil {
					t.Fatal(err)
				}
				body, _ = io.ReadAll(zr)
			}
			if string(body) != tc.want {
				t.Fatalf("body %q\nwant %q", body, tc.want)
			}
			if resp.Header.Get("ETag") != "" {
				t.Fatal("ETag of the original body kept")
			}
		})
	}
	// A client that does not accept gzip gets identity from upstream.
	loadPage(t, client, front.URL+"/plain", "br").Body.Close()
	if lastAE != "identity" {
		t.Fatalf("upstream Accept-Encoding %q, want identity", lastAE)
	}
}

// loadPage GETs u with client as a signed-in browser loading a page that
// accepts the given encodings. The caller closes the body.
func loadPage(t *testing.T, client *http.Client, u, acceptEncoding string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Cookie", "th_session=ok")
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Accept-Encoding", acceptEncoding)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestNewConfig(t *testing.T) {
	is := newIssuer(t)
	v := is.verifier(t)
	up := mustURL(t, "http://127.0.0.1:9")
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
		origin  string // must be allowed when set
	}{
		{"no upstream", Config{Verifier: v}, true, ""},
		{"relative upstream", Config{Upstream: mustURL(t, "/app"), Verifier: v}, true, ""},
		{"no verifier", Config{Upstream: up}, true, ""},
		{"origin with path", Config{Upstream: up, Verifier: v, PublicOrigin: "https://a.example/app"}, true, ""},
		{"default https port normalised", Config{Upstream: up, Verifier: v, PublicOrigin: "https://A.example:443"}, false, "https://a.example"},
		{"explicit port kept", Config{Upstream: up, Verifier: v, PublicOrigin: "http://127.0.0.1:8080"}, false, "http://127.0.0.1:8080"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tc.wantErr)
			}
			if tc.origin != "" && !p.origins[tc.origin] {
				t.Fatalf("origin %s not allowed: %v", tc.origin, p.origins)
			}
		})
	}
}

func TestHooks(t *testing.T) {
	is := newIssuer(t)
	up, seen := upstream(t)
	p := newProxy(t, Config{
		Upstream: mustURL(t, up.URL), Verifier: is.verifier(t), Sessions: sessionFromCookie, PreserveHost: true,
		SignIn: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte("embedded sign-in"))
		}),
		ModifyRequest: func(pr *httputil.ProxyRequest, id verify.Identity) {
			if id.Claims != nil {
				pr.Out.Header.Set("X-Session-Assertion", "for-"+id.Claims.Subject)
			}
		},
	})
	r := httptest.NewRequest("GET", "http://dash.example/page", nil)
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	if w.Code != 401 || w.Body.String() != "embedded sign-in" {
		t.Fatalf("SignIn handler not used: %d %q", w.Code, w.Body)
	}
	r.Header.Set("Cookie", "th_session=ok")
	r.Header.Set("X-Session-Assertion", "forged")
	w = httptest.NewRecorder()
	p.ServeHTTP(w, r)
	got := <-seen
	if w.Code != 200 || got.Header.Get("X-Session-Assertion") != "for-sess-user" {
		t.Fatalf("ModifyRequest: %d %q", w.Code, got.Header.Get("X-Session-Assertion"))
	}
	if got.Host != "dash.example" || got.Header.Get("X-Forwarded-Host") != "dash.example" {
		t.Fatalf("PreserveHost: Host %q, X-Forwarded-Host %q", got.Host, got.Header.Get("X-Forwarded-Host"))
	}
}

// TestAuthenticate: the one-identity rule of Proxy.Authenticate.
func TestAuthenticate(t *testing.T) {
	is := newIssuer(t)
	token := is.token(t, time.Hour) // subject "user-1"
	for _, tc := range []struct {
		name     string
		sessions cookieSessions
		h        map[string]string
		source   verify.Source
		key      string
		err      error
	}{
		{"nothing", sessionFromCookie, nil, verify.SourceNone, "", verify.ErrNoToken},
		{"session", sessionFromCookie, map[string]string{"Cookie": "th_session=ok"}, verify.SourceSession, "key-ok", nil},
		{"bearer", sessionFromCookie, map[string]string{"Authorization": "Bearer " + token}, verify.SourceBearer, "", nil},
		{"bearer and session of the same user", cookieSessions{subject: "user-1"},
			map[string]string{"Authorization": "Bearer " + token, "Cookie": "th_session=ok"}, verify.SourceBearer, "key-ok", nil},
		{"bearer and session of different users", sessionFromCookie,
			map[string]string{"Authorization": "Bearer " + token, "Cookie": "th_session=ok"}, verify.SourceNone, "", ErrIdentityConflict},
		{"malformed bearer with a session", sessionFromCookie,
			map[string]string{"Authorization": "Bearer a b", "Cookie": "th_session=ok"}, verify.SourceNone, "", verify.ErrInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProxy(t, Config{Upstream: mustURL(t, "http://app.test"), Verifier: is.verifier(t), Sessions: tc.sessions})
			r := httptest.NewRequest("GET", "/x", nil)
			for k, v := range tc.h {
				r.Header.Set(k, v)
			}
			id, err := p.Authenticate(r)
			if !errors.Is(err, tc.err) || id.Source != tc.source || id.SessionKey != tc.key {
				t.Fatalf("identity %v %q, err %v", id.Source, id.SessionKey, err)
			}
			if err == nil && id.Claims == nil {
				t.Fatal("no claims")
			}
		})
	}
}
