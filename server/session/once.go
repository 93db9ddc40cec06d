package session

import (
	"context"
	"sync"
	"time"
)

// MemoryOnce remembers one-time keys (replay caches: logout token ids,
// sign-in states) in process memory, up to a fixed number. When full of keys
// that have not expired it refuses new ones rather than forgetting used
// ones, so a flood can deny new uses but never allow a replay.
type MemoryOnce struct {
	mu  sync.Mutex
	max int
	m   map[string]time.Time
}

// NewMemoryOnce returns a MemoryOnce holding at most max keys.
func NewMemoryOnce(max int) *MemoryOnce {
	return &MemoryOnce{max: max, m: make(map[string]time.Time)}
}

// UseOnce records key for ttl and reports whether this was its first use.
func (o *MemoryOnce) UseOnce(_ context.Context, key string, ttl time.Duration) (bool, error) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if until, ok := o.m[key]; ok && now.Before(until) {
		return false, nil
	}
	if len(o.m) >= o.max {
		for k, until := range o.m {
			if !now.Before(until) {
				delete(o.m, k)
			}
		}
		if len(o.m) >= o.max {
			return false, ErrFull
		}
	}
	o.m[key] = now.Add(ttl)
	return true, nil
}
