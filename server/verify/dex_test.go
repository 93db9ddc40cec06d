package verify_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenhook/tokenhook/internal/idp"
	"github.com/tokenhook/tokenhook/internal/idp/idptest"
	"github.com/tokenhook/tokenhook/server/verify"
)

// dexToken signs a user in at a fresh in-process Dex and returns its issuer
// and an access token for client "app".
func dexToken(t *testing.T, wrap func(http.Handler) http.Handler) (issuer, token string) {
	t.Helper()
	issuer = idptest.Start(t, idp.Options{
		Users:   []idp.User{{Email: "ann@example.com", Password: "pw", Groups: []string{"admins"}}},
		Clients: []idp.Client{{ID: "app", Secret: "s3cret", RedirectURIs: []string{"http://127.0.0.1:1/cb"}}},
		Wrap:    wrap,
	}).Issuer
	conf := &oauth2.Config{
		ClientID: "app", ClientSecret: "s3cret", RedirectURL: "http://127.0.0.1:1/cb",
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/auth", TokenURL: issuer + "/token"},
		Scopes:   []string{"openid", "email", "profile", "groups"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := idptest.CodeGrant(ctx, conf, "ann@example.com", "pw")
	if err != nil {
		t.Fatal(err)
	}
	return issuer, tok.AccessToken
}

// TestDexTokens verifies real Dex access tokens three ways: as JWTs against
// the discovered JWKS, through Dex's introspection endpoint, and through its
// userinfo endpoint.
func TestDexTokens(t *testing.T) {
	var introspections, userinfos atomic.Int32
	issuer, token := dexToken(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case strings.HasSuffix(r.URL.Path, "/token/introspect"):
				introspections.Add(1)
			case strings.HasSuffix(r.URL.Path, "/userinfo"):
				userinfos.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	})
	ctx := context.Background()
	tests := []struct {
		name    string
		cfg     verify.Config
		counter *atomic.Int32
	}{
		{"jwt", verify.Config{Issuer: issuer, Audience: "app", Algorithms: []string{"RS256"}}, nil},
		{"introspection", verify.Config{Issuer: issuer, Audience: "app", Introspect: verify.IntrospectAlways, ClientID: "app", ClientSecret: "s3cret"}, &introspections},
		{"userinfo", verify.Config{Issuer: issuer, SkipDiscovery: true, UserinfoURL: issuer + "/userinfo", Introspect: verify.IntrospectAlways}, &userinfos},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := verify.New(ctx, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Ready(ctx); err != nil {
				t.Fatal(err)
			}
			var before int32
			if tc.counter != nil {
				before = tc.counter.Load()
			}
			c, err := v.Verify(ctx, token)
			if err != nil {
				t.Fatal(err)
			}
			if c.Email != "ann@example.com" || c.Subject == "" || len(c.Groups) != 1 || c.Groups[0] != "admins" {
				t.Fatalf("claims %+v", c)
			}
			if tc.counter != nil && tc.counter.Load() != before+1 {
				t.Fatalf("endpoint not called once (%d)", tc.counter.Load()-before)
			}
			// A tampered token is refused by every path.
			tampered := token[:len(token)-4] + "AAAA"
			if token[len(token)-4:] == "AAAA" {
				tampered = token[:len(token)-4] + "BBBB"
			}
			if _, err := v.Verify(ctx, tampered); !errors.Is(err, verify.ErrInvalidToken) {
				t.Fatalf("tampered token: %v", err)
			}
			// Through the middleware, as a backend sees it.
			h := v.Middleware(verify.MiddlewareOptions{Rules: verify.Rules{{PathPrefix: "/", Groups: []string{"admins"}}}})(
				http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					c, _ := verify.ClaimsFromContext(r.Context())
					w.Write([]byte(c.Email))
				}))
			r := httptest.NewRequest("POST", "/_dash-update-component", nil)
			r.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 200 || w.Body.String() != "ann@example.com" {
				t.Fatalf("middleware: %d %s", w.Code, w.Body)
			}
		})
	}
	// A verifier for another audience refuses Dex's token for "app".
	v, err := verify.New(ctx, verify.Config{Issuer: issuer, Audience: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, token); !errors.Is(err, verify.ErrInvalidToken) {
		t.Fatalf("foreign audience: %v", err)
	}
}
