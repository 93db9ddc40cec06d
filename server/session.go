package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/oauth2"

	"github.com/tokenhook/tokenhook/server/audit"
	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/dpop"
	"github.com/tokenhook/tokenhook/server/internal/answer"
	"github.com/tokenhook/tokenhook/server/session"
	"github.com/tokenhook/tokenhook/server/token"
)

// errLoginRequired means the viewer has no usable session.
var errLoginRequired = broker.ErrLoginRequired

// startSession stores sess under a new random id, sets the session cookie and
// returns the id. A new id on every sign-in prevents session fixation.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, sess *session.Session) (string, error) {
	id := randomString(32)
	if err := s.store.Save(r.Context(), session.Key(id), sess); err != nil {
		return "", err
	}
	if err := s.setSessionCookie(w, s.sessionCookie, id); err != nil {
		return "", err
	}
	return id, nil
}

// setSessionCookie sets a cookie carrying the session id. The first-party
// cookie is SameSite=Lax. The embed cookie, set when an iframe claims a
// sign-in, must travel in a cross-site iframe: SameSite=None, and therefore
// Secure, and Partitioned (CHIPS) so browsers that block third-party cookies
// keep it in the iframe's own top-level-site partition.
func (s *Server) setSessionCookie(w http.ResponseWriter, name, id string) error {
	val, err := s.idCookie.Encode(name, []byte(id))
	if err != nil {
		return fmt.Errorf("encode session cookie: %w", err)
	}
	c := &http.Cookie{Name: name, Value: val, Path: "/", MaxAge: int(s.cfg.SessionTTL.Seconds()), HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
	if name == s.embedCookie {
		c.SameSite, c.Secure, c.Partitioned = http.SameSiteNoneMode, true, true
	}
	http.SetCookie(w, c)
	return nil
}

// sessionKey returns the store key of the request's session cookie (the
// first-party one, else the embed one), or "". A tampered, foreign or expired
// cookie yields "".
func (s *Server) sessionKey(r *http.Request) string {
	for _, name := range []string{s.sessionCookie, s.embedCookie} {
		c, err := r.Cookie(name)
		if err != nil || len(c.Value) > 4096 {
			continue
		}
		var id []byte
		if err := s.idCookie.Decode(name, c.Value, &id); err != nil || len(id) == 0 {
			continue
		}
		return session.Key(string(id))
	}
	return ""
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: s.embedCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode, Partitioned: true})
}

// loadSession returns the request's live session and its key.
func (s *Server) loadSession(r *http.Request) (*session.Session, string, error) {
	key := s.sessionKey(r)
	if key == "" {
		return nil, "", errLoginRequired
	}
	sess, err := s.store.Load(r.Context(), key)
	if errors.Is(err, session.ErrNotFound) {
		return nil, key, errLoginRequired
	}
	if err != nil {
		s.metrics.StoreError(s.storeName)
		return nil, key, err
	}
	return sess, key, nil
}

// hasSession reports whether the request carries the cookie of a live session.
func (s *Server) hasSession(r *http.Request) bool {
	_, _, err := s.loadSession(r)
	return err == nil
}

// tokenEndpoint is the token endpoint of package token, fed by the
// server's sessions, broker and dpop mode.
func (s *Server) tokenEndpoint() *token.Endpoint {
	e := &token.Endpoint{Session: s.loadSession, SignOut: s.clearSessionCookie, Tokens: s.broker, Connections: s.connections.Has,
		Mode: s.cfg.BrowserToken, LoginPath: Prefix + "login", ConnectPath: Prefix + "connect/", Log: s.log}
	if s.pageDPoP != nil {
		e.DPoP = pageDPoPMode{s}
	}
	return e
}

// pageDPoPMode is the token endpoint's view of the dpop mode.
type pageDPoPMode struct{ s *Server }

func (m pageDPoPMode) Proof(w http.ResponseWriter, r *http.Request) *dpop.Proof {
	return m.s.pageDPoP.proof(w, r)
}

func (m pageDPoPMode) Answer(w http.ResponseWriter, sess *session.Session, t *session.Token, p *dpop.Proof) {
	m.s.answerDPoPToken(w, sess, t, p)
}

func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	sess, _, err := s.loadSession(r)
	if err != nil {
		writeJSONError(w, http.StatusUnauthorized, "login_required", "sign in at "+Prefix+"login")
		return
	}
	claims := sess.Claims
	if len(claims) == 0 {
		claims, _ = json.Marshal(map[string]string{"sub": sess.Subject})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(claims)
}

// handleLogout ends the session. CSRF defence: the X-TokenHook header (set
// by the browser hook) or an Origin header equal to our public origin, and
// never a cross-site fetch. Script callers get JSON with the provider's
// logout URL; form posts are redirected there.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	byScript := r.Header.Get("X-TokenHook") == "1"
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" || (!byScript && r.Header.Get("Origin") != s.cfg.PublicURL) {
		writeJSONError(w, http.StatusForbidden, "forbidden", "logout must come from this site")
		return
	}
	if sess, key, err := s.loadSession(r); key != "" {
		if err := s.store.Delete(r.Context(), key); err != nil {
			s.log.Error("delete session", "err", err)
		}
		if err == nil {
			s.audit.Record(r.Context(), audit.SignOut, sess.Subject)
		}
	}
	s.clearSessionCookie(w)
	logoutURL := ""
	if p := s.broker.SignIn().Provider(); p != nil && p.EndSession != "" {
		q := url.Values{"client_id": {s.cfg.ClientID}, "post_logout_redirect_uri": {s.cfg.PublicURL + "/"}}
		logoutURL = p.EndSession + "?" + q.Encode()
	}
	if byScript {
		writeJSON(w, http.StatusOK, map[string]string{"logout_url": logoutURL})
		return
	}
	if logoutURL == "" {
		logoutURL = "/"
	}
	http.Redirect(w, r, logoutURL, http.StatusSeeOther)
}

// fetchUserinfo reads the claims of a plain OAuth 2.0 provider's user.
func (s *Server) fetchUserinfo(r *http.Request, tok *oauth2.Token) ([]byte, error) {
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.UserinfoURL, nil)
	if err != nil {
		return nil, err
	}
	tok.SetAuthHeader(req)
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("userinfo: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("userinfo: status %s", strconv.Itoa(resp.StatusCode))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil || !json.Valid(b) {
		return nil, errors.New("userinfo: not a JSON answer")
	}
	return b, nil
}

// writeJSON is answer.JSON.
func writeJSON(w http.ResponseWriter, status int, v any) { answer.JSON(w, status, v) }

// writeJSONError is answer.Error.
func writeJSONError(w http.ResponseWriter, status int, code, desc string) {
	answer.Error(w, status, code, desc)
}
