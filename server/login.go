package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/session"
)

// loginTimeout is how long a started sign-in may take.
const loginTimeout = 10 * time.Minute

// rendezvousTTL is how long an iframe's popup sign-in may take, from opening
// the popup to claiming the result.
const rendezvousTTL = 5 * time.Minute

// validChannel accepts the iframe's channel id: 16 to 128 base64url characters.
func validChannel(c string) bool { return len(c) >= 16 && len(c) <= 128 && isBase64URL(c) }

// validChallenge accepts an S256 challenge: 43 base64url characters.
func validChallenge(c string) bool { return len(c) == 43 && isBase64URL(c) }

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics internally if it cannot)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SafeRedirect returns rd if it is a path on this origin, else "/". It refuses
// absolute URLs, scheme-relative "//host", backslash tricks ("/\host"), control
// characters, and the same forms percent-encoded.
func SafeRedirect(rd string) string {
	if rd == "" || len(rd) > 2048 || rd[0] != '/' {
		return "/"
	}
	// Decode repeatedly so encoded variants (%2F%2F, %5C, %09) are judged
	// the way a browser may end up reading them.
	dec := rd
	for i := 0; i < 3; i++ {
		d, err := url.PathUnescape(dec)
		if err != nil {
			return "/"
		}
		if d == dec {
			break
		}
		dec = d
	}
	for _, p := range []string{rd, dec} {
		if len(p) == 0 || p[0] != '/' {
			return "/"
		}
		if len(p) > 1 && (p[1] == '/' || p[1] == '\\') {
			return "/"
		}
		if strings.ContainsAny(p, "\\") {
			return "/"
		}
		for _, c := range p {
			if c < 0x20 || c == 0x7f {
				return "/"
			}
		}
	}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return rd
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	p := s.broker.SignIn().Provider()
	if p == nil {
		s.renderPage(w, http.StatusServiceUnavailable, "Sign-in is starting", "tokenhook cannot reach the identity provider yet. Try again in a moment.", "")
		return
	}
	q := r.URL.Query()
	rd := SafeRedirect(q.Get("rd"))
	channel := ""
	if q.Get("popup") == "1" {
		channel = q.Get("channel")
		challenge := q.Get("challenge")
		if !validChannel(channel) || !validChallenge(challenge) {
			s.renderPage(w, http.StatusBadRequest, "Sign-in failed", "This sign-in window was opened with a damaged link. Close it and use the dashboard's sign-in button again.", "")
			return
		}
		if err := s.rendezvous.Start(r.Context(), channel, challenge, rendezvousTTL); err != nil {
			s.renderPage(w, http.StatusBadRequest, "Sign-in failed", "This sign-in window was already used. Close it and use the dashboard's sign-in button again.", "")
			return
		}
	}
	state, nonce, verifier := randomString(32), randomString(32), oauth2.GenerateVerifier()
	tx, _ := s.txStore.New(r, s.txCookie) // a fresh transaction; an old or bad cookie is replaced
	tx.Values["state"] = state
	tx.Values["nonce"] = nonce
	tx.Values["verifier"] = verifier
	tx.Values["rd"] = rd
	tx.Values["channel"] = channel
	if err := tx.Save(r, w); err != nil {
		s.log.Error("save sign-in transaction", "err", err)
		s.renderPage(w, http.StatusInternalServerError, "Sign-in failed", "tokenhook could not start the sign-in.", "")
		return
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if p.Verifier != nil {
		opts = append(opts, oidc.Nonce(nonce))
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.OAuth.AuthCodeURL(state, opts...), http.StatusFound)
}

func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := s.broker.SignIn().Provider()
	tx, _ := s.txStore.Get(r, s.txCookie)
	// The transaction is single-use whatever happens next.
	tx.Options.MaxAge = -1
	_ = tx.Save(r, w)
	w.Header().Set("Cache-Control", "no-store")

	if e := q.Get("error"); e != "" {
		desc := q.Get("error_description")
		s.log.Warn("identity provider refused sign-in", "error", clip(e, 64))
		title := "Sign-in was not completed"
		if e == "access_denied" {
			title = "Access was denied"
		}
		s.renderPage(w, http.StatusForbidden, title, "The identity provider answered: "+clip(e, 64)+describe(desc), "/_tokenhook/login?rd="+url.QueryEscape(txString(tx.Values, "rd")))
		return
	}
	state, _ := tx.Values["state"].(string)
	if p == nil || state == "" {
		s.renderPage(w, http.StatusBadRequest, "Sign-in expired", "This sign-in was started too long ago, already finished, or in another browser. Please start again.", "/_tokenhook/login")
		return
	}
	if subtle.ConstantTimeCompare([]byte(state), []byte(q.Get("state"))) != 1 || !s.states.use(state, s.now().Add(loginTimeout)) {
		s.log.Warn("sign-in state mismatch or replay")
		s.renderPage(w, http.StatusBadRequest, "Sign-in could not be verified", "The sign-in answer does not belong to this browser's sign-in. Please start again.", "/_tokenhook/login")
		return
	}
	code := q.Get("code")
	if code == "" || len(code) > 4096 {
		s.renderPage(w, http.StatusBadRequest, "Sign-in failed", "The identity provider's answer carried no authorization code.", "/_tokenhook/login")
		return
	}
	verifier, _ := tx.Values["verifier"].(string)
	if name := txString(tx.Values, "conn"); name != "" {
		s.finishConnect(w, r, name, code, verifier, SafeRedirect(txString(tx.Values, "rd")), txString(tx.Values, "connpopup") == "1")
		return
	}
	ctx := r.Context()
	tok, err := s.broker.SignIn().Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if errors.Is(err, broker.ErrUnavailable) {
		s.renderPage(w, http.StatusBadGateway, "Sign-in failed", "tokenhook could not reach the identity provider to finish the sign-in. Try again in a moment.", "/_tokenhook/login")
		return
	}
	if err != nil {
		s.log.Warn("code exchange failed", "err", err)
		s.renderPage(w, http.StatusBadGateway, "Sign-in failed", "The identity provider did not accept the sign-in. Please start again.", "/_tokenhook/login")
		return
	}
	now := s.now()
	sess := &session.Session{Token: broker.TokenFrom(tok, s.cfg.Scopes, now), Created: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	if p.Verifier != nil {
		raw, _ := tok.Extra("id_token").(string)
		if raw == "" {
			s.renderPage(w, http.StatusBadGateway, "Sign-in failed", "The identity provider returned no ID token.", "/_tokenhook/login")
			return
		}
		idt, err := p.Verifier.Verify(ctx, raw)
		if err != nil {
			s.log.Warn("ID token rejected", "err", err)
			s.renderPage(w, http.StatusBadGateway, "Sign-in failed", "The identity provider's ID token could not be verified.", "/_tokenhook/login")
			return
		}
		nonce, _ := tx.Values["nonce"].(string)
		if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
			s.log.Warn("ID token nonce mismatch")
			s.renderPage(w, http.StatusBadRequest, "Sign-in could not be verified", "The ID token does not belong to this sign-in. Please start again.", "/_tokenhook/login")
			return
		}
		var claims map[string]any
		if err := idt.Claims(&claims); err == nil {
			for _, k := range []string{"nonce", "at_hash", "c_hash", "sid"} {
				delete(claims, k)
			}
			sess.Claims, _ = json.Marshal(claims)
			sess.Email, _ = claims["email"].(string)
		}
		sess.Subject = idt.Subject
	} else if s.cfg.UserinfoURL != "" {
		if claims, err := s.fetchUserinfo(r, tok); err != nil {
			s.log.Warn("userinfo failed", "err", err)
		} else {
			sess.Claims = claims
		}
	}
	if tok.Expiry.IsZero() && sess.RefreshToken == "" {
		sess.Expiry = sess.ExpiresAt // a token that does not say when it expires
	}
	id, err := s.startSession(w, r, sess)
	if err != nil {
		s.log.Error("create session", "err", err)
		s.renderPage(w, http.StatusInternalServerError, "Sign-in failed", "tokenhook could not store the session.", "/_tokenhook/login")
		return
	}
	s.log.Info("signed in", "sub", sess.Subject)
	if channel := txString(tx.Values, "channel"); channel != "" {
		if err := s.rendezvous.Complete(r.Context(), channel, id); err != nil {
			s.renderPage(w, http.StatusGone, "Sign-in took too long", "You are signed in, but the dashboard stopped waiting. Close this window and use the dashboard's sign-in button again.", "")
			return
		}
		s.renderPopupDone(w, channel)
		return
	}
	http.Redirect(w, r, SafeRedirect(txString(tx.Values, "rd")), http.StatusFound)
}

func txString(v map[any]any, k string) string {
	s, _ := v[k].(string)
	return s
}

func describe(desc string) string {
	if desc == "" {
		return "."
	}
	return " (" + clip(desc, 200) + ")."
}

// clip bounds untrusted text shown on pages or written to logs.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// stateCache remembers used sign-in states until they would expire anyway, so a
// replayed callback (even with a copied transaction cookie) is refused.
type stateCache struct {
	mu  sync.Mutex
	m   map[string]time.Time
	max int
}

func newStateCache(max int) *stateCache { return &stateCache{m: make(map[string]time.Time), max: max} }

// use marks state as used and reports whether it was unused.
func (c *stateCache) use(state string, until time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if len(c.m) >= c.max {
		for k, t := range c.m {
			if now.After(t) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			return false // flooded: refuse rather than forget used states
		}
	}
	if t, ok := c.m[state]; ok && now.Before(t) {
		return false
	}
	c.m[state] = until
	return true
}
