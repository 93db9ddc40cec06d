package verify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// IntrospectMode says which tokens a Verifier looks up at the provider.
type IntrospectMode string

// The introspection modes (Config.Introspect).
const (
	// IntrospectAuto looks up tokens that are not JWTs, when the provider
	// has an introspection (or, failing that, userinfo) endpoint.
	IntrospectAuto IntrospectMode = "auto"
	// IntrospectAlways looks up every token, JWTs included.
	IntrospectAlways IntrospectMode = "always"
	// IntrospectNever looks up no token: opaque tokens are refused.
	IntrospectNever IntrospectMode = "never"
)

// ParseIntrospectMode parses "auto" (or ""), "always" or "never".
func ParseIntrospectMode(s string) (IntrospectMode, error) {
	switch m := IntrospectMode(s); m {
	case "", IntrospectAuto:
		return IntrospectAuto, nil
	case IntrospectAlways, IntrospectNever:
		return m, nil
	}
	return "", fmt.Errorf("verify: introspect mode %q: want auto, always or never", s)
}

// Defaults of the provider look-up limits.
const (
	DefaultNegativeCacheTTL  = 10 * time.Second
	DefaultNegativeCacheSize = 10000
	DefaultLookupRate        = 1.0
	DefaultLookupBurst       = 10
	maxLimitedClients        = 10000
)

// ageRing is a bounded map whose entries expire ttl after they were put and
// which, when full, drops its oldest entry: strangers can fill it, but never
// so that it refuses anything. Not safe for concurrent use.
type ageRing[K comparable, V any] struct {
	m    map[K]aged[V]
	ring []ringSlot[K] // insertion order; slots whose entry was replaced are stale
	head int
	n    int
}

type aged[V any] struct {
	v    V
	born time.Time
}

type ringSlot[K comparable] struct {
	k    K
	born time.Time
}

func newAgeRing[K comparable, V any](size int) *ageRing[K, V] {
	return &ageRing[K, V]{m: make(map[K]aged[V]), ring: make([]ringSlot[K], max(size, 1))}
}

// get returns the entry for k and when it was put.
func (a *ageRing[K, V]) get(k K) (V, time.Time, bool) {
	e, ok := a.m[k]
	return e.v, e.born, ok
}

func (a *ageRing[K, V]) put(k K, v V, now time.Time) {
	if a.n == len(a.ring) {
		old := a.ring[a.head]
		if e, ok := a.m[old.k]; ok && e.born.Equal(old.born) {
			delete(a.m, old.k)
		}
		a.head = (a.head + 1) % len(a.ring)
		a.n--
	}
	a.m[k] = aged[V]{v: v, born: now}
	a.ring[(a.head+a.n)%len(a.ring)] = ringSlot[K]{k: k, born: now}
	a.n++
}

// set replaces the value of an existing entry without changing its age.
func (a *ageRing[K, V]) set(k K, v V) {
	if e, ok := a.m[k]; ok {
		e.v = v
		a.m[k] = e
	}
}

func (a *ageRing[K, V]) len() int { return len(a.m) }

// lookups guards the provider look-ups: a negative cache, one flight per
// token and a failure budget per client address.
type lookups struct {
	negTTL      time.Duration
	rate, burst float64

	mu      sync.Mutex
	neg     *ageRing[[32]byte, error]
	flights map[[32]byte]*flight
	clients *ageRing[string, bucket]
}

type flight struct {
	done chan struct{}
	c    *Claims
	err  error
}

// bucket is a token bucket of failed look-ups.
type bucket struct {
	tokens float64
	at     time.Time
}

func newLookups(cfg Config) *lookups {
	l := &lookups{negTTL: cfg.NegativeCacheTTL, rate: cfg.LookupRate, burst: float64(cfg.LookupBurst),
		flights: map[[32]byte]*flight{}, clients: newAgeRing[string, bucket](maxLimitedClients)}
	if l.negTTL > 0 {
		l.neg = newAgeRing[[32]byte, error](cfg.NegativeCacheSize)
	}
	return l
}

// do runs lookup for the token hashed to key unless the answer is known:
// a refusal cached less than negTTL ago is repeated, a client over its
// budget is refused with ErrRateLimited, and a look-up already running for
// the same token is waited for instead of repeated. Only refusals
// (ErrInvalidToken) are cached and charged to the client's budget.
func (l *lookups) do(ctx context.Context, key [32]byte, client string, now time.Time, lookup func(context.Context) (*Claims, error)) (*Claims, error) {
	l.mu.Lock()
	if l.neg != nil {
		if err, born, ok := l.neg.get(key); ok && now.Sub(born) < l.negTTL {
			l.mu.Unlock()
			return nil, err
		}
	}
	if f, ok := l.flights[key]; ok {
		l.mu.Unlock()
		select {
		case <-f.done:
			return f.c, f.err
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
	}
	limited := client != "" && l.rate > 0
	if limited {
		// Reserve one failure of the budget for the look-up, so that
		// concurrent look-ups cannot overdraw it; returned unless refused.
		b := l.bucket(client, now)
		if b.tokens < 1 {
			l.mu.Unlock()
			return nil, fmt.Errorf("%w: too many unknown tokens from this address", ErrRateLimited)
		}
		b.tokens--
		l.clients.set(client, b)
	}
	f := &flight{done: make(chan struct{})}
	l.flights[key] = f
	l.mu.Unlock()

	// The look-up serves every waiter: it must not end with the first
	// caller's request. The HTTP client's timeout bounds it.
	f.c, f.err = lookup(context.WithoutCancel(ctx))

	l.mu.Lock()
	delete(l.flights, key)
	if isRefusal(f.err) && l.neg != nil {
		l.neg.put(key, f.err, now)
	}
	if limited && !isRefusal(f.err) {
		b := l.bucket(client, now)
		b.tokens = min(l.burst, b.tokens+1)
		l.clients.set(client, b)
	}
	l.mu.Unlock()
	close(f.done)
	return f.c, f.err
}

// bucket returns client's bucket refilled up to now (l.mu held).
func (l *lookups) bucket(client string, now time.Time) bucket {
	b, _, ok := l.clients.get(client)
	if !ok {
		b = bucket{tokens: l.burst, at: now}
		l.clients.put(client, b, now)
		return b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.at = now
		l.clients.set(client, b)
	}
	return b
}

func isRefusal(err error) bool {
	return err != nil && errors.Is(err, ErrInvalidToken)
}
