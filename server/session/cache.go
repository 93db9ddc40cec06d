package session

import (
	"container/list"
	"sync"
	"time"
)

// DefaultCacheBytes bounds the decrypted sessions a File store keeps in
// memory when NewFile is given no bound.
const DefaultCacheBytes = 64 << 20

// entryOverhead approximates what one cached session costs besides its JSON
// size: the decoded strings' headers, the map entry, the list element and
// the key (see BenchmarkCacheHeap).
const entryOverhead = 256

// lru keeps decrypted sessions up to a total size in bytes (approximated from
// their JSON size), dropping the least recently used first. It is safe for
// concurrent use.
type lru struct {
	mu     sync.Mutex
	max    int64
	bytes  int64
	writes uint64     // puts and deletes so far, see stamp and fill
	order  *list.List // front = most recently used; values are *lruEntry
	items  map[string]*list.Element
}

type lruEntry struct {
	key  string
	v    *Session
	size int64
}

func newLRU(maxBytes int64) *lru {
	return &lru{max: maxBytes, order: list.New(), items: make(map[string]*list.Element)}
}

// get returns a copy of the live session under key.
func (c *lru) get(key string, now time.Time) (*Session, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*lruEntry)
	if !e.v.Live(now) {
		c.remove(el)
		return nil, false
	}
	c.order.MoveToFront(el)
	return e.v.Clone(), true
}

// stamp returns a value for fill, taken before reading a session from
// elsewhere.
func (c *lru) stamp() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// fill caches a session read from disk unless the cache saw any put or
// delete since stamp: that write may have been of this very key (a newer
// token, a logout), and the copy read before it must not overwrite or
// resurrect it. Skipping is harmless: the next Load reads the disk again.
func (c *lru) fill(key string, v *Session, plainSize int, stamp uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writes == stamp {
		c.insert(key, v, plainSize)
	}
}

// put stores a copy of v; plainSize is the size of its JSON encoding. A
// session larger than the whole cache is not kept.
func (c *lru) put(key string, v *Session, plainSize int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	c.insert(key, v, plainSize)
}

// insert is put with c.mu held.
func (c *lru) insert(key string, v *Session, plainSize int) {
	size := int64(plainSize + len(key) + entryOverhead)
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
	if size > c.max {
		return
	}
	c.items[key] = c.order.PushFront(&lruEntry{key: key, v: v.Clone(), size: size})
	c.bytes += size
	for c.bytes > c.max {
		c.remove(c.order.Back())
	}
}

func (c *lru) delete(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
}

// sweep drops ended sessions.
func (c *lru) sweep(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.order.Front(); el != nil; {
		next := el.Next()
		if !el.Value.(*lruEntry).v.Live(now) {
			c.remove(el)
		}
		el = next
	}
}

// size returns the cached bytes and sessions.
func (c *lru) size() (bytes int64, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes, len(c.items)
}

func (c *lru) remove(el *list.Element) {
	e := c.order.Remove(el).(*lruEntry)
	delete(c.items, e.key)
	c.bytes -= e.size
}

// CacheBytes reports the approximate bytes of decrypted sessions the store
// holds in memory and its bound (--session-cache-mb), for monitoring.
func (s *File) CacheBytes() (used, limit int64) {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return s.cache.bytes, s.cache.max
}
