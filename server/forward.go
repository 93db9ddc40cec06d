package server

import (
	"net/http"

	"github.com/tokenhook/tokenhook/server/internal/answer"
)

// forward is the handler for everything outside /_tokenhook/: package proxy
// decides the request's one identity (bearer, session, rules, WebSocket
// origin), removes client-sent headers that only tokenhook may set (the
// session assertion among them) and forwards it with the viewer's identity.
func (s *Server) forward(w http.ResponseWriter, r *http.Request) {
	if s.upstream == nil {
		answer.Error(w, http.StatusNotFound, "not_found", "no upstream is configured (--upstream)")
		return
	}
	s.upstream.ServeHTTP(w, r)
}
