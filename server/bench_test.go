package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tokenhook/tokenhook/server/assertion"

	"github.com/tokenhook/tokenhook/internal/testenv"
	"github.com/tokenhook/tokenhook/server/connection"
	"github.com/tokenhook/tokenhook/server/session"
)

func sessionFor(at string, life time.Duration) *session.Session {
	now := time.Now()
	return &session.Session{Token: session.Token{AccessToken: at, RefreshToken: "rt", TokenType: "bearer", Scope: "openid email",
		IssuedAt: now, Expiry: now.Add(life)}, Created: now, ExpiresAt: now.Add(24 * time.Hour)}
}

// warmTokenServer returns tokenhook's handler with the session store named
// ("memory", "file" or "redis") and a GET /_tokenhook/token request whose
// session holds a fresh token (no refresh due).
func warmTokenServer(b *testing.B, store string) (http.Handler, *http.Request) {
	cfg := Config{PublicURL: "http://127.0.0.1:4180", AuthURL: "http://127.0.0.1:1/a", TokenURL: "http://127.0.0.1:1/t",
		ClientID: "c", ClientSecret: "s", CookieSecret: []byte(strings.Repeat("k", 32))}
	switch store {
	case "file":
		cfg.DataDir = b.TempDir()
	case "redis":
		cfg.SessionStore = "redis://" + testenv.StartRedis(b).Addr(b)
	}
	s, err := New(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if _, err := s.sessions.Start(rec, httptest.NewRequest("GET", "/", nil), sessionFor(strings.Repeat("t", 900), time.Hour)); err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/_tokenhook/token", nil)
	req.Header.Set("X-TokenHook", "1")
	req.AddCookie(rec.Result().Cookies()[0])
	return s.Handler(), req
}

// BenchmarkTokenEndpoint measures GET /_tokenhook/token with a warm session
// (no refresh due): cookie check, session lookup, JSON answer.
func BenchmarkTokenEndpoint(b *testing.B) {
	for _, store := range []string{"memory", "file", "redis"} {
		b.Run(store, func(b *testing.B) {
			h, req := warmTokenServer(b, store)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code, w.Body.String())
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// BenchmarkSessionLookup is the cost of turning a cookie into a session.
func BenchmarkSessionLookup(b *testing.B) {
	s, err := New(context.Background(), Config{AuthURL: "http://127.0.0.1:1/a", TokenURL: "http://127.0.0.1:1/t",
		ClientID: "c", ClientSecret: "s", CookieSecret: []byte(strings.Repeat("k", 32))}, nil)
	if err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.sessions.Start(rec, httptest.NewRequest("GET", "/", nil), sessionFor("at", time.Hour))
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(rec.Result().Cookies()[0])
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.sessions.Load(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExchange measures POST /_tokenhook/exchange with a warm connection
// token: assertion check, session lookup, answer; no call to any provider
// (the connection's token endpoint is unreachable on purpose).
func BenchmarkExchange(b *testing.B) {
	s, err := New(context.Background(), Config{PublicURL: "http://127.0.0.1:4180", AuthURL: "http://127.0.0.1:1/a", TokenURL: "http://127.0.0.1:1/t",
		ClientID: "c", ClientSecret: "s", CookieSecret: []byte(strings.Repeat("k", 32)), Upstream: "http://127.0.0.1:1", UserinfoURL: "http://127.0.0.1:1/u",
		ExchangeSecret: "xs",
		Connections:    []connection.Spec{{Name: "data", AuthURL: "http://127.0.0.1:1/a", TokenURL: "http://127.0.0.1:1/t", ClientID: "d", ClientSecret: "ds"}}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	sess := sessionFor("at", time.Hour)
	sess.Connections = map[string]*session.Token{"data": {AccessToken: strings.Repeat("d", 900), Expiry: time.Now().Add(time.Hour), IssuedAt: time.Now()}}
	rec := httptest.NewRecorder()
	id, err := s.sessions.Start(rec, httptest.NewRequest("GET", "/", nil), sess)
	if err != nil {
		b.Fatal(err)
	}
	signed, err := s.assertions.Sign(s.cfg.PublicURL, s.assertionAudience(), "sub", "", session.Key(id), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	body := url.Values{"grant_type": {assertion.GrantTokenExchange}, "subject_token": {signed}, "subject_token_type": {assertion.TokenType}, "audience": {"data"}}.Encode()
	h := s.Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/_tokenhook/exchange", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("upstream", "xs")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
