package server

import (
	"context"
	"fmt"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// provider is the discovered (or configured) identity provider.
type provider struct {
	oauth      oauth2.Config
	verifier   *oidc.IDTokenVerifier // nil for plain OAuth 2.0 providers
	endSession string                // RP-initiated logout endpoint, if any
}

// discover resolves the provider, retrying with backoff until it succeeds or
// ctx ends, so tokenhook can start before its identity provider.
func (s *Server) discover(ctx context.Context) {
	backoff := 250 * time.Millisecond
	for {
		p, err := s.newProvider(ctx)
		if err == nil {
			s.provider.Store(p)
			s.log.Info("identity provider ready", "issuer", s.cfg.Issuer)
			return
		}
		s.log.Warn("identity provider not reachable yet", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (s *Server) newProvider(ctx context.Context) (*provider, error) {
	p := &provider{oauth: oauth2.Config{
		ClientID:     s.cfg.ClientID,
		ClientSecret: s.cfg.ClientSecret,
		RedirectURL:  s.cfg.PublicURL + Prefix + "callback",
		Scopes:       s.cfg.Scopes,
	}}
	if s.cfg.Issuer == "" {
		p.oauth.Endpoint = oauth2.Endpoint{AuthURL: s.cfg.AuthURL, TokenURL: s.cfg.TokenURL}
		return p, nil
	}
	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, s.client), 15*time.Second)
	defer cancel()
	op, err := oidc.NewProvider(dctx, s.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", s.cfg.Issuer, err)
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = op.Claims(&extra)
	p.oauth.Endpoint = op.Endpoint()
	// The verifier fetches keys with its own long-lived context.
	p.verifier = op.VerifierContext(oidc.ClientContext(context.WithoutCancel(ctx), s.client), &oidc.Config{ClientID: s.cfg.ClientID})
	p.endSession = extra.EndSession
	return p, nil
}

// oauthContext carries the server's HTTP client (with its timeout) into
// golang.org/x/oauth2 calls.
func (s *Server) oauthContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, s.client)
}
