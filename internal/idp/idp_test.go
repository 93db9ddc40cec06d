package idp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenhook/tokenhook/internal/idp"
	"github.com/tokenhook/tokenhook/internal/idp/idptest"
)

// TestLoginAndRefresh signs in through the real login form, exchanges the
// code, and refreshes twice: the second refresh hangs without the storage
// work-around for Dex's memory-storage deadlock.
func TestLoginAndRefresh(t *testing.T) {
	var tokenCalls atomic.Int32
	issuer := idptest.Start(t, idp.Options{
		TokenTTL: time.Minute,
		Users:    []idp.User{{Email: "a@example.com", Password: "pw"}},
		Clients:  []idp.Client{{ID: "app", Secret: "s3cret", RedirectURIs: []string{"http://127.0.0.1:1/cb"}}},
		Wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/token") {
					tokenCalls.Add(1)
				}
				h.ServeHTTP(w, r)
			})
		},
	}).Issuer

	conf := &oauth2.Config{
		ClientID: "app", ClientSecret: "s3cret", RedirectURL: "http://127.0.0.1:1/cb",
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/auth", TokenURL: issuer + "/token"},
		Scopes:   []string{"openid", "email", "offline_access"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := idptest.CodeGrant(ctx, conf, "a@example.com", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || strings.Count(tok.AccessToken, ".") != 2 {
		t.Fatalf("want JWT access token and refresh token, got %+v", tok)
	}
	for i := 0; i < 2; i++ {
		tok, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
	}
	if n := tokenCalls.Load(); n != 3 {
		t.Fatalf("token endpoint calls = %d, want 3", n)
	}
	var disc struct{ Issuer string }
	r, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if err := json.NewDecoder(r.Body).Decode(&disc); err != nil || disc.Issuer != issuer {
		t.Fatalf("discovery issuer %q err %v", disc.Issuer, err)
	}
}
