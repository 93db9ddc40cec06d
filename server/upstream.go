package server

import (
	"encoding/json"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/tokenhook/tokenhook/server/proxy"
	"github.com/tokenhook/tokenhook/server/session"
	"github.com/tokenhook/tokenhook/server/verify"
)

// newUpstream builds the reverse proxy to cfg.Upstream (package proxy) with
// the server's parts plugged in: sessions, the sign-in redirect, the
// embedded sign-in page for iframes, and the session assertion.
func (s *Server) newUpstream() (http.Handler, error) {
	target, err := url.Parse(s.cfg.Upstream)
	if err != nil {
		return nil, err
	}
	cfg := proxy.Config{
		Upstream:              target,
		Verifier:              s.verifier,
		Realm:                 "tokenhook",
		Rules:                 s.cfg.Rules,
		Public:                s.cfg.SkipAuth,
		APIPaths:              s.cfg.APIPaths,
		SessionClaims:         s.proxySession,
		SignInURL:             s.signInURL,
		SignIn:                http.HandlerFunc(s.signInNavigation),
		PreserveHost:          true,
		ModifyRequest:         s.addAssertion,
		StripCookies:          []string{"tokenhook*", "__Host-tokenhook*"}, // the session, embed and sign-in cookies
		StripAuthorization:    s.cfg.StripAuthorization,
		PublicOrigin:          s.cfg.PublicURL,
		ResponseHeaderTimeout: s.cfg.UpstreamTimeout,
		Logger:                s.log,
	}
	if s.cfg.InjectScript {
		cfg.InjectScript = s.bundle.ScriptTag()
	}
	return proxy.New(cfg)
}

// proxySession reports the request's session and its identity; the claims'
// Expiry is when the session ends (open WebSockets are closed then).
func (s *Server) proxySession(r *http.Request) (*verify.Claims, bool) {
	sess, _, err := s.requestSession(r)
	if err != nil {
		return nil, false
	}
	c := s.sessionClaims(sess)
	c.Expiry = sess.ExpiresAt
	return c, true
}

func (s *Server) signInURL(r *http.Request) string {
	return Prefix + "login?" + url.Values{"rd": {SafeRedirect(r.URL.RequestURI())}}.Encode()
}

// signInNavigation answers a page navigation without a session: iframes get
// the embedded sign-in page (identity providers refuse to be framed), other
// pages the redirect to sign-in.
func (s *Server) signInNavigation(w http.ResponseWriter, r *http.Request) {
	if isFrameNavigation(r) {
		s.renderEmbeddedSignIn(w)
		return
	}
	http.Redirect(w, r, s.signInURL(r), http.StatusFound)
}

// addAssertion puts the session assertion on requests of viewers with a
// session, for the app's backend to exchange (see handleExchange).
func (s *Server) addAssertion(pr *httputil.ProxyRequest, _ *verify.Claims) {
	pr.Out.Header.Del(SessionHeader)
	sess, key, err := s.requestSession(pr.In)
	if err != nil {
		return
	}
	a, err := s.assertions.forSession(s.cfg.PublicURL, s.assertionAudience(), sess, key, s.now())
	if err != nil {
		s.log.Error("sign session assertion", "err", err)
		return
	}
	pr.Out.Header.Set(SessionHeader, a)
}

// sessionClaims presents a session's ID token claims as verify.Claims (for
// authorization rules and identity headers).
func (s *Server) sessionClaims(sess *session.Session) *verify.Claims {
	c := &verify.Claims{Subject: sess.Subject, Email: sess.Email, Raw: map[string]any{}}
	if json.Unmarshal(sess.Claims, &c.Raw) != nil {
		return c
	}
	c.PreferredUsername, _ = c.Raw["preferred_username"].(string)
	c.Name, _ = c.Raw["name"].(string)
	c.EmailVerified, _ = c.Raw["email_verified"].(bool)
	switch g := c.Raw[s.cfg.GroupsClaim].(type) {
	case []any:
		for _, v := range g {
			if str, ok := v.(string); ok {
				c.Groups = append(c.Groups, str)
			}
		}
	case string:
		c.Groups = strings.Fields(g)
	}
	return c
}
