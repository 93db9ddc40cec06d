// Package signin is tokenhook's sign-in: the login, callback and logout
// handlers (OAuth 2.0 authorization code with PKCE, state and nonce; the
// client secret stays on the server), the short-lived sign-in transaction
// cookie, and the session cookie that names a viewer's session (Sessions).
package signin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gorilla/sessions"
	"golang.org/x/oauth2"

	"github.com/tokenhook/tokenhook/server/assertion"
	"github.com/tokenhook/tokenhook/server/audit"
	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/handover"
	"github.com/tokenhook/tokenhook/server/internal/answer"
	"github.com/tokenhook/tokenhook/server/once"
	"github.com/tokenhook/tokenhook/server/page"
	"github.com/tokenhook/tokenhook/server/session"
)

// Timeout is how long a started sign-in may take.
const Timeout = 10 * time.Minute

// Flow answers the sign-in endpoints. Build it with New and fill in every
// exported field before use.
type Flow struct {
	// Broker holds the sign-in client and its provider (nil until
	// discovered: the login page then asks to try again).
	Broker *broker.Broker
	// Sessions starts the session of a finished sign-in and ends it at
	// logout.
	Sessions *Sessions
	// States records used sign-in states, so an answer is used once.
	States once.Store
	// Handover completes popup sign-ins started by an iframe.
	Handover *handover.Handover
	// Connections finishes a connection's code flow, which shares the
	// callback (see BeginConnect).
	Connections *assertion.Connections
	// Audit records sign-ins and sign-outs.
	Audit *audit.Log
	// Reachable reports whether a viewer may be sent to the provider's
	// authorization URL; a viewer gets a retry page otherwise.
	Reachable func(ctx context.Context, authURL string) bool
	// Client makes the calls to a plain OAuth 2.0 provider's userinfo.
	Client *http.Client
	// Scopes are the scopes requested at sign-in.
	Scopes []string
	// SessionTTL is how long a session lives.
	SessionTTL time.Duration
	// UserinfoURL is where a plain OAuth 2.0 provider's user claims are
	// read ("" for none; OpenID providers give an ID token instead).
	UserinfoURL string
	// ClientID names tokenhook at the provider's logout.
	ClientID string
	// Origin is tokenhook's public origin: where the provider's logout
	// returns to, and the only Origin a logout form may post from.
	Origin string
	// LoginPath is where sign-in starts; error pages link there.
	LoginPath string
	// Log receives the flow's warnings and errors (never a token, code or
	// cookie).
	Log *slog.Logger
	// Now is the clock.
	Now func() time.Time

	tx     *sessions.CookieStore // the sign-in transaction cookie
	txName string
}

