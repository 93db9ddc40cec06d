// Package zitadelop runs zitadel/oidc's example OpenID provider in-process: a
// second, independent real provider whose access tokens are opaque (checked
// by introspection or userinfo) and whose refresh tokens rotate. Tests use it
// as the "data provider" a viewer connects besides the sign-in provider.
package zitadelop

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"

	"github.com/tokenhook/tokenhook/internal/idp/idptest"
)

// Password is the example users' password.
const Password = "verysecure"

// Provider is a running example provider.
type Provider struct {
	// Issuer ends in "/", as the example provider requires.
	Issuer string
	srv    *http.Server
	done   chan struct{}
}

// Start serves the provider on ln with one confidential web client.
// wrap, when not nil, wraps the provider's handler (to count requests).
func Start(ln net.Listener, clientID, clientSecret string, redirectURIs []string, wrap func(http.Handler) http.Handler) (*Provider, error) {
	issuer := "http://" + ln.Addr().String() + "/"
	clients := map[string]*storage.Client{clientID: storage.WebClient(clientID, clientSecret, redirectURIs...)}
	st := storage.NewStorageWithClients(storage.NewUserStore(issuer), clients)
	// A nil logger: SetupServer would otherwise replace slog's default.
	var h http.Handler = exampleop.SetupServer(issuer, st, nil, false)
	if wrap != nil {
		h = wrap(h)
	}
	p := &Provider{Issuer: issuer, srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err) // a test harness: fail loudly
		}
	}()
	return p, nil
}

// Username is the example user's login name for this issuer's host.
func (p *Provider) Username() string {
	host := strings.TrimPrefix(p.Issuer, "http://")
	host, _, _ = strings.Cut(host, ":")
	return "test-user@" + host
}

// Login fills in the provider's login form (like idptest.Login for Dex).
func (p *Provider) Login(ctx context.Context, c *http.Client, authURL string, stop func(*url.URL) bool) (*http.Response, error) {
	return idptest.SubmitLogin(ctx, c, authURL, p.loginFields(), stop)
}

// loginFields fill in the provider's login form as the example user.
func (p *Provider) loginFields() url.Values {
	return url.Values{"username": {p.Username()}, "password": {Password}}
}

// AccessToken signs the example user in at client clientID (registered with
// redirectURI) and returns the tokens of the code grant: the access token
// is opaque. Nothing needs to listen at redirectURI.
func (p *Provider) AccessToken(ctx context.Context, clientID, clientSecret, redirectURI string) (*oauth2.Token, error) {
	conf := &oauth2.Config{ClientID: clientID, ClientSecret: clientSecret, RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{AuthURL: p.Issuer + "auth", TokenURL: p.Issuer + "oauth/token", AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid", "email", "profile"}}
	return idptest.CodeGrantWith(ctx, conf, p.loginFields())
}

// Close stops the provider.
func (p *Provider) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	<-p.done
	return err
}
