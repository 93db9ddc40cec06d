// Package rendezvous hands a sign-in finished in a popup (or in another
// browser altogether) to the iframe that asked for it, and only to it.
//
// The iframe keeps a random secret and sends only its SHA-256 (the
// challenge) with the popup. Starting a sign-in stores nothing here: when the
// popup's sign-in completes, the server records the channel with its
// challenge, the new session and a random one-time code. Whoever sees the
// popup's URL (history, logs, a shoulder) learns the channel and the
// challenge, neither of which is enough to claim.
//
// Knowing the secret is not enough either, because whoever started the
// sign-in knows it, and that may be an attacker who sent the viewer a link.
// A channel becomes claimable only once the sign-in window vouches for the
// frame, in one of two ways:
//   - the frame presents the one-time code, which the sign-in window posts
//     to its opener addressed to tokenhook's own origin (a window another
//     site opened never receives it); or
//   - the viewer confirms, in the sign-in window, that it shows the same
//     short code (ShortCode of the challenge) as the frame that is waiting
//     (the cross-device defence of RFC 8628 §5.4): an attacker's link shows
//     a code the viewer sees in no dashboard.
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

// Errors returned by Store methods.
var (
	// ErrPending means the sign-in for the channel has not finished, or has
	// not been confirmed, yet.
	ErrPending = errors.New("rendezvous: sign-in not finished yet")
	// ErrWrongSecret means the secret does not match the channel's challenge,
	// or the code does not match the channel's one-time code.
	ErrWrongSecret = errors.New("rendezvous: wrong secret or code")
	// ErrClaimed means the channel was already completed or claimed.
	ErrClaimed = errors.New("rendezvous: already claimed")
	// ErrExpired means the channel's time ran out, it was refused, or too
	// many wrong guesses burnt it.
	ErrExpired = errors.New("rendezvous: expired or refused")
)

