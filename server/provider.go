package server

import (
	"context"
	"net/http"

	"golang.org/x/oauth2"

	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/internal/answer"
)

// newBroker registers the sign-in client and the connections' clients with
// one token broker over the server's session store. lock serialises
// refreshes (nil: in this process only).
func (s *Server) newBroker(lock broker.Locker) (*broker.Broker, error) {
	cfg := s.cfg
	signin := broker.ClientConfig{
		Issuer: cfg.Issuer, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Scopes: cfg.Scopes,
		RedirectURL: cfg.PublicURL + Prefix + "callback", VerifyIDTokens: cfg.Issuer != "",
	}
	if cfg.Issuer == "" {
		signin.Endpoint = oauth2.Endpoint{AuthURL: cfg.AuthURL, TokenURL: cfg.TokenURL}
	}
	conns := make([]broker.ClientConfig, 0, len(cfg.Connections))
	for _, sp := range cfg.Connections {
		c := s.connections.Known[sp.Name]
		cc := broker.ClientConfig{
			Name: sp.Name, Issuer: c.Endpoints.Issuer, ClientID: sp.ClientID, ClientSecret: c.Secret, Scopes: c.Endpoints.Scopes,
			RedirectURL: cfg.PublicURL + Prefix + "callback", AuthParams: c.Endpoints.AuthParams,
		}
		if c.Endpoints.Issuer == "" {
			cc.Endpoint = oauth2.Endpoint{AuthURL: c.Endpoints.AuthURL, TokenURL: c.Endpoints.TokenURL}
		}
		conns = append(conns, cc)
	}
	return broker.New(broker.Options{
		Store: s.store, Locker: lock, HTTPClient: s.client, Timeout: cfg.RefreshTimeout, CallTimeout: s.client.Timeout, RefreshSkew: cfg.RefreshSkew,
		ForcedInterval: cfg.ForcedRefreshInterval, Logger: s.log, Now: s.now, OnRefresh: s.onRefresh,
	}, signin, conns...)
}

// healthAnswer is what healthz and readyz answer: the overall status and,
// separately, each provider's state ("ok", "not discovered yet" or
// "unreachable since …").
type healthAnswer struct {
	Status      string            `json:"status"`
	Provider    string            `json:"provider"`
	Connections map[string]string `json:"connections,omitempty"`
	// Store is the shared session store's state ("ok" or "unavailable"),
	// for stores that can be checked (Redis).
	Store string `json:"store,omitempty"`
}

func (s *Server) health(r *http.Request, status string) healthAnswer {
	a := healthAnswer{Status: status}
	if p, ok := s.finder.(interface{ Ping(context.Context) error }); ok {
		a.Store = "ok"
		if err := p.Ping(r.Context()); err != nil {
			a.Store = "unavailable"
		}
	}
	for _, st := range s.broker.Status() {
		if st.Client == "" {
			a.Provider = st.String()
			continue
		}
		if a.Connections == nil {
			a.Connections = map[string]string{}
		}
		a.Connections[st.Client] = st.String()
	}
	return a
}

// handleHealth is liveness: 200 while the process serves.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	answer.JSON(w, http.StatusOK, s.health(r, "ok"))
}

// handleReady is readiness: 503 until the sign-in provider has been
// discovered once, 200 from then on. A later provider outage does not make
// the server unready: bearer validation keeps working from cached keys and
// viewers keep their still-valid tokens, so taking every replica out of a
// load balancer would only make things worse. Nor does a shared session
// store that is down (bearer requests need none). The provider's state is in
// the answer's "provider" field, the store's in "store".
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s.broker.SignIn().Provider() == nil {
		answer.JSON(w, http.StatusServiceUnavailable, s.health(r, "starting"))
		return
	}
	answer.JSON(w, http.StatusOK, s.health(r, "ok"))
}
