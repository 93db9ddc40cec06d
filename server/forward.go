package server

import (
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/tokenhook/tokenhook/server/verify"
)

// forward is the handler for everything outside /_tokenhook/. It decides
// whether the request may reach the app:
//
//   - a request with a bearer token is forwarded when the token validates
//     (Authorization passed through unless --strip-authorization), else it
//     gets an RFC 6750 error, never a redirect;
//   - without a bearer, requests that need one (non-GET, API paths) get 401;
//   - WebSocket upgrades need the session cookie and an Origin equal to the
//     public URL (browsers cannot set headers on upgrades);
//   - other GETs need a session: page navigations without one are sent to
//     sign-in (an iframe gets the embedded sign-in page instead, because
//     identity providers refuse to be framed), other requests get 401.
//
// Forwarded requests carry the identity headers from validated claims (client
// copies removed), the session assertion for viewers with a session (client
// copies removed), and none of tokenhook's cookies.
func (s *Server) forward(w http.ResponseWriter, r *http.Request) {
	r.Header.Del(SessionHeader)
	for _, h := range identityHeaders {
		r.Header.Del(h)
	}
	if s.upstream == nil {
		writeJSONError(w, http.StatusNotFound, "not_found", "no upstream is configured (--upstream)")
		return
	}
	for _, rt := range s.cfg.SkipAuth {
		if rt.Match(r) {
			s.stripOwnCookies(r)
			s.upstream.ServeHTTP(w, r)
			return
		}
	}
	tok, err := verify.TokenFromRequest(r)
	if err != nil && !errors.Is(err, verify.ErrNoToken) {
		s.writeBearerError(w, err)
		return
	}
	sess, key, sessErr := s.loadSession(r)
	var id identity
	switch {
	case tok != "":
		if s.verifier == nil {
			s.writeBearerError(w, verify.ErrUnavailable)
			return
		}
		c, err := s.verifier.Verify(r.Context(), tok)
		if err != nil {
			s.writeBearerError(w, err)
			return
		}
		if err := s.cfg.Rules.Check(r.URL.Path, c); err != nil {
			s.writeBearerError(w, err)
			return
		}
		id = identity{user: c.Subject, email: c.Email, username: c.PreferredUsername, groups: c.Groups}
		if s.cfg.StripAuthorization {
			r.Header.Del("Authorization")
		}
	case isUpgrade(r):
		if sessErr != nil {
			s.writeBearerError(w, verify.ErrNoToken)
			return
		}
		if r.Header.Get("Origin") != s.cfg.PublicURL {
			writeJSONError(w, http.StatusForbidden, "forbidden", "WebSocket connections must come from "+s.cfg.PublicURL)
			return
		}
		id = sessionIdentity(sess.Subject, sess.Email, sess.Claims)
	case s.requiresBearer(r):
		s.writeBearerError(w, verify.ErrNoToken)
		return
	case sessErr != nil:
		switch {
		case isFrameNavigation(r):
			s.renderEmbeddedSignIn(w)
		case wantsHTML(r):
			http.Redirect(w, r, Prefix+"login?"+url.Values{"rd": {SafeRedirect(r.URL.RequestURI())}}.Encode(), http.StatusFound)
		default:
			s.writeBearerError(w, verify.ErrNoToken)
		}
		return
	default:
		id = sessionIdentity(sess.Subject, sess.Email, sess.Claims)
	}
	if tok == "" {
		if err := s.cfg.Rules.Check(r.URL.Path, s.sessionClaims(sess)); err != nil {
			if wantsHTML(r) {
				s.renderPage(w, http.StatusForbidden, "Not allowed", "Your account may not open this page. Ask the dashboard's owner for access.", "")
			} else {
				s.writeBearerError(w, err)
			}
			return
		}
	}
	id.set(r.Header)
	if sessErr == nil {
		if a, err := s.assertions.forSession(s.cfg.PublicURL, s.assertionAudience(), sess, key, s.now()); err != nil {
			s.log.Error("sign session assertion", "err", err)
		} else {
			r.Header.Set(SessionHeader, a)
		}
	}
	s.stripOwnCookies(r)
	s.upstream.ServeHTTP(w, r)
}

// isFrameNavigation reports whether r loads a page into an iframe (fetch
// metadata; browsers without it get the top-level behaviour).
func isFrameNavigation(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	d := r.Header.Get("Sec-Fetch-Dest")
	return (d == "iframe" || d == "frame") && r.Header.Get("Sec-Fetch-Mode") == "navigate"
}

var embeddedTmpl = template.Must(template.New("embedded").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to continue · tokenhook</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; display: grid; place-items: center; min-height: 100vh; background: #f6f7f9; color: #1d2330; }
  main { max-width: 28rem; margin: 1rem; padding: 2rem; text-align: center; }
  h1 { font-size: 1.25rem; margin: 0 0 .5rem; }
</style>
</head>
<body>
<main>
  <h1>Sign in to continue</h1>
  <p>This dashboard opens its sign-in in a new window.</p>
</main>
{{.Script}}
</body>
</html>
`))

// renderEmbeddedSignIn answers an iframe navigation without a session: a page
// that runs the browser hook, which offers the popup sign-in and reloads the
// frame once the iframe holds its session (data-reload).
func (s *Server) renderEmbeddedSignIn(w http.ResponseWriter) {
	tag := template.HTML(s.bundle.ScriptTag("data-reload", "data-gate"))
	// The page may be framed (that is its purpose); it runs only our script.
	s.writePage(w, http.StatusUnauthorized, embeddedTmpl, struct{ Script template.HTML }{tag},
		"default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; img-src 'self' data:")
}

// ownCookie reports whether a cookie name is one of tokenhook's (never
// forwarded upstream).
func (s *Server) ownCookie(name string) bool {
	return name == s.sessionCookie || name == s.embedCookie || name == s.txCookie || strings.HasPrefix(name, "tokenhook")
}
