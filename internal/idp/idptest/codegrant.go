package idptest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"time"

	"golang.org/x/oauth2"
)

// CodeGrant signs email in at Dex as conf's client would send a browser
// there: it opens conf's authorization URL with a fresh cookie jar, submits
// the login form (Login), stops at the redirect to conf.RedirectURL (nothing
// needs to listen there), checks the state and exchanges the code.
func CodeGrant(ctx context.Context, conf *oauth2.Config, email, password string) (*oauth2.Token, error) {
	return CodeGrantWith(ctx, conf, url.Values{"login": {email}, "password": {password}})
}

// CodeGrantWith is CodeGrant for any provider's login form: fields are set
// over the form's own inputs (see SubmitLogin).
func CodeGrantWith(ctx context.Context, conf *oauth2.Config, fields url.Values) (*oauth2.Token, error) {
	cb, err := url.Parse(conf.RedirectURL)
	if err != nil {
		return nil, fmt.Errorf("idptest: redirect URL: %w", err)
	}
	const state = "st"
	jar, _ := cookiejar.New(nil)
	resp, err := SubmitLogin(ctx, &http.Client{Jar: jar, Timeout: 10 * time.Second}, conf.AuthCodeURL(state), fields,
		func(u *url.URL) bool { return u.Host == cb.Host && u.Path == cb.Path })
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != state {
		return nil, fmt.Errorf("idptest: no code in the redirect %q (status %d)", resp.Header.Get("Location"), resp.StatusCode)
	}
	return conf.Exchange(ctx, loc.Query().Get("code"))
}
