package assertion

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/connection"
	"github.com/tokenhook/tokenhook/server/internal/answer"
	"github.com/tokenhook/tokenhook/server/session"
)

// The OAuth 2.0 token exchange values (RFC 8693) the exchange endpoint takes
// and gives.
const (
	GrantTokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// Tokens gives the viewer's current token for a connection ("" is the
// sign-in provider's), refreshing it when needed; *broker.Broker is one.
// Its errors include broker.ErrConnectionRequired and
// broker.ErrLoginRequired.
type Tokens interface {
	Token(ctx context.Context, key string, sess *session.Session, name, stale string) (*session.Token, error)
}

// Exchange is the token exchange endpoint (POST /_tokenhook/exchange) the
// upstream app's backend calls to get the viewer's token for a connection:
// grant_type=urn:ietf:params:oauth:grant-type:token-exchange,
// subject_token=<the Header assertion>, subject_token_type=TokenType and
// audience=<connection name, or "signin">.
//
// Only the upstream side may call it: browsers are refused by their fetch
// metadata and Origin headers, and callers must present Secret (HTTP Basic,
// any user name) or, when Secret is empty, connect from a loopback address.
type Exchange struct {
	Signer *Signer
	// Issuer is tokenhook's public URL: the assertions' iss, and where the
	// viewer connects a connection.
	Issuer string
	// Audience is the assertions' aud.
	Audience string
	// Secret authenticates the caller; empty allows loopback callers only.
	Secret string
	// Connections reports whether name is a configured connection.
	Connections func(name string) bool
	// Sessions loads the session an assertion names.
	Sessions session.Store
	Tokens   Tokens
	// ConnectPath is the path prefix of the connect endpoint; the
	// connection's name follows it.
	ConnectPath string
	Log         *slog.Logger
	Now         func() time.Time
}

// exchangeAnswer is the RFC 8693 success response.
type exchangeAnswer struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
}

func (x *Exchange) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Mode") != "" || r.Header.Get("Sec-Fetch-Site") != "" {
		answer.Error(w, http.StatusForbidden, "access_denied", "the exchange endpoint is for the app's backend, not for browsers")
		return
	}
	if x.Secret != "" {
		_, pw, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(pw), []byte(x.Secret)) != 1 {
			h.Set("WWW-Authenticate", `Basic realm="tokenhook exchange"`)
			answer.Error(w, http.StatusUnauthorized, "invalid_client", "present the exchange secret with HTTP Basic authentication")
			return
		}
	} else if !fromLoopback(r) {
		answer.Error(w, http.StatusForbidden, "access_denied", "without --exchange-secret only loopback callers may exchange")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		answer.Error(w, http.StatusBadRequest, "invalid_request", "send an application/x-www-form-urlencoded body of at most 16 KB")
		return
	}
	req, perr := parseExchangeRequest(r.PostForm)
	if perr != nil {
		answer.Error(w, http.StatusBadRequest, perr.code, perr.desc)
		return
	}
	audience := req.audience
	if !x.Connections(audience) && audience != connection.ReservedName {
		answer.Error(w, http.StatusBadRequest, "invalid_target", "unknown audience "+clip(audience, 40)+": name a configured connection or "+connection.ReservedName)
		return
	}
	claims, err := x.Signer.Verify(req.subjectToken, x.Issuer, x.Audience, x.Now())
	if err != nil {
		answer.Error(w, http.StatusBadRequest, "invalid_grant", "the session assertion is invalid or expired")
		return
	}
	sess, err := x.Sessions.Load(r.Context(), claims.SID)
	if errors.Is(err, session.ErrNotFound) {
		answer.Error(w, http.StatusBadRequest, "invalid_grant", "the viewer's session has ended")
		return
	}
	if err != nil {
		x.Log.Error("exchange: load session", "err", err)
		answer.Error(w, http.StatusInternalServerError, "server_error", "could not read the session")
		return
	}
	name := audience
	if name == connection.ReservedName {
		name = ""
	}
	t, err := x.Tokens.Token(r.Context(), claims.SID, sess, name, "")
	switch {
	case errors.Is(err, broker.ErrConnectionRequired):
		connect := x.Issuer + x.ConnectPath + url.PathEscape(audience)
		answer.JSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_target",
			"error_description": "the viewer has not connected " + audience + "; send them to " + connect, "connect_url": connect})
		return
	case errors.Is(err, broker.ErrLoginRequired):
		answer.Error(w, http.StatusBadRequest, "invalid_grant", "the viewer's session has ended")
		return
	case err != nil:
		x.Log.Warn("exchange: refresh failed", "connection", audience, "err", err)
		answer.Error(w, http.StatusBadGateway, "temporarily_unavailable", "the provider could not refresh the token; try again")
		return
	}
	answer.JSON(w, http.StatusOK, exchangeAnswer{AccessToken: t.AccessToken, IssuedTokenType: TokenTypeAccessToken,
		TokenType: "Bearer", ExpiresIn: max(0, int64(t.Expiry.Sub(x.Now())/time.Second)), Scope: t.Scope})
}

// exchangeRequest is a well-formed exchange request.
type exchangeRequest struct {
	subjectToken string // the session assertion
	audience     string // a connection name or connection.ReservedName
}

// exchangeError is an OAuth error answer (400).
type exchangeError struct{ code, desc string }

// parseExchangeRequest checks an exchange request's form parameters: the
// token-exchange grant, a session assertion as subject token, an audience,
// and no parameter given twice (RFC 6749 §3.2). Whether the audience names
// a connection is the caller's check.
func parseExchangeRequest(f url.Values) (exchangeRequest, *exchangeError) {
	for _, k := range []string{"grant_type", "subject_token", "subject_token_type", "audience"} {
		if len(f[k]) > 1 {
			return exchangeRequest{}, &exchangeError{"invalid_request", k + " is given more than once"}
		}
	}
	if f.Get("grant_type") != GrantTokenExchange {
		return exchangeRequest{}, &exchangeError{"unsupported_grant_type", "grant_type must be " + GrantTokenExchange}
	}
	if f.Get("subject_token_type") != TokenType || f.Get("subject_token") == "" {
		return exchangeRequest{}, &exchangeError{"invalid_request", "subject_token must be the " + Header + " assertion, subject_token_type " + TokenType}
	}
	return exchangeRequest{subjectToken: f.Get("subject_token"), audience: f.Get("audience")}, nil
}

func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
