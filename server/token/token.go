// Package token is the token endpoint (GET /_tokenhook/token): the browser
// hook asks it for the viewer's current access token (or a linked
// connection's), and gets what --browser-token says the page holds. It is a
// thin caller of the broker, which refreshes tokens.
package token

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/config"
	"github.com/tokenhook/tokenhook/server/dpop"
	"github.com/tokenhook/tokenhook/server/internal/answer"
	"github.com/tokenhook/tokenhook/server/session"
)

// Tokens gives the viewer's current token for a connection ("" is the
// sign-in provider's), refreshing it when needed or when stale names the
// one a backend refused; *broker.Broker is one.
type Tokens interface {
	Token(ctx context.Context, key string, sess *session.Session, name, stale string) (*session.Token, error)
}

// DPoP is the dpop mode of --browser-token.
type DPoP interface {
	// Proof verifies the DPoP proof of r, or answers r itself and
	// returns nil.
	Proof(w http.ResponseWriter, r *http.Request) *dpop.Proof
	// Answer mints the page's token for the viewer of sess, bound to p's
	// key and not outliving t, and writes it.
	Answer(w http.ResponseWriter, sess *session.Session, t *session.Token, p *dpop.Proof)
}

// Endpoint answers GET /_tokenhook/token.
type Endpoint struct {
	// Session returns the request's live session and its store key, or
	// broker.ErrLoginRequired when it has none.
	Session func(r *http.Request) (*session.Session, string, error)
	// SignOut clears the session cookies of a session that has ended.
	SignOut func(w http.ResponseWriter)
	Tokens  Tokens
	// Connections reports whether name is a configured connection.
	Connections func(name string) bool
	// Mode is what the page holds: config.BrowserTokenBearer,
	// config.BrowserTokenDPoP or config.BrowserTokenNone.
	Mode string
	// DPoP is used when Mode is config.BrowserTokenDPoP.
	DPoP DPoP
	// LoginPath is where the viewer signs in; ConnectPath is the prefix of
	// the connect endpoint, the connection's name follows it.
	LoginPath, ConnectPath string
	Log                    *slog.Logger
}

// Answer is the endpoint's JSON answer with a token: the provider's in
// bearer mode, one minted by tokenhook (with expires_in) in dpop mode.
type Answer struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in,omitempty"`
	ExpiresAt   int64  `json:"expires_at"`
	Scope       string `json:"scope,omitempty"`
}

// sessionState is what the endpoint answers with --browser-token none.
type sessionState struct {
	TokenType string `json:"token_type"` // "none"
	ExpiresAt int64  `json:"expires_at"`
}

func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Vary", "Cookie")
	if !answer.BrowserCall(w, r) {
		return
	}
	stale := r.Header.Get("X-TokenHook-Stale")
	if len(stale) > 64 {
		answer.Error(w, http.StatusBadRequest, "invalid_request", "X-TokenHook-Stale is too long")
		return
	}
	// ?connection=NAME: the viewer's token for a linked connection (the
	// browser hook uses it for requests to that connection's API origin).
	name := r.URL.Query().Get("connection")
	if name != "" && !e.Connections(name) {
		if len(name) > 40 {
			name = name[:40] + "…"
		}
		answer.Error(w, http.StatusNotFound, "invalid_target", "no connection named "+name)
		return
	}
	var t *session.Token
	var proof *dpop.Proof
	sess, key, err := e.Session(r)
	if err == nil && e.DPoP != nil {
		// The session first: strangers never reach the replay cache.
		if name != "" {
			answer.Error(w, http.StatusBadRequest, "invalid_request", "connection tokens are not handed to the page with --browser-token dpop")
			return
		}
		if proof = e.DPoP.Proof(w, r); proof == nil {
			return
		}
	}
	if err == nil {
		if stale != "" && e.Mode != config.BrowserTokenBearer {
			// The page never held a token: its report means that the app
			// refused the one tokenhook attached, the session's current one.
			stale = currentTokenHash(sess, name)
		}
		t, err = e.Tokens.Token(r.Context(), key, sess, name, stale)
	}
	switch {
	case errors.Is(err, broker.ErrLoginRequired):
		if name == "" {
			e.SignOut(w)
		}
		answer.Error(w, http.StatusUnauthorized, "login_required", "sign in at "+e.LoginPath)
	case errors.Is(err, broker.ErrConnectionRequired):
		answer.JSON(w, http.StatusUnauthorized, map[string]string{"error": "connection_required",
			"error_description": "link " + name + " first", "connect_url": e.ConnectPath + url.PathEscape(name)})
	case answer.StoreUnavailable(w, err):
		e.Log.Warn("session store unavailable", "err", err)
	case err != nil:
		e.Log.Warn("token refresh failed", "connection", name, "err", err)
		answer.Error(w, http.StatusBadGateway, "temporarily_unavailable", "the provider could not refresh the token; try again")
	case e.Mode == config.BrowserTokenNone:
		// Backend-for-frontend: the page learns that the session is live
		// and until when, never a token.
		answer.JSON(w, http.StatusOK, sessionState{TokenType: config.BrowserTokenNone, ExpiresAt: sess.ExpiresAt.Unix()})
	case proof != nil:
		e.DPoP.Answer(w, sess, t, proof)
	default:
		tt := t.TokenType
		if tt == "" || strings.EqualFold(tt, "bearer") {
			tt = "Bearer"
		}
		answer.JSON(w, http.StatusOK, Answer{AccessToken: t.AccessToken, TokenType: tt, ExpiresAt: t.Expiry.Unix(), Scope: t.Scope})
	}
}

// currentTokenHash is the broker.TokenHash of the access token sess holds
// for the connection name ("" for the sign-in provider), or "" when it
// holds none.
func currentTokenHash(sess *session.Session, name string) string {
	t := &sess.Token
	if name != "" {
		t = sess.Connections[name]
	}
	if t == nil || t.AccessToken == "" {
		return ""
	}
	return broker.TokenHash(t.AccessToken)
}
