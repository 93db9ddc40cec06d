package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/config"

	"github.com/tokenhook/tokenhook/server/assertion"
	"github.com/tokenhook/tokenhook/server/handover"
	"github.com/tokenhook/tokenhook/server/proxy"
	"github.com/tokenhook/tokenhook/server/session"
	"github.com/tokenhook/tokenhook/server/signin"
	"github.com/tokenhook/tokenhook/server/verify"
)

// newUpstream builds the reverse proxy to cfg.Upstream (package proxy) with
// the server's parts plugged in: sessions, the sign-in redirect, the
// embedded sign-in page for iframes, and the session assertion.
func (s *Server) newUpstream() (*proxy.Proxy, error) {
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
		Sessions:              proxySessions{s},
		SignIn:                http.HandlerFunc(s.signInNavigation),
		PreserveHost:          true,
		ModifyRequest:         s.addAssertion,
		StripCookies:          []string{"tokenhook*", "__Host-tokenhook*"}, // the session, embed and sign-in cookies
		StripAuthorization:    s.cfg.StripAuthorization,
		TrustedProxies:        s.cfg.TrustedProxies,
		PublicOrigin:          s.cfg.PublicURL,
		ResponseHeaderTimeout: s.cfg.UpstreamTimeout,
		Logger:                s.log,
		Denied:                s.denied,
	}
	if s.cfg.BrowserToken != config.BrowserTokenBearer {
		cfg.SessionToken = s.sessionToken
	}
	if s.pageDPoP != nil {
		cfg.DPoP = s.checkDPoP
	}
	if s.cfg.InjectScript {
		cfg.InjectScript = s.bundle.ScriptTag()
	}
	p, err := proxy.New(cfg)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// closeWebSockets sends every open WebSocket the close code 1001 (going
// away); Serve calls it when it shuts down.
func (s *Server) closeWebSockets() {
	if s.upstream != nil {
		s.upstream.CloseWebSockets(proxy.CloseGoingAway, "server shutting down")
	}
}

// proxySessions shows the server's sign-in sessions to the proxy.
type proxySessions struct{ s *Server }

// Session implements proxy.Sessions.
func (ps proxySessions) Session(r *http.Request) (verify.Identity, error) {
	sess, key, err := ps.s.sessions.Load(r)
	var u *session.UnavailableError
	switch {
	case errors.As(err, &u):
		return verify.Identity{}, err
	case err != nil:
		return verify.Identity{}, verify.ErrNoToken
	}
	return ps.s.sessionIdentity(sess, key), nil
}

// Recheck implements proxy.Sessions: it reads the store, by key.
func (ps proxySessions) Recheck(ctx context.Context, id verify.Identity) (verify.Identity, bool) {
	sess, err := ps.s.store.Load(ctx, id.SessionKey)
	switch {
	case errors.Is(err, session.ErrNotFound):
		return verify.Identity{}, false
	case err != nil:
		// A store that cannot answer now does not end the session; the
		// next re-check asks again.
		ps.s.log.Warn("re-check session of an open WebSocket", "err", err)
		return id, true
	}
	return ps.s.sessionIdentity(sess, id.SessionKey), true
}

// sessionIdentity is the identity of the session stored under key; its
// claims' Expiry is when the session ends (open WebSockets close then).
func (s *Server) sessionIdentity(sess *session.Session, key string) verify.Identity {
	c := s.sessionClaims(sess)
	c.Expiry = sess.ExpiresAt
	return verify.Identity{Claims: c, Source: verify.SourceSession, SessionKey: key}
}

func (s *Server) signInURL(r *http.Request) string {
	return Prefix + "login?" + url.Values{"rd": {signin.SafeRedirect(r.URL.RequestURI())}}.Encode()
}

// signInNavigation answers a page navigation without a session: iframes get
// the embedded sign-in page (identity providers refuse to be framed), other
// pages the redirect to sign-in.
func (s *Server) signInNavigation(w http.ResponseWriter, r *http.Request) {
	if handover.IsFrameNavigation(r) {
		s.handover.EmbeddedSignIn(w)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.signInURL(r), http.StatusFound)
}

