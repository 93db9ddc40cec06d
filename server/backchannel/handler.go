package backchannel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/tokenhook/tokenhook/server/session"
)

// maxBody bounds the request body Handler reads.
const maxBody = 64 << 10

// EndFunc ends the sessions a logout names: those of the provider session
// sid when sid is set, of the subject sub when sub is set (both set: both
// must match).
type EndFunc func(ctx context.Context, sid, sub string) error

// Handler serves the back-channel logout endpoint (tokenhook mounts it at
// POST /_tokenhook/backchannel-logout): a form POST with logout_token. It
// answers 200 once the sessions ended, 400 with an OAuth error JSON for a
// bad token (replays included), 503 when end or the replay cache fails.
// Answers are never cached.
func Handler(v *Validator, end EndFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if err := r.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "invalid_request", "the body is not a form of at most 64 KiB")
			return
		}
		l, err := v.Validate(r.Context(), r.PostForm.Get("logout_token"))
		var bad *InvalidError
		if errors.As(err, &bad) {
			writeError(w, http.StatusBadRequest, "invalid_request", bad.Error())
			return
		}
		if err == nil {
			err = end(r.Context(), l.SID, l.Subject)
		}
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the sessions could not be ended; try again")
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// EndSessions returns an EndFunc that deletes the sessions store finds and
// announces each on bus, so every replica closes what it holds for them.
func EndSessions(store interface {
	session.Store
	session.Finder
}, bus session.Bus) EndFunc {
	return func(ctx context.Context, sid, sub string) error {
		keys, err := store.Find(ctx, sid, sub)
		if err != nil {
			return fmt.Errorf("backchannel: find sessions: %w", err)
		}
		return End(ctx, store, bus, keys)
	}
}

// End deletes the sessions stored under keys and announces each on bus.
func End(ctx context.Context, store session.Store, bus session.Bus, keys []string) error {
	for _, k := range keys {
		if err := store.Delete(ctx, k); err != nil {
			return fmt.Errorf("backchannel: end session: %w", err)
		}
		if err := bus.Publish(ctx, k); err != nil {
			return fmt.Errorf("backchannel: announce ended session: %w", err)
		}
	}
	return nil
}