// New returns a sign-in flow whose transaction cookie is sealed with
// hashKey and blockKey (32 bytes each); secure says whether tokenhook is
// served over https (the cookie is then a Secure __Host- cookie).
func New(hashKey, blockKey []byte, secure bool) *Flow {
	f := &Flow{tx: sessions.NewCookieStore(hashKey, blockKey), txName: "tokenhook-login"}
	if secure {
		f.txName = "__Host-tokenhook-login"
	}
	f.tx.Options = &sessions.Options{Path: "/", MaxAge: int(Timeout.Seconds()), HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
	f.tx.MaxAge(int(Timeout.Seconds()))
	return f
}

// Login starts a sign-in: it keeps state, nonce, PKCE verifier and the
// return path in the transaction cookie and sends the viewer to the
// provider. With popup=1 it is an iframe's popup sign-in, whose channel and
// challenge travel in the transaction cookie too.
func (f *Flow) Login(w http.ResponseWriter, r *http.Request) {
	p := f.Broker.SignIn().Provider()
	if p == nil {
		renderRetry(w, "Sign-in is starting", "tokenhook cannot reach the identity provider yet. Try again in a moment.", r.URL.RequestURI())
		return
	}
	q := r.URL.Query()
	rd := SafeRedirect(q.Get("rd"))
	channel, challenge := "", ""
	if q.Get("popup") == "1" {
		channel, challenge = q.Get("channel"), q.Get("challenge")
		if !handover.ValidChannel(channel) || !handover.ValidChallenge(challenge) {
			page.SignInNotice(w, http.StatusBadRequest, "Sign-in failed", "This sign-in window was opened with a damaged link. Close it and use the dashboard's sign-in button again.", "")
			return
		}
	}
	// A provider tokenhook's own calls found unreachable gets no viewer sent
	// to it: the viewer gets this page and its retry instead of the
	// browser's connection error.
	if !f.Reachable(r.Context(), p.OAuth.Endpoint.AuthURL) {
		renderRetry(w, "The identity provider is unreachable", "tokenhook cannot reach the identity provider right now, so signing in is not possible. Try again in a moment.", r.URL.RequestURI())
		return
	}
	state, nonce, verifier := randomString(32), randomString(32), oauth2.GenerateVerifier()
	tx, _ := f.tx.New(r, f.txName) // a fresh transaction; an old or bad cookie is replaced
	tx.Values["state"] = state
	tx.Values["nonce"] = nonce
	tx.Values["verifier"] = verifier
	tx.Values["rd"] = rd
	// A popup sign-in stores nothing on the server until it succeeds: the
	// frame's channel and challenge travel in the transaction cookie.
	tx.Values["channel"] = channel
	tx.Values["challenge"] = challenge
	if err := tx.Save(r, w); err != nil {
		f.Log.Error("save sign-in transaction", "err", err)
		page.SignInNotice(w, http.StatusInternalServerError, "Sign-in failed", "tokenhook could not start the sign-in.", "")
		return
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if p.Verifier != nil {
		opts = append(opts, oidc.Nonce(nonce))
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.OAuth.AuthCodeURL(state, opts...), http.StatusFound)
}

// Callback finishes a sign-in (or a connection's code flow): it checks the
// answer against the transaction cookie, exchanges the code, verifies the
// ID token, starts the session and returns the viewer where they were (or
// completes the popup's hand-over).
func (f *Flow) Callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := f.Broker.SignIn().Provider()
	tx, _ := f.tx.Get(r, f.txName)
	// The transaction is single-use whatever happens next.
	tx.Options.MaxAge = -1
	_ = tx.Save(r, w)
	w.Header().Set("Cache-Control", "no-store")

	if e := q.Get("error"); e != "" {
		desc := q.Get("error_description")
		f.Log.Warn("identity provider refused sign-in", "error", clip(e, 64))
		title := "Sign-in was not completed"
		if e == "access_denied" {
			title = "Access was denied"
		}
		page.SignInNotice(w, http.StatusForbidden, title, "The identity provider answered: "+clip(e, 64)+describe(desc), f.LoginPath+"?rd="+url.QueryEscape(txString(tx.Values, "rd")))
		return
	}
	state, _ := tx.Values["state"].(string)
	if p == nil || state == "" {
		page.SignInNotice(w, http.StatusBadRequest, "Sign-in expired", "This sign-in was started too long ago, already finished, or in another browser. Please start again.", f.LoginPath)
		return
	}
	if subtle.ConstantTimeCompare([]byte(state), []byte(q.Get("state"))) != 1 {
		f.Log.Warn("sign-in state mismatch")
		page.SignInNotice(w, http.StatusBadRequest, "Sign-in could not be verified", "The sign-in answer does not belong to this browser's sign-in. Please start again.", f.LoginPath)
		return
	}
	code := q.Get("code")
	if code == "" || len(code) > 4096 {
		page.SignInNotice(w, http.StatusBadRequest, "Sign-in failed", "The identity provider's answer carried no authorization code.", f.LoginPath)
		return
	}
	verifier, _ := tx.Values["verifier"].(string)
	if name := txString(tx.Values, "conn"); name != "" {
		// The connection's exchange is Connections.Finish's: the state is
		// burnt before it (the store is bounded by age, so this cannot
		// deny service either).
		if !f.useState(w, r, state) {
			return
		}
		f.Connections.Finish(w, r, code, assertion.Transaction{State: state, Verifier: verifier, Connection: name,
			Return: SafeRedirect(txString(tx.Values, "rd")), Popup: txString(tx.Values, "connpopup") == "1"})
		return
	}
	ctx := r.Context()
	tok, err := f.Broker.SignIn().Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		f.exchangeFailed(w, err)
		return
	}
	// The state is burnt only now, after the provider accepted the code: an
	// answer that carried no code, or a code the provider refused, burns
	// nothing, so no stranger can fill the store with states.
	if !f.useState(w, r, state) {
		return
	}
	now := f.Now()
	sess := &session.Session{Token: broker.TokenFrom(tok, f.Scopes, now), Created: now, ExpiresAt: now.Add(f.SessionTTL)}
	if p.Verifier != nil {
		raw, _ := tok.Extra("id_token").(string)
		if raw == "" {
			page.SignInNotice(w, http.StatusBadGateway, "Sign-in failed", "The identity provider returned no ID token.", f.LoginPath)
			return
		}
		idt, err := p.Verifier.Verify(ctx, raw)
		if err != nil {
			f.Log.Warn("ID token rejected", "err", err)
			page.SignInNotice(w, http.StatusBadGateway, "Sign-in failed", "The identity provider's ID token could not be verified.", f.LoginPath)
			return
		}
		nonce, _ := tx.Values["nonce"].(string)
		if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
			f.Log.Warn("ID token nonce mismatch")
			page.SignInNotice(w, http.StatusBadRequest, "Sign-in could not be verified", "The ID token does not belong to this sign-in. Please start again.", f.LoginPath)
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
	} else if f.UserinfoURL != "" {
		if claims, err := f.fetchUserinfo(r, tok); err != nil {
			f.Log.Warn("userinfo failed", "err", err)
		} else {
			sess.Claims = claims
		}
	}
	if tok.Expiry.IsZero() && sess.RefreshToken == "" {
		sess.Expiry = sess.ExpiresAt // a token that does not say when it expires
	}
	id, err := f.Sessions.Start(w, r, sess)
	if err != nil {
		f.Log.Error("create session", "err", err)
		page.SignInNotice(w, http.StatusInternalServerError, "Sign-in failed", "tokenhook could not store the session.", f.LoginPath)
		return
	}
	f.Audit.Record(r.Context(), audit.SignIn, sess.Subject, slog.Bool("popup", txString(tx.Values, "channel") != ""))
	if channel := txString(tx.Values, "channel"); channel != "" {
		f.Handover.Complete(w, r, channel, txString(tx.Values, "challenge"), id)
		return
	}
	http.Redirect(w, r, SafeRedirect(txString(tx.Values, "rd")), http.StatusFound)
}

