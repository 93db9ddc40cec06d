package verify_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenhook/tokenhook/server/idp/zitadelop"
	"github.com/tokenhook/tokenhook/server/verify"
)

// TestZitadelOpaqueTokens verifies the opaque access tokens of zitadel/oidc's
// example provider through RFC 7662 introspection (with client
// authentication) and through the userinfo endpoint.
func TestZitadelOpaqueTokens(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var introspections, userinfos atomic.Int32
	p, err := zitadelop.Start(ln, "web", "s3cret", []string{"http://127.0.0.1:1/cb"}, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/oauth/introspect":
				introspections.Add(1)
			case "/userinfo":
				userinfos.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	conf := &oauth2.Config{
		ClientID: "web", ClientSecret: "s3cret", RedirectURL: "http://127.0.0.1:1/cb",
		Endpoint: oauth2.Endpoint{AuthURL: p.Issuer + "auth", TokenURL: p.Issuer + "oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid", "email", "profile"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	jar, _ := cookiejar.New(nil)
	resp, err := p.Login(ctx, &http.Client{Jar: jar, Timeout: 10 * time.Second}, conf.AuthCodeURL("st"),
		func(u *url.URL) bool { return u.Host == "127.0.0.1:1" })
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("no code in redirect %q (status %d)", resp.Header.Get("Location"), resp.StatusCode)
	}
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tok.AccessToken, ".") == 2 {
		t.Fatalf("expected an opaque access token, got a JWT")
	}

	tests := []struct {
		name    string
		cfg     verify.Config
		counter *atomic.Int32
		wantErr error
	}{
		{"introspection", verify.Config{Issuer: p.Issuer, Audience: "web", ClientID: "web", ClientSecret: "s3cret"}, &introspections, nil},
		{"introspection with a wrong client secret", verify.Config{Issuer: p.Issuer, ClientID: "web", ClientSecret: "nope"}, &introspections, verify.ErrUnavailable},
		{"userinfo", verify.Config{Issuer: p.Issuer, SkipDiscovery: true, UserinfoURL: p.Issuer + "userinfo"}, &userinfos, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := verify.New(ctx, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			before := tc.counter.Load()
			c, err := v.Verify(ctx, tok.AccessToken)
			if tc.counter.Load() != before+1 {
				t.Fatalf("endpoint called %d times", tc.counter.Load()-before)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject != "id1" || c.Email != "test-user@zitadel.ch" {
				t.Fatalf("claims %+v", c)
			}
			// Cached: no second call.
			if _, err := v.Verify(ctx, tok.AccessToken); err != nil || tc.counter.Load() != before+1 {
				t.Fatalf("second verification not cached (err %v)", err)
			}
			// An unknown opaque token is refused.
			if _, err := v.Verify(ctx, "definitely-not-a-token"); !errors.Is(err, verify.ErrInvalidToken) {
				t.Fatalf("unknown token: %v", err)
			}
		})
	}
}