// sessionToken returns the identity of r's session and its access token,
// refreshed by the broker when due, from one session lookup (for
// --browser-token none).
func (s *Server) sessionToken(r *http.Request) (verify.Identity, string, error) {
	sess, key, err := s.sessions.Load(r)
	if err == nil {
		var t *session.Token
		if t, err = s.broker.Token(r.Context(), key, sess, "", ""); err == nil {
			return s.sessionIdentity(sess, key), t.AccessToken, nil
		}
	}
	if errors.Is(err, broker.ErrLoginRequired) {
		return verify.Identity{}, "", fmt.Errorf("%w: no live session; sign in again", verify.ErrNoToken)
	}
	return verify.Identity{}, "", err
}

// addAssertion puts the session assertion on requests whose identity names
// a session, for the app's backend to exchange (see assertion.Exchange). The
// proxy has already removed any client-sent one. A WebSocket upgrade gets
// one that lives as long as the connection's credentials
// (assertion.SocketExpiry); other requests a five-minute one.
func (s *Server) addAssertion(pr *httputil.ProxyRequest, id verify.Identity) {
	if id.SessionKey == "" || id.Claims == nil {
		return
	}
	now := s.now()
	var a string
	var err error
	// ReverseProxy keeps Upgrade on the outgoing request only for a real
	// upgrade (Connection: upgrade); otherwise it drops it as hop-by-hop.
	if strings.EqualFold(pr.Out.Header.Get("Upgrade"), "websocket") {
		exp := assertion.SocketExpiry(now, id.Claims.Expiry, s.cfg.SessionTTL)
		a, err = s.assertions.SignUntil(s.cfg.PublicURL, s.assertionAudience(), id.Claims.Subject, id.Claims.Email, id.SessionKey, now, exp)
	} else {
		a, err = s.assertions.ForSession(s.cfg.PublicURL, s.assertionAudience(), id.Claims.Subject, id.Claims.Email, id.SessionKey, now)
	}
	if err != nil {
		s.log.Error("sign session assertion", "err", err)
		return
	}
	pr.Out.Header.Set(assertion.Header, a)
}

// sessionClaims presents a session's ID token claims as verify.Claims (for
// authorization rules and identity headers), mapped as bearer claims are.
func (s *Server) sessionClaims(sess *session.Session) *verify.Claims {
	c := s.claims.decode(sess.Claims, s.cfg.GroupsClaim)
	c.Subject, c.Email = sess.Subject, sess.Email
	return c
}

// maxClaimsMemo bounds claimsMemo: distinct claim sets (one per signed-in
// viewer, and per ID token refresh) decoded at most once each while there
// are fewer of them.
const maxClaimsMemo = 4096

// claimsMemo decodes a session's claims JSON (the ID token's claims, kept
// with the session) once rather than on every proxied request. Entries are
// keyed by the JSON itself, so one can only ever answer for those exact
// bytes: a session whose claims change is decoded anew. It holds at most
// maxClaimsMemo entries and starts over when full.
type claimsMemo struct {
	mu sync.Mutex
	m  map[string]*verify.Claims
}

// decode returns the claims of raw (a copy the caller may change; Expiry
// zero). Bad JSON gives empty claims; a malformed aud is dropped, the other
// claims stand.
func (cm *claimsMemo) decode(raw []byte, groupsClaim string) *verify.Claims {
	cm.mu.Lock()
	c, ok := cm.m[string(raw)]
	cm.mu.Unlock()
	if !ok {
		c = decodeClaims(raw, groupsClaim)
		cm.mu.Lock()
		if cm.m == nil || len(cm.m) >= maxClaimsMemo {
			cm.m = make(map[string]*verify.Claims)
		}
		cm.m[string(raw)] = c
		cm.mu.Unlock()
	}
	cp := *c
	return &cp
}

// decodeClaims decodes a session's claims JSON.
func decodeClaims(b []byte, groupsClaim string) *verify.Claims {
	raw := map[string]any{}
	if json.Unmarshal(b, &raw) != nil {
		raw = map[string]any{}
	}
	c, err := verify.ClaimsFromMap(raw, groupsClaim)
	if err != nil {
		// Only a malformed aud fails; the session's other claims stand.
		delete(raw, "aud")
		c, _ = verify.ClaimsFromMap(raw, groupsClaim)
	}
	c.Expiry = time.Time{}
	return c
}
