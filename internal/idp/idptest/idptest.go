// Package idptest signs a user in at the in-process provider over plain HTTP,
// the way a browser would fill in Dex's login form. Tests use it to reach a
// signed-in state without a browser.
package idptest

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

var (
	formAction = regexp.MustCompile(`<form[^>]*action="([^"]*)"`)
	inputTag   = regexp.MustCompile(`<input[^>]*>`)
	attrName   = regexp.MustCompile(`\sname="([^"]*)"`)
	attrValue  = regexp.MustCompile(`\svalue="([^"]*)"`)
)

// Login follows authURL (the provider's authorization URL, or a URL of the
// relying party that redirects to it) with client, submits the login form with
// email and password, and follows redirects until a response that is not a
// redirect arrives or stop returns true for a redirect target. It returns the
// last response (body unread) and the URL it came from. client must have a
// cookie jar.
func Login(ctx context.Context, client *http.Client, authURL, email, password string, stop func(*url.URL) bool) (*http.Response, error) {
	return SubmitLogin(ctx, client, authURL, url.Values{"login": {email}, "password": {password}}, stop)
}

// SubmitLogin is Login for any provider's login form: it keeps the form's
// own inputs (hidden request ids) and sets fields over them.
func SubmitLogin(ctx context.Context, client *http.Client, authURL string, fields url.Values, stop func(*url.URL) bool) (*http.Response, error) {
	c := *client
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > 20 {
			return errors.New("idptest: too many redirects")
		}
		if stop != nil && stop(req.URL) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("idptest: open login page: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	m := formAction.FindSubmatch(body)
	if m == nil {
		return nil, fmt.Errorf("idptest: no login form at %s (status %d)", resp.Request.URL, resp.StatusCode)
	}
	action, err := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
	if err != nil {
		return nil, fmt.Errorf("idptest: form action: %w", err)
	}
	form := url.Values{}
	for _, in := range inputTag.FindAll(body, -1) {
		n, v := attrName.FindSubmatch(in), attrValue.FindSubmatch(in)
		if n == nil {
			continue
		}
		val := ""
		if v != nil {
			val = html.UnescapeString(string(v[1]))
		}
		form.Set(html.UnescapeString(string(n[1])), val)
	}
	for k, v := range fields {
		form[k] = v
	}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("idptest: submit login form: %w", err)
	}
	return resp, nil
}
