package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"

	"golang.org/x/oauth2"

	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/connection"
	"github.com/tokenhook/tokenhook/server/internal/answer"
)

// conn is a configured connection (its OAuth client is registered with the
// broker under the same name).
type conn struct {
	spec   connection.Spec
	ep     connection.Endpoints
	secret string
}

// newConns resolves the configured connections.
func newConns(specs []connection.Spec) (map[string]*conn, error) {
	out := make(map[string]*conn, len(specs))
	for _, sp := range specs {
		ep, err := connection.Resolve(sp)
		if err != nil {
			return nil, err
		}
		if _, dup := out[sp.Name]; dup {
			return nil, &connection.Error{Connection: sp.Name, Field: "name", Reason: "used twice"}
		}
		secret := sp.ClientSecret
		if sp.ClientSecretFile != "" {
			if secret != "" {
				return nil, &connection.Error{Connection: sp.Name, Field: "client-secret", Reason: "set client-secret or client-secret-file, not both"}
			}
			b, err := os.ReadFile(sp.ClientSecretFile)
			if err != nil {
				return nil, &connection.Error{Connection: sp.Name, Field: "client-secret-file", Reason: fmt.Sprintf("cannot read %s: %v", sp.ClientSecretFile, errors.Unwrap(err))}
			}
			secret = strings.TrimRight(string(b), "\r\n")
		}
		if secret == "" {
			return nil, &connection.Error{Connection: sp.Name, Field: "client-secret", Reason: "required (or client-secret-file)"}
		}
		out[sp.Name] = &conn{spec: sp, ep: ep, secret: secret}
	}
	return out, nil
}

// handleConnect starts linking a connection for the signed-in viewer:
// GET /_tokenhook/connect/{name}?rd=/path[&popup=1].
func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, ok := s.conns[name]; !ok {
		s.renderPage(w, http.StatusNotFound, "Unknown connection", "No connection named "+clip(name, 40)+" is configured.", "")
		return
	}
	rd := safeRedirect(r.URL.Query().Get("rd"))
	if !s.hasSession(r) {
		back := Prefix + "connect/" + url.PathEscape(name) + "?" + url.Values{"rd": {rd}}.Encode()
		http.Redirect(w, r, Prefix+"login?"+url.Values{"rd": {back}}.Encode(), http.StatusFound)
		return
	}
	p, err := s.broker.Client(name).Discover(r.Context())
	if err != nil {
		s.log.Warn("connection unavailable", "connection", name, "err", err)
		s.renderPage(w, http.StatusBadGateway, "Connection unavailable", "tokenhook cannot reach "+name+"'s sign-in right now. Try again in a moment.", "")
		return
	}
	state, verifier := randomString(32), oauth2.GenerateVerifier()
	tx, _ := s.txStore.New(r, s.txCookie)
	tx.Values["state"] = state
	tx.Values["verifier"] = verifier
	tx.Values["rd"] = rd
	tx.Values["conn"] = name
	if r.URL.Query().Get("popup") == "1" {
		tx.Values["connpopup"] = "1"
	}
	if err := tx.Save(r, w); err != nil {
		s.log.Error("save connect transaction", "err", err)
		s.renderPage(w, http.StatusInternalServerError, "Connection failed", "tokenhook could not start linking the connection.", "")
		return
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	for k, v := range p.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.OAuth.AuthCodeURL(state, opts...), http.StatusFound)
}

// finishConnect completes a connection's code flow: the callback calls it
// once state has been checked.
func (s *Server) finishConnect(w http.ResponseWriter, r *http.Request, name, code, verifier, rd string, popup bool) {
	sess, key, err := s.loadSession(r)
	if err != nil {
		s.renderPage(w, http.StatusUnauthorized, "Signed out", "Your session ended while linking "+name+". Sign in and link it again.", Prefix+"login")
		return
	}
	c := s.broker.Client(name)
	tok, err := c.Exchange(r.Context(), code, oauth2.VerifierOption(verifier))
	if errors.Is(err, broker.ErrUnavailable) {
		s.renderPage(w, http.StatusBadGateway, "Connection failed", "tokenhook cannot reach "+name+" right now.", "")
		return
	}
	if err != nil {
		s.log.Warn("connection code exchange failed", "connection", name, "err", err)
		s.renderPage(w, http.StatusBadGateway, "Connection failed", name+" did not accept the link. Please try again.", "")
		return
	}
	err = s.broker.Link(r.Context(), key, name, broker.TokenFrom(tok, c.Provider().OAuth.Scopes, s.now()))
	if errors.Is(err, broker.ErrLoginRequired) {
		s.renderPage(w, http.StatusUnauthorized, "Signed out", "Your session ended while linking "+name+". Sign in and link it again.", Prefix+"login")
		return
	}
	if err != nil {
		s.log.Error("save connection", "err", err)
		s.renderPage(w, http.StatusInternalServerError, "Connection failed", "tokenhook could not store the connection.", "")
		return
	}
	s.log.Info("connection linked", "sub", sess.Subject, "connection", name)
	if popup {
		s.renderPage(w, http.StatusOK, "Connected", name+" is linked. You can close this window and return to the dashboard.", "")
		return
	}
	http.Redirect(w, r, rd, http.StatusFound)
}

// connectionInfo is one entry of GET /_tokenhook/connections (never tokens).
type connectionInfo struct {
	Name       string `json:"name"`
	Preset     string `json:"preset,omitempty"`
	Connected  bool   `json:"connected"`
	ExpiresAt  int64  `json:"expires_at,omitempty"`
	Scope      string `json:"scope,omitempty"`
	ConnectURL string `json:"connect_url"`
}

func (s *Server) handleConnections(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	sess, _, err := s.loadSession(r)
	if err != nil {
		writeJSONError(w, http.StatusUnauthorized, "login_required", "sign in at "+Prefix+"login")
		return
	}
	list := make([]connectionInfo, 0, len(s.conns))
	for name, c := range s.conns {
		ci := connectionInfo{Name: name, Preset: c.spec.Preset, ConnectURL: Prefix + "connect/" + name}
		if t := sess.Connections[name]; t != nil {
			ci.Connected, ci.ExpiresAt, ci.Scope = true, t.Expiry.Unix(), t.Scope
		}
		list = append(list, ci)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	writeJSON(w, http.StatusOK, map[string]any{"connections": list})
}

// handleDisconnect forgets a connection's tokens: DELETE
// /_tokenhook/connections/{name} with the X-TokenHook header.
func (s *Server) handleDisconnect(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !answer.BrowserCall(w, r) {
		return
	}
	name := r.PathValue("name")
	if _, ok := s.conns[name]; !ok {
		writeJSONError(w, http.StatusNotFound, "not_found", "no such connection")
		return
	}
	_, key, err := s.loadSession(r)
	if err != nil {
		writeJSONError(w, http.StatusUnauthorized, "login_required", "sign in at "+Prefix+"login")
		return
	}
	err = s.broker.Unlink(r.Context(), key, name)
	if errors.Is(err, broker.ErrLoginRequired) {
		writeJSONError(w, http.StatusUnauthorized, "login_required", "sign in at "+Prefix+"login")
		return
	}
	if err != nil {
		s.log.Error("save session", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "server_error", "could not disconnect")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
