package server

import (
	"log/slog"

	"context"
	"errors"
	"fmt"
	"github.com/tokenhook/tokenhook/server/audit"
	"github.com/tokenhook/tokenhook/server/config"
	"net/http"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/tokenhook/tokenhook/server/backchannel"
	"github.com/tokenhook/tokenhook/server/redisstore"
)

// backchannelHandler serves POST /_tokenhook/backchannel-logout (OpenID
// Connect Back-Channel Logout 1.0): logout tokens signed with the sign-in
// provider's keys, for our client id, each used once on every replica (the
// shared one-time store), end the sessions they name on every replica.
func (s *Server) backchannelHandler(ctx context.Context) (http.Handler, error) {
	v, err := backchannel.New(backchannel.Config{
		Issuer: s.cfg.Issuer, ClientID: s.cfg.ClientID, Replay: s.states,
		KeySet: &discoveredKeySet{ctx: oidc.ClientContext(ctx, s.client), client: s.client, issuer: s.cfg.Issuer},
	})
	if err != nil {
		return nil, err
	}
	end := backchannel.EndSessions(s.finder, s.bus)
	return backchannel.Handler(v, func(ctx context.Context, sid, sub string) error {
		err := end(ctx, sid, sub)
		if err == nil {
			s.audit.Record(ctx, audit.BackchannelLogout, sub, slog.Bool("by_sid", sid != ""))
		}
		return err
	}), nil
}

// discoveredKeySet is the issuer's key set (its jwks_uri), discovered on
// first use: the logout endpoint works once the provider is reachable, and
// a provider that is down at start-up does not stop tokenhook.
type discoveredKeySet struct {
	ctx    context.Context // carries client; lives as long as the server
	client *http.Client
	issuer string

	mu sync.Mutex
	ks oidc.KeySet
}

// VerifySignature implements oidc.KeySet.
func (d *discoveredKeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	ks, err := d.keySet(ctx)
	if err != nil {
		return nil, err
	}
	return ks.VerifySignature(ctx, jwt)
}

func (d *discoveredKeySet) keySet(ctx context.Context) (oidc.KeySet, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ks != nil {
		return d.ks, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, d.client), d.issuer)
	if err != nil {
		return nil, fmt.Errorf("discover the issuer's keys: %w", err)
	}
	var meta struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKS == "" {
		return nil, fmt.Errorf("discover the issuer's keys: no jwks_uri (%v)", err)
	}
	d.ks = oidc.NewRemoteKeySet(d.ctx, meta.JWKS)
	return d.ks, nil
}

// RevokeSessions ends every session of the subject sub and/or the provider
// session sid (both set: sessions matching both) in the Redis store cfg
// names, and announces each on the store's bus, so every replica closes the
// session's open WebSockets at once. It returns how many sessions ended.
// The file and memory stores belong to one running process, which caches
// them: revoke there by restarting it, so RevokeSessions refuses them.
func RevokeSessions(ctx context.Context, cfg Config, sid, sub string) (int, error) {
	if sid == "" && sub == "" {
		return 0, errors.New("revoke: name a subject (--sub) or a provider session (--sid)")
	}
	if !redisstore.IsURL(cfg.SessionStore) {
		return 0, &config.Error{Name: "session-store", Reason: "revoking from outside the server needs the Redis store the replicas share"}
	}
	key, err := derive(cfg.CookieSecret, storeKeyPurpose, 32)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // closes the Redis client
	sh, err := openStore(ctx, cfg, key)
	if err != nil {
		return 0, err
	}
	keys, err := sh.store.Find(ctx, sid, sub)
	if err != nil {
		return 0, fmt.Errorf("revoke: %w", err)
	}
	if err := backchannel.EndSessions(sh.store, sh.bus)(ctx, sid, sub); err != nil {
		return 0, fmt.Errorf("revoke: %w", err)
	}
	return len(keys), nil
}
