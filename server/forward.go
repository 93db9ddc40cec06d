package server

import (
	"context"
	"net/http"
	"sync"

	"github.com/tokenhook/tokenhook/server/session"
)

// forward is the handler for everything outside /_tokenhook/: package proxy
// decides whether a request may reach the app (bearer, session, rules,
// WebSocket origin) and forwards it with the viewer's identity. Client-sent
// session assertions are removed here, before anything else sees them.
func (s *Server) forward(w http.ResponseWriter, r *http.Request) {
	r.Header.Del(SessionHeader)
	if s.upstream == nil {
		writeJSONError(w, http.StatusNotFound, "not_found", "no upstream is configured (--upstream)")
		return
	}
	// The proxy asks for the session (SessionClaims) and the assertion hook
	// needs it too: load it at most once per request.
	s.upstream.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionMemoKey{}, &sessionMemo{})))
}

// sessionMemoKey carries a request's *sessionMemo in its context.
type sessionMemoKey struct{}

// sessionMemo is the request's session, loaded on first use.
type sessionMemo struct {
	once sync.Once
	sess *session.Session
	key  string
	err  error
}

// requestSession is loadSession, memoised for requests that went through
// forward.
func (s *Server) requestSession(r *http.Request) (*session.Session, string, error) {
	m, ok := r.Context().Value(sessionMemoKey{}).(*sessionMemo)
	if !ok {
		return s.loadSession(r)
	}
	m.once.Do(func() { m.sess, m.key, m.err = s.loadSession(r) })
	return m.sess, m.key, m.err
}
