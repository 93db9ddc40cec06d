package verify

import (
	"encoding/binary"
	"sync"
	"time"
)

const cacheShards = 16

// cache keeps successful validations, keyed by the SHA-256 of the token (the
// token itself is not kept). It is sharded to keep lock contention low; each
// shard holds at most its share of the size bound and, when full, first drops
// expired entries and then arbitrary ones (Go map order), which is cheap and
// good enough for a cache whose entries live minutes.
type cache struct {
	shards [cacheShards]cacheShard
	per    int
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[[32]byte]cacheEntry
}

type cacheEntry struct {
	claims *Claims
	until  time.Time
}

func newCache(size int) *cache {
	per := size / cacheShards
	if per < 1 {
		per = 1
	}
	c := &cache{per: per}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]cacheEntry)
	}
	return c
}

func (c *cache) shard(k [32]byte) *cacheShard {
	return &c.shards[binary.LittleEndian.Uint32(k[:4])%cacheShards]
}

func (c *cache) get(k [32]byte, now time.Time) (*Claims, bool) {
	s := c.shard(k)
	s.mu.RLock()
	e, ok := s.m[k]
	s.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e.claims, true
}

func (c *cache) put(k [32]byte, claims *Claims, now, until time.Time) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[k]; !ok && len(s.m) >= c.per {
		for key, e := range s.m {
			if !now.Before(e.until) {
				delete(s.m, key)
			}
		}
		for key := range s.m {
			if len(s.m) < c.per {
				break
			}
			delete(s.m, key)
		}
	}
	s.m[k] = cacheEntry{claims: claims, until: until}
}

func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