// Challenge returns the S256 challenge of a secret: unpadded base64url of its
// SHA-256.
func Challenge(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// codeAlphabet has no letters that read alike (no I, O, 0, 1).
const codeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// ShortCode is the code the viewer compares between the frame and the
// sign-in window: the first 40 bits of the challenge in eight characters of
// codeAlphabet, shown as "ABCD-EFGH". It returns "" for a challenge that is
// not base64url. The browser script computes the same code.
func ShortCode(challenge string) string {
	b, err := base64.RawURLEncoding.DecodeString(challenge)
	if err != nil || len(b) < 5 {
		return ""
	}
	out := make([]byte, 0, 9)
	var acc, bits uint
	for i := 0; len(out) < 9; {
		if len(out) == 4 {
			out = append(out, '-')
			continue
		}
		if bits < 5 {
			acc = acc<<8 | uint(b[i])
			i++
			bits += 8
		}
		bits -= 5
		out = append(out, codeAlphabet[acc>>bits&31])
	}
	return string(out)
}

// Store keeps completed sign-ins until their frame claims them.
// Implementations must be safe for concurrent use; a shared implementation
// (Redis) lets several tokenhook instances serve one channel.
type Store interface {
	// Complete records a finished sign-in for channel: the frame's
	// challenge, the new session id and the one-time code the sign-in window
	// hands to its opener, valid for ttl. A channel that exists already is
	// left as it is and ErrClaimed returned.
	Complete(ctx context.Context, channel, challenge, sessionID, code string, ttl time.Duration) error
	// Confirm records the viewer's answer in the sign-in window: yes makes
	// the channel claimable with the secret alone, no refuses it for good.
	// code must be the channel's one-time code (the confirmation form
	// carries it, which is what protects it from cross-site requests).
	Confirm(ctx context.Context, channel, code string, yes bool) error
	// Claim returns the session id once secret matches the channel's
	// challenge and the channel is confirmed (or code is its one-time code),
	// and marks it claimed. It waits up to wait for the channel to be
	// completed and confirmed, then answers ErrPending.
	Claim(ctx context.Context, channel, secret, code string, wait time.Duration) (string, error)
}

type entry struct {
	channel   string
	challenge string
	sessionID string
	code      string
	expires   time.Time
	confirmed bool
	claimed   bool
	failures  int
}

// MaxFailures bounds wrong guesses per channel; the channel is then burnt.
// Every Store keeps to it.
const MaxFailures = 5

// KeepExpired is how long an expired channel is remembered, so a late claim
// learns "expired" rather than waiting. Every Store keeps to it.
const KeepExpired = 10 * time.Minute

// Memory is the in-process Store. Entries exist only for completed sign-ins
// (a stranger cannot add one without signing in), and the table is bounded
// by age: when it holds max channels the oldest is forgotten, never a new
// one refused.
type Memory struct {
	mu      sync.Mutex
	m       map[string]*entry
	order   []*entry // by completion time; the front is the oldest
	head    int
	max     int
	changed chan struct{} // closed (and replaced) whenever a channel changes
	now     func() time.Time
}

// NewMemory returns a Memory store holding at most max channels.
func NewMemory(max int) *Memory {
	return &Memory{m: make(map[string]*entry), max: max, changed: make(chan struct{}), now: time.Now}
}

// Len returns how many channels the store holds.
func (s *Memory) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Complete implements Store.
func (s *Memory) Complete(_ context.Context, channel, challenge, sessionID, code string, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.evictLocked(now)
	if _, ok := s.m[channel]; ok {
		return ErrClaimed
	}
	e := &entry{channel: channel, challenge: challenge, sessionID: sessionID, code: code, expires: now.Add(ttl)}
	s.m[channel] = e
	s.order = append(s.order, e)
	for len(s.m) > s.max {
		s.dropFrontLocked()
	}
	s.notifyLocked()
	return nil
}

// evictLocked forgets channels long past their expiry, oldest first.
func (s *Memory) evictLocked(now time.Time) {
	for s.head < len(s.order) && now.After(s.order[s.head].expires.Add(KeepExpired)) {
		s.dropFrontLocked()
	}
}

func (s *Memory) dropFrontLocked() {
	e := s.order[s.head]
	s.order[s.head] = nil
	s.head++
	if s.m[e.channel] == e {
		delete(s.m, e.channel)
	}
	if s.head > 1024 && s.head*2 > len(s.order) {
		s.order = append(s.order[:0:0], s.order[s.head:]...)
		s.head = 0
	}
}

// notifyLocked wakes every waiting Claim to look again.
func (s *Memory) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// liveLocked returns the channel's entry, or ErrExpired / ErrClaimed.
func (s *Memory) liveLocked(channel string) (*entry, error) {
	e, ok := s.m[channel]
	switch {
	case !ok:
		return nil, nil
	case s.now().After(e.expires):
		return nil, ErrExpired
	case e.claimed:
		return nil, ErrClaimed
	}
	return e, nil
}

// failLocked counts a wrong guess and burns the channel after MaxFailures.
func (s *Memory) failLocked(e *entry) error {
	e.failures++
	if e.failures >= MaxFailures {
		e.expires = time.Time{}
		s.notifyLocked()
	}
	return ErrWrongSecret
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// Confirm implements Store.
func (s *Memory) Confirm(_ context.Context, channel, code string, yes bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.liveLocked(channel)
	switch {
	case err != nil:
		return err
	case e == nil:
		return ErrExpired
	case !equal(code, e.code):
		return s.failLocked(e)
	case yes:
		e.confirmed = true
	default:
		e.expires = time.Time{} // refused: no claim will ever succeed
	}
	s.notifyLocked()
	return nil
}

// Claim implements Store.
func (s *Memory) Claim(ctx context.Context, channel, secret, code string, wait time.Duration) (string, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		s.mu.Lock()
		id, err := s.claimLocked(channel, secret, code)
		changed := s.changed
		s.mu.Unlock()
		if !errors.Is(err, ErrPending) {
			return id, err
		}
		select {
		case <-changed:
		case <-t.C:
			return "", ErrPending
		case <-ctx.Done():
			return "", ErrPending
		}
	}
}

func (s *Memory) claimLocked(channel, secret, code string) (string, error) {
	e, err := s.liveLocked(channel)
	switch {
	case err != nil:
		return "", err
	case e == nil:
		return "", ErrPending // not completed yet (or never started: the same to us)
	case !equal(Challenge(secret), e.challenge):
		return "", s.failLocked(e)
	case code != "" && !equal(code, e.code):
		return "", s.failLocked(e)
	case code == "" && !e.confirmed:
		return "", ErrPending
	}
	e.claimed = true
	id := e.sessionID
	e.sessionID, e.code = "", ""
	s.notifyLocked()
	return id, nil
}
