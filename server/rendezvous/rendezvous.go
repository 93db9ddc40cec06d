// Package rendezvous hands a sign-in finished in a popup (or in another
// browser altogether) to the iframe that asked for it.
//
// The iframe keeps a random secret and sends only its SHA-256 (the
// challenge) with the popup. When the popup's sign-in completes, the server
// binds the new session to the channel; the iframe then claims it, once,
// with the secret. This is PKCE applied to the hand-over: whoever sees the
// popup's URL (history, logs, a shoulder) learns the channel and the
// challenge, neither of which is enough to claim.
package rendezvous

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

// Errors returned by Store.Claim.
var (
	// ErrPending means the sign-in for the channel has not finished yet.
	ErrPending = errors.New("rendezvous: sign-in not finished yet")
	// ErrWrongSecret means the secret does not match the channel's challenge.
	ErrWrongSecret = errors.New("rendezvous: wrong secret")
	// ErrClaimed means the channel was already claimed.
	ErrClaimed = errors.New("rendezvous: already claimed")
	// ErrExpired means the channel's time ran out (or it never existed).
	ErrExpired = errors.New("rendezvous: expired or unknown channel")
)

// Challenge returns the S256 challenge of a secret: unpadded base64url of its
// SHA-256.
func Challenge(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Store keeps channels. Implementations must be safe for concurrent use; a
// Redis implementation lets several tokenhook instances share channels.
type Store interface {
	// Start opens a pending channel with the challenge, valid for ttl. A
	// channel that already exists is left as it is and ErrClaimed returned.
	Start(ctx context.Context, channel, challenge string, ttl time.Duration) error
	// Complete binds a session id to a pending channel.
	Complete(ctx context.Context, channel, sessionID string) error
	// Claim returns the session id if secret matches the channel's challenge
	// and the channel is complete and unclaimed, and marks it claimed. It
	// waits up to wait for a pending channel to complete.
	Claim(ctx context.Context, channel, secret string, wait time.Duration) (string, error)
}

type entry struct {
	challenge string
	sessionID string
	expires   time.Time
	claimed   bool
	failures  int
	done      chan struct{} // closed by Complete
}

// maxFailures bounds wrong-secret guesses per channel; the channel is then
// burnt.
const maxFailures = 5

// Memory is the in-process Store.
type Memory struct {
	mu  sync.Mutex
	m   map[string]*entry
	max int
	now func() time.Time
}

// NewMemory returns a Memory store holding at most max channels.
func NewMemory(max int) *Memory {
	return &Memory{m: make(map[string]*entry), max: max, now: time.Now}
}

// Start implements Store.
func (s *Memory) Start(_ context.Context, channel, challenge string, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if _, ok := s.m[channel]; ok {
		return ErrClaimed
	}
	if len(s.m) >= s.max {
		s.gcLocked(now)
		if len(s.m) >= s.max {
			return errors.New("rendezvous: too many sign-ins in progress")
		}
	}
	s.m[channel] = &entry{challenge: challenge, expires: now.Add(ttl), done: make(chan struct{})}
	return nil
}

// gcLocked forgets channels well past their expiry (kept a while so a late
// claim learns "expired" rather than waiting).
func (s *Memory) gcLocked(now time.Time) {
	for k, e := range s.m {
		if now.After(e.expires.Add(10 * time.Minute)) {
			delete(s.m, k)
		}
	}
}

// Complete implements Store.
func (s *Memory) Complete(_ context.Context, channel, sessionID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[channel]
	if !ok || s.now().After(e.expires) {
		return ErrExpired
	}
	if e.claimed || e.sessionID != "" {
		return ErrClaimed
	}
	e.sessionID = sessionID
	close(e.done)
	return nil
}

// Claim implements Store.
func (s *Memory) Claim(ctx context.Context, channel, secret string, wait time.Duration) (string, error) {
	s.mu.Lock()
	e, ok := s.m[channel]
	if !ok {
		s.mu.Unlock()
		return "", ErrExpired
	}
	done := e.done
	s.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-done:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.now().After(e.expires):
		return "", ErrExpired
	case e.claimed:
		return "", ErrClaimed
	case subtle.ConstantTimeCompare([]byte(Challenge(secret)), []byte(e.challenge)) != 1:
		e.failures++
		if e.failures >= maxFailures {
			e.expires = time.Time{} // burnt: any later claim finds it expired
		}
		return "", ErrWrongSecret
	case e.sessionID == "":
		return "", ErrPending
	}
	e.claimed = true
	id := e.sessionID
	e.sessionID = ""
	return id, nil
}
