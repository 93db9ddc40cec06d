package server

import (
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/tokenhook/tokenhook/server/connection"
	"github.com/tokenhook/tokenhook/server/session"
)

const (
	grantTokenExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// exchangeAnswer is the RFC 8693 success response.
type exchangeAnswer struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
}

// handleExchange is the RFC 8693 token exchange the upstream app calls to get
// the viewer's token for a connection: POST /_tokenhook/exchange with
// grant_type=urn:ietf:params:oauth:grant-type:token-exchange,
// subject_token=<the X-TokenHook-Session assertion>,
// subject_token_type=urn:tokenhook:params:oauth:token-type:session and
// audience=<connection name, or "signin">.
//
// Only the upstream side may call it: browsers are refused by their fetch
// metadata and Origin headers, and callers must present the exchange secret
// (HTTP Basic, any user name) or, when no secret is configured, connect from
// a loopback address.
func (s *Server) handleExchange(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Mode") != "" || r.Header.Get("Sec-Fetch-Site") != "" {
		writeJSONError(w, http.StatusForbidden, "access_denied", "the exchange endpoint is for the app's backend, not for browsers")
		return
	}
	if s.cfg.ExchangeSecret != "" {
		_, pw, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(pw), []byte(s.cfg.ExchangeSecret)) != 1 {
			h.Set("WWW-Authenticate", `Basic realm="tokenhook exchange"`)
			writeJSONError(w, http.StatusUnauthorized, "invalid_client", "present the exchange secret with HTTP Basic authentication")
			return
		}
	} else if !fromLoopback(r) {
		writeJSONError(w, http.StatusForbidden, "access_denied", "without --exchange-secret only loopback callers may exchange")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "send an application/x-www-form-urlencoded body of at most 16 KB")
		return
	}
	req, perr := parseExchangeRequest(r.PostForm)
	if perr != nil {
		writeJSONError(w, http.StatusBadRequest, perr.code, perr.desc)
		return
	}
	audience := req.audience
	if _, known := s.conns[audience]; !known && audience != connection.ReservedName {
		writeJSONError(w, http.StatusBadRequest, "invalid_target", "unknown audience "+clip(audience, 40)+": name a configured connection or "+connection.ReservedName)
		return
	}
	claims, err := s.assertions.verify(req.subjectToken, s.cfg.PublicURL, s.assertionAudience(), s.now())
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid_grant", "the session assertion is invalid or expired")
		return
	}
	sess, err := s.store.Load(r.Context(), claims.SID)
	if errors.Is(err, session.ErrNotFound) {
		writeJSONError(w, http.StatusBadRequest, "invalid_grant", "the viewer's session has ended")
		return
	}
	if err != nil {
		s.log.Error("exchange: load session", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "server_error", "could not read the session")
		return
	}
	name := audience
	if name == connection.ReservedName {
		name = ""
	}
	t, err := s.broker.Token(r.Context(), claims.SID, sess, name, "")
	switch {
	case errors.Is(err, errConnectionRequired):
		connect := s.cfg.PublicURL + Prefix + "connect/" + url.PathEscape(audience)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_target",
			"error_description": "the viewer has not connected " + audience + "; send them to " + connect, "connect_url": connect})
		return
	case errors.Is(err, errLoginRequired):
		writeJSONError(w, http.StatusBadRequest, "invalid_grant", "the viewer's session has ended")
		return
	case err != nil:
		s.log.Warn("exchange: refresh failed", "connection", audience, "err", err)
		writeJSONError(w, http.StatusBadGateway, "temporarily_unavailable", "the provider could not refresh the token; try again")
		return
	}
	writeJSON(w, http.StatusOK, exchangeAnswer{AccessToken: t.AccessToken, IssuedTokenType: tokenTypeAccessToken,
		TokenType: "Bearer", ExpiresIn: max(0, int64(t.Expiry.Sub(s.now())/time.Second)), Scope: t.Scope})
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
	if f.Get("grant_type") != grantTokenExchange {
		return exchangeRequest{}, &exchangeError{"unsupported_grant_type", "grant_type must be " + grantTokenExchange}
	}
	if f.Get("subject_token_type") != SessionTokenType || f.Get("subject_token") == "" {
		return exchangeRequest{}, &exchangeError{"invalid_request", "subject_token must be the " + SessionHeader + " assertion, subject_token_type " + SessionTokenType}
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
