package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/tokenhook/tokenhook/server/audit"
	"github.com/tokenhook/tokenhook/server/backchannel"
	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/config"
	"github.com/tokenhook/tokenhook/server/redisstore"
)

// backchannelHandler serves POST /_tokenhook/backchannel-logout (OpenID
// Connect Back-Channel Logout 1.0): logout tokens signed with the sign-in
// provider's keys, for our client id, each used once on every replica (the
// shared one-time store), end the sessions they name on every replica.
func (s *Server) backchannelHandler(ctx context.Context) (http.Handler, error) {
	v, err := backchannel.New(backchannel.Config{
		Issuer: s.cfg.Issuer, ClientID: s.cfg.ClientID, Replay: s.states,
		KeySet: providerKeys{s.broker.SignIn()},
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

// providerKeys is the sign-in provider's key set from the broker's
// discovery (made once, and backing off while the provider is down): the
// logout endpoint works once the provider is reachable, and a provider that
// is down at start-up does not stop tokenhook.
type providerKeys struct{ c *broker.Client }

// VerifySignature implements oidc.KeySet.
func (k providerKeys) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	p, err := k.c.Discover(ctx)
	if err != nil {
		return nil, fmt.Errorf("the issuer's keys: %w", err)
	}
	if p.KeySet == nil {
		return nil, errors.New("the issuer's keys: its discovery document has no jwks_uri")
	}
	return p.KeySet.VerifySignature(ctx, jwt)
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
	if err := backchannel.End(ctx, sh.store, sh.bus, keys); err != nil {
		return 0, fmt.Errorf("revoke: %w", err)
	}
	return len(keys), nil
}
