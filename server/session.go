package server

import (
	"encoding/json"
	"net/http"

	"github.com/tokenhook/tokenhook/server/dpop"
	"github.com/tokenhook/tokenhook/server/internal/answer"
	"github.com/tokenhook/tokenhook/server/session"
	"github.com/tokenhook/tokenhook/server/token"
)

// tokenEndpoint is the token endpoint of package token, fed by the
// server's sessions, broker and dpop mode.
func (s *Server) tokenEndpoint() *token.Endpoint {
	e := &token.Endpoint{Session: s.sessions.Load, SignOut: s.sessions.Clear, Tokens: s.broker, Connections: s.connections.Has,
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
	sess, _, err := s.sessions.Load(r)
	if err != nil {
		answer.Error(w, http.StatusUnauthorized, "login_required", "sign in at "+Prefix+"login")
		return
	}
	claims := sess.Claims
	if len(claims) == 0 {
		claims, _ = json.Marshal(map[string]string{"sub": sess.Subject})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(claims)
}