// BeginConnect keeps a connection's code flow in the sign-in transaction
// cookie, for the callback (see assertion.Connections).
func (f *Flow) BeginConnect(w http.ResponseWriter, r *http.Request, t assertion.Transaction) error {
	tx, _ := f.tx.New(r, f.txName)
	tx.Values["state"] = t.State
	tx.Values["verifier"] = t.Verifier
	tx.Values["rd"] = t.Return
	tx.Values["conn"] = t.Connection
	if t.Popup {
		tx.Values["connpopup"] = "1"
	}
	return tx.Save(r, w)
}

// Logout ends the session. CSRF defence: the X-TokenHook header (set by
// the browser hook) or an Origin header equal to Origin, and never a
// cross-site fetch. Script callers get JSON with the provider's logout
// URL; form posts are redirected there.
func (f *Flow) Logout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	byScript := r.Header.Get("X-TokenHook") == "1"
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" || (!byScript && r.Header.Get("Origin") != f.Origin) {
		answer.Error(w, http.StatusForbidden, "forbidden", "logout must come from this site")
		return
	}
	if sess, key, err := f.Sessions.Load(r); key != "" {
		if err := f.Sessions.Store.Delete(r.Context(), key); err != nil {
			f.Log.Error("delete session", "err", err)
		}
		if err == nil {
			f.Audit.Record(r.Context(), audit.SignOut, sess.Subject)
		}
	}
	f.Sessions.Clear(w)
	logoutURL := ""
	if p := f.Broker.SignIn().Provider(); p != nil && p.EndSession != "" {
		q := url.Values{"client_id": {f.ClientID}, "post_logout_redirect_uri": {f.Origin + "/"}}
		logoutURL = p.EndSession + "?" + q.Encode()
	}
	if byScript {
		answer.JSON(w, http.StatusOK, map[string]string{"logout_url": logoutURL})
		return
	}
	if logoutURL == "" {
		logoutURL = "/"
	}
	http.Redirect(w, r, logoutURL, http.StatusSeeOther)
}

func txString(v map[any]any, k string) string {
	s, _ := v[k].(string)
	return s
}

// useState burns a sign-in state in the one-time store, and answers the
// callback itself (false) when the state was used before or the store
// failed.
func (f *Flow) useState(w http.ResponseWriter, r *http.Request, state string) bool {
	fresh, err := f.States.UseOnce(r.Context(), "state:"+state, Timeout)
	if err != nil {
		f.Log.Error("one-time state store", "err", err)
		page.SignInNotice(w, http.StatusInternalServerError, "Sign-in failed", "tokenhook could not record the sign-in.", f.LoginPath)
		return false
	}
	if !fresh {
		f.Log.Warn("sign-in state replayed")
		page.SignInNotice(w, http.StatusBadRequest, "Sign-in could not be verified", "This sign-in answer was used before. Please start again.", f.LoginPath)
		return false
	}
	return true
}
