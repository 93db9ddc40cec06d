package dpop

import (
	"context"
	"sync"
	"time"
)

// ReplayCache remembers keys for a while, so a proof is accepted once.
//
// UseOnce records key for ttl and reports whether key was new (not recorded,
// or recorded longer than its ttl ago). Implementations must be safe for
// concurrent use, and two concurrent calls with the same key must not both
// see first == true. An error means the answer is unknown; callers refuse the
// proof. Replicas behind one load balancer must share one store (a Redis
// SET NX PX has exactly these semantics).
type ReplayCache interface {
	UseOnce(ctx context.Context, key string, ttl time.Duration) (first bool, err error)
}

// DefaultReplayCacheSize is the capacity of the replay cache a Verifier makes
// when Config.Replay is nil: room for a thousand proofs a second over the
// default window; under 20 MB when full.
const DefaultReplayCacheSize = 1 << 17

// MemoryReplayCache is a ReplayCache in this process's memory, bounded in
// size. Entries leave when their ttl ends; when the cache is full the oldest
// entry leaves early to make room, so a new key is never refused: a stranger
// sending proofs of their own can shorten how long older proofs are
// remembered, never stop anyone's proofs from being accepted. Size it above
// the peak proof rate times twice the Verifier's window.
type MemoryReplayCache struct {
	mu      sync.Mutex
	entries map[string]replayEntry
	order   []replaySlot // ring buffer in insertion order
	head    int          // index of the oldest slot
	n       int          // slots in use
	seq     uint64
	now     func() time.Time
}

type replayEntry struct {
	expires time.Time
	seq     uint64 // of the slot that owns this entry
}

type replaySlot struct {
	key string
	seq uint64
}

// NewMemoryReplayCache returns a cache holding at most size keys (at least 1).
func NewMemoryReplayCache(size int) *MemoryReplayCache {
	size = max(size, 1)
	return &MemoryReplayCache{
		entries: make(map[string]replayEntry, min(size, 1024)),
		order:   make([]replaySlot, size),
		now:     time.Now,
	}
}

// UseOnce implements ReplayCache. It never fails.
func (c *MemoryReplayCache) UseOnce(_ context.Context, key string, ttl time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.dropExpired(now)
	if e, ok := c.entries[key]; ok && now.Before(e.expires) {
		return false, nil
	}
	if c.n == len(c.order) {
		c.dropOldest()
	}
	c.seq++
	c.order[(c.head+c.n)%len(c.order)] = replaySlot{key: key, seq: c.seq}
	c.n++
	c.entries[key] = replayEntry{expires: now.Add(ttl), seq: c.seq}
	return true, nil
}

// dropExpired removes expired entries from the oldest end, stopping at the
// first live one (entries of one Verifier expire nearly in insertion order;
// a straggler behind a longer-lived entry is ignored on lookup and removed
// when its turn comes).
func (c *MemoryReplayCache) dropExpired(now time.Time) {
	for c.n > 0 {
		s := c.order[c.head]
		if e, ok := c.entries[s.key]; ok && e.seq == s.seq && now.Before(e.expires) {
			return
		}
		c.dropOldest()
	}
}

// dropOldest frees the oldest slot and its entry, unless the key was
// recorded again since (its entry then belongs to a newer slot).
func (c *MemoryReplayCache) dropOldest() {
	s := c.order[c.head]
	if e, ok := c.entries[s.key]; ok && e.seq == s.seq {
		delete(c.entries, s.key)
	}
	c.order[c.head] = replaySlot{}
	c.head = (c.head + 1) % len(c.order)
	c.n--
}
