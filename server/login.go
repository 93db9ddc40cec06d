package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tokenhook/tokenhook/server/assertion"
	"github.com/tokenhook/tokenhook/server/audit"
	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/handover"
	"github.com/tokenhook/tokenhook/server/ratelimit"
	"github.com/tokenhook/tokenhook/server/session"
)

// loginTimeout is how long a started sign-in may take.
const loginTimeout = 10 * time.Minute

// Bounds of the in-memory sign-in tables. Both evict their oldest entries
// when full; neither ever refuses a newcomer.
const (
	maxOnce       = 50000 // used states (about 100 B each)
	maxRendezvous = 20000 // completed popup sign-ins waiting for their frame
)

// newSignInLimiter limits unauthenticated sign-in steps per client address:
// a burst of 30, then one a second, remembering up to 2×50,000 addresses.
// A viewer's sign-in takes three steps (login, callback, confirm) and its
// frame one claim per 25 s.
func newSignInLimiter() *ratelimit.Limiter { return ratelimit.New(time.Second, 30, 50000) }

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics internally if it cannot)
	return base64.RawURLEncoding.EncodeToString(b)
}

// safeRedirect returns rd if it is a path on this origin, else "/". It refuses
// absolute URLs, scheme-relative "//host", backslash tricks ("/\host"), control
// characters, and the same forms percent-encoded.
func safeRedirect(rd string) string {
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
		s.renderRetry(w, "Sign-in is starting", "tokenhook cannot reach the identity provider yet. Try again in a moment.", r.URL.RequestURI())
		return
	}
	q := r.URL.Query()
	rd := safeRedirect(q.Get("rd"))
	channel, challenge := "", ""
	if q.Get("popup") == "1" {
		channel, challenge = q.Get("channel"), q.Get("challenge")
		if !handover.ValidChannel(channel) || !handover.ValidChallenge(challenge) {
			s.renderPage(w, http.StatusBadRequest, "Sign-in failed", "This sign-in window was opened with a damaged link. Close it and use the dashboard's sign-in button again.", "")
			return
		}
	}
	// A provider tokenhook's own calls found unreachable gets no viewer sent
	// to it: the viewer gets this page and its retry instead of the
	// browser's connection error.
	if !s.reach.reachable(r.Context(), s.client, p.OAuth.Endpoint.AuthURL) {
		s.renderRetry(w, "The identity provider is unreachable", "tokenhook cannot reach the identity provider right now, so signing in is not possible. Try again in a moment.", r.URL.RequestURI())
		return
	}
	state, nonce, verifier := randomString(32), randomString(32), oauth2.GenerateVerifier()
	tx, _ := s.txStore.New(r, s.txCookie) // a fresh transaction; an old or bad cookie is replaced
	tx.Values["state"] = state
	tx.Values["nonce"] = nonce
	tx.Values["verifier"] = verifier
	tx.Values["rd"] = rd
	// A popup sign-in stores nothing on the server until it succeeds: the
	// frame's channel and challenge travel in the transaction cookie.
	tx.Values["channel"] = channel
	tx.Values["challenge"] = challenge
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
		s.renderPage(w, http.StatusForbidden, title, "The identity provider answered: "+clip(e, 64)+describe(desc), Prefix+"login?rd="+url.QueryEscape(txString(tx.Values, "rd")))
		return
	}
	state, _ := tx.Values["state"].(string)
	if p == nil || state == "" {
		s.renderPage(w, http.StatusBadRequest, "Sign-in expired", "This sign-in was started too long ago, already finished, or in another browser. Please start again.", Prefix+"login")
		return
	}
	if subtle.ConstantTimeCompare([]byte(state), []byte(q.Get("state"))) != 1 {
		s.log.Warn("sign-in state mismatch")
		s.renderPage(w, http.StatusBadRequest, "Sign-in could not be verified", "The sign-in answer does not belong to this browser's sign-in. Please start again.", Prefix+"login")
		return
	}
	code := q.Get("code")
	if code == "" || len(code) > 4096 {
		s.renderPage(w, http.StatusBadRequest, "Sign-in failed", "The identity provider's answer carried no authorization code.", Prefix+"login")
		return
	}
	verifier, _ := tx.Values["verifier"].(string)
	if name := txString(tx.Values, "conn"); name != "" {
		// The connection's exchange is Connections.Finish's: the state is
		// burnt before it (the store is bounded by age, so this cannot
		// deny service either).
		if !s.useState(w, r, state) {
			return
		}
		s.connections.Finish(w, r, code, assertion.Transaction{State: state, Verifier: verifier, Connection: name,
			Return: safeRedirect(txString(tx.Values, "rd")), Popup: txString(tx.Values, "connpopup") == "1"})
		return
	}
	ctx := r.Context()
	tok, err := s.broker.SignIn().Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		s.exchangeFailed(w, err)
		return
	}
	// The state is burnt only now, after the provider accepted the code: an
	// answer that carried no code, or a code the provider refused, burns
	// nothing, so no stranger can fill the store with states.
	if !s.useState(w, r, state) {
		return
	}
	now := s.now()
	sess := &session.Session{Token: broker.TokenFrom(tok, s.cfg.Scopes, now), Created: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	if p.Verifier != nil {
		raw, _ := tok.Extra("id_token").(string)
		if raw == "" {
			s.renderPage(w, http.StatusBadGateway, "Sign-in failed", "The identity provider returned no ID token.", Prefix+"login")
			return
		}
		idt, err := p.Verifier.Verify(ctx, raw)
		if err != nil {
			s.log.Warn("ID token rejected", "err", err)
			s.renderPage(w, http.StatusBadGateway, "Sign-in failed", "The identity provider's ID token could not be verified.", Prefix+"login")
			return
		}
		nonce, _ := tx.Values["nonce"].(string)
		if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
			s.log.Warn("ID token nonce mismatch")
			s.renderPage(w, http.StatusBadRequest, "Sign-in could not be verified", "The ID token does not belong to this sign-in. Please start again.", Prefix+"login")
			return
		}
		var claims map[string]any
		if err := idt.Claims(&claims); err == nil {
			sess.SID, _ = claims["sid"].(string) // what back-channel logout tokens name
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
		s.renderPage(w, http.StatusInternalServerError, "Sign-in failed", "tokenhook could not store the session.", Prefix+"login")
		return
	}
	s.audit.Record(r.Context(), audit.SignIn, sess.Subject, slog.Bool("popup", txString(tx.Values, "channel") != ""))
	if channel := txString(tx.Values, "channel"); channel != "" {
		s.handover.Complete(w, r, channel, txString(tx.Values, "challenge"), id)
		return
	}
	http.Redirect(w, r, safeRedirect(txString(tx.Values, "rd")), http.StatusFound)
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

// beginConnect keeps a connection's code flow in the sign-in transaction
// cookie, for the callback (see assertion.Connections).
func (s *Server) beginConnect(w http.ResponseWriter, r *http.Request, t assertion.Transaction) error {
	tx, _ := s.txStore.New(r, s.txCookie)
	tx.Values["state"] = t.State
	tx.Values["verifier"] = t.Verifier
	tx.Values["rd"] = t.Return
	tx.Values["conn"] = t.Connection
	if t.Popup {
		tx.Values["connpopup"] = "1"
	}
	return tx.Save(r, w)
}

// useState burns a sign-in state in the one-time store, and answers the
// callback itself (false) when the state was used before or the store
// failed.
func (s *Server) useState(w http.ResponseWriter, r *http.Request, state string) bool {
	fresh, err := s.states.UseOnce(r.Context(), "state:"+state, loginTimeout)
	if err != nil {
		s.log.Error("one-time state store", "err", err)
		s.renderPage(w, http.StatusInternalServerError, "Sign-in failed", "tokenhook could not record the sign-in.", Prefix+"login")
		return false
	}
	if !fresh {
		s.log.Warn("sign-in state replayed")
		s.renderPage(w, http.StatusBadRequest, "Sign-in could not be verified", "This sign-in answer was used before. Please start again.", Prefix+"login")
		return false
	}
	return true
}

// exchangeFailed answers a callback whose code exchange failed, saying what
// happened: the provider refused the code as invalid_grant (a stale,
// reused or foreign code: the client's problem, 400), the provider answered
// with another error (502), or tokenhook could not reach it (503, with a
// retry; logged once per outage by the reachability tracker, not here).
func (s *Server) exchangeFailed(w http.ResponseWriter, err error) {
	var re *broker.RefreshError // the provider answered (its body is not kept)
	answered := errors.As(err, &re)
	switch {
	case answered && re.Code == "invalid_grant":
		s.log.Info("code exchange refused", "err", err)
		s.renderPage(w, http.StatusBadRequest, "Sign-in expired", "The identity provider no longer accepts this sign-in (it was already used, took too long, or belongs to another sign-in). Please sign in again.", Prefix+"login")
	case answered:
		s.log.Warn("code exchange failed", "err", err)
		s.renderPage(w, http.StatusBadGateway, "Sign-in failed", "The identity provider did not accept the sign-in. Please start again.", Prefix+"login")
	default:
		s.log.Debug("code exchange could not reach the provider", "err", err)
		s.renderRetry(w, "The identity provider is unreachable", "tokenhook could not reach the identity provider to finish the sign-in. Sign in again in a moment.", Prefix+"login")
	}
}
