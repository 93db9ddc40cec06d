// Package once remembers one-time values (used sign-in states) for as long
// as they could be replayed, in memory bounded by age-based eviction.
package once

import (
	"context"
	"sync"
	"time"
)

// Store remembers keys that were used once. Implementations must be safe for
// concurrent use; a shared implementation (Redis) lets several tokenhook
// instances refuse each other's replays.
type Store interface {
	// UseOnce marks key as used for ttl and reports whether it was unused.
	// A false answer with a nil error means key was used before.
	UseOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Memory is the in-process Store. It holds a bounded number of keys: when full it
// forgets the oldest key, never refuses a new one, so nobody can fill it to
// deny service to others.
type Memory struct {
	mu    sync.Mutex
	until map[string]time.Time
	order []item // insertion order; the front is the oldest
	head  int    // order[head:] are live
	max   int
	now   func() time.Time
}

type item struct {
	key   string
	until time.Time
}

// NewMemory returns a Memory holding at most n keys (at least 1).
func NewMemory(n int) *Memory {
	return &Memory{until: make(map[string]time.Time), max: max(n, 1), now: time.Now}
}

// UseOnce implements Store.
func (m *Memory) UseOnce(_ context.Context, key string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.evictLocked(now)
	if t, ok := m.until[key]; ok && now.Before(t) {
		return false, nil
	}
	until := now.Add(ttl)
	m.until[key] = until
	m.order = append(m.order, item{key, until})
	for len(m.until) > m.max {
		m.dropFrontLocked()
	}
	return true, nil
}

// Len returns how many keys are remembered.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.until)
}

// evictLocked forgets keys whose time is over, oldest first, stopping at the
// first live one (keys of one store share one ttl in practice, so the queue
// is ordered by expiry; a longer-lived key only delays the eviction of the
// keys behind it, which the size bound still covers).
func (m *Memory) evictLocked(now time.Time) {
	for m.head < len(m.order) && !now.Before(m.order[m.head].until) {
		m.dropFrontLocked()
	}
}

// dropFrontLocked forgets the oldest queued key (unless it was used again
// since, with a later time) and compacts the queue now and then.
func (m *Memory) dropFrontLocked() {
	it := m.order[m.head]
	m.order[m.head] = item{}
	m.head++
	if t, ok := m.until[it.key]; ok && t.Equal(it.until) {
		delete(m.until, it.key)
	}
	if m.head > 1024 && m.head*2 > len(m.order) {
		m.order = append(m.order[:0:0], m.order[m.head:]...)
		m.head = 0
	}
}
