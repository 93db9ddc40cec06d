package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/tokenhook/tokenhook/server/broker"
	"github.com/tokenhook/tokenhook/server/redisstore"
	"github.com/tokenhook/tokenhook/server/session"
)

// openStore opens the session store --session-store names, and the lock
// that serialises refreshes across the processes sharing it (nil for the
// file and memory stores: one process). A Redis client lives until ctx ends.
func openStore(ctx context.Context, cfg Config, key []byte) (session.Store, broker.Locker, error) {
	switch {
	case redisstore.IsURL(cfg.SessionStore):
		rc, err := redisstore.Open(cfg.SessionStore, cfg.SessionStorePassword)
		if err != nil {
			return nil, nil, &ConfigError{"session-store", err.Error()}
		}
		context.AfterFunc(ctx, func() { rc.Close() })
		st, err := redisstore.NewSessions(rc, key, "")
		return st, redisstore.NewLease(rc, ""), err
	case cfg.SessionStore == "memory" || cfg.DataDir == "":
		return session.NewMemory(), nil, nil
	}
	fs, err := session.NewFile(cfg.DataDir, key, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("data dir: %w", err)
	}
	return fs, nil, nil
}

// writeStoreError answers a request whose session store failed: 503 with a
// JSON error naming the store, so the viewer is not signed out and the
// browser hook retries. It reports whether err was such a failure.
func writeStoreError(w http.ResponseWriter, err error) bool {
	var u *session.UnavailableError
	if !errors.As(err, &u) {
		return false
	}
	w.Header().Set("Retry-After", "1")
	writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the session store ("+u.Store+") is unavailable; try again")
	return true
}
