package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/config"
	"github.com/tokenhook/tokenhook/server/once"
	"github.com/tokenhook/tokenhook/server/redisstore"
	"github.com/tokenhook/tokenhook/server/rendezvous"
	"github.com/tokenhook/tokenhook/server/session"
)

// findingStore is a session store that also finds sessions by the
// provider's session id or subject (every tokenhook store does).
type findingStore interface {
	session.Store
	session.Finder
}

// shared is the state the replicas of a deployment share: with a Redis
// store all of it lives in Redis; with the file or memory store it lives in
// this process (one replica).
type shared struct {
	store      findingStore
	lock       broker.Locker    // serialises refreshes; nil: the broker's striped lock
	states     once.Store       // used sign-in states and logout token ids
	rendezvous rendezvous.Store // popup sign-ins waiting for their frame
	bus        session.Bus      // "session ended" events
	// dpopReplay remembers used DPoP proofs (--browser-token dpop). Nil
	// without Redis: the DPoP verifier then keeps its own bounded memory,
	// apart from states, so a flood of proofs cannot evict sign-in states.
	dpopReplay once.Store
}

// dpopReplayPrefix starts the Redis keys of used DPoP proofs.
const dpopReplayPrefix = redisstore.DefaultPrefix + "dpop:"

// Bounds of the in-memory sign-in tables. Both evict their oldest entries
// when full; neither ever refuses a newcomer.
const (
	maxOnce       = 50000 // used states (about 100 B each)
	maxRendezvous = 20000 // completed popup sign-ins waiting for their frame
)

// openStore opens the session store --session-store names and the state
// shared with it. A Redis client lives until ctx ends.
func openStore(ctx context.Context, cfg Config, key []byte) (shared, error) {
	switch {
	case redisstore.IsURL(cfg.SessionStore):
		rc, err := redisstore.Open(cfg.SessionStore, cfg.SessionStorePassword)
		if err != nil {
			return shared{}, &config.Error{Name: "session-store", Reason: err.Error()}
		}
		context.AfterFunc(ctx, func() { rc.Close() })
		st, err := redisstore.NewSessions(rc, key, "")
		if err != nil {
			return shared{}, err
		}
		rv, err := redisstore.NewRendezvous(rc, key, "")
		if err != nil {
			return shared{}, err
		}
		return shared{store: st, lock: redisstore.NewLease(rc, ""), states: redisstore.NewOnce(rc, ""), rendezvous: rv, bus: redisstore.NewBus(rc, ""),
			dpopReplay: redisstore.NewOnce(rc, dpopReplayPrefix)}, nil
	}
	local := shared{states: once.NewMemory(maxOnce), rendezvous: rendezvous.NewMemory(maxRendezvous), bus: session.NewLocalBus()}
	if cfg.SessionStore == "memory" || cfg.DataDir == "" {
		local.store = session.NewMemory()
		return local, nil
	}
	fs, err := session.NewFile(cfg.DataDir, key, int64(cfg.SessionCacheMB)<<20)
	if err != nil {
		return shared{}, fmt.Errorf("data dir: %w", err)
	}
	local.store = fs
	return local, nil
}

// endingStore announces every session deleted through it (logout, a
// refresh token the provider refused) on the bus, so every replica closes
// the session's open WebSockets.
type endingStore struct {
	session.Store
	bus session.Bus
	log *slog.Logger
}

// Delete implements session.Store.
func (e endingStore) Delete(ctx context.Context, key string) error {
	err := e.Store.Delete(ctx, key)
	if perr := e.bus.Publish(context.WithoutCancel(ctx), key); perr != nil {
		// The session is gone from the store: other replicas' WebSockets
		// of it close at their next re-check instead.
		e.log.Warn("announce ended session", "err", perr)
	}
	return err
}
