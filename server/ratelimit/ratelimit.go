// Package ratelimit limits how often one client may do something, per key
// (a client address), in memory that no number of clients can exhaust.
package ratelimit

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Limiter allows each key a burst of events, then one event per interval
// (the generic cell rate algorithm: one timestamp per key). It is safe for
// concurrent use.
//
// Its memory is bounded: keys live in two generations of at most max keys
// each; when the current one is full, the older one is dropped. Dropping a
// key only forgives that client (it starts over with a full burst), so a
// flood from many addresses can cost a limit its memory of some clients,
// never deny anything to a client that stays within its own limit.
type Limiter struct {
	interval time.Duration
	burst    time.Duration // burst * interval: how far ahead of now a key may run
	max      int

	mu       sync.Mutex
	cur, old map[string]time.Time // the theoretical arrival time per key
}

// New returns a Limiter allowing burst events at once and then one per
// interval, per key, remembering up to 2*max keys.
func New(interval time.Duration, burst, max int) *Limiter {
	return &Limiter{interval: interval, burst: time.Duration(burst) * interval, max: max,
		cur: make(map[string]time.Time), old: map[string]time.Time{}}
}

// Allow records an event for key at now and reports whether it is within
// the limit; if not, retry is how long until the key may try again.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, found := l.cur[key]
	if !found {
		tat = l.old[key]
	}
	if tat.Before(now) {
		tat = now
	}
	next := tat.Add(l.interval)
	if d := next.Sub(now); d > l.burst {
		return false, d - l.burst
	}
	if !found && len(l.cur) >= l.max {
		l.old, l.cur = l.cur, make(map[string]time.Time, l.max/4)
	}
	l.cur[key] = next
	return true, 0
}

// Len returns how many keys the limiter remembers.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.cur) + len(l.old)
}

// keyOf is the limit key of a client at address a: the address, or for
// IPv6 its /64 (one subscriber's network).
func keyOf(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// addrOf parses an address with or without a port (IPv6 in brackets or
// not), IPv4-mapped IPv6 addresses as IPv4, without a zone.
func addrOf(s string) (netip.Addr, bool) {
	var a netip.Addr
	if strings.Contains(s, "]:") || strings.Count(s, ":") == 1 {
		ap, err := netip.ParseAddrPort(s) // host:port, [v6]:port
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	} else {
		var err error // v4, v6, [v6]
		if a, err = netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err != nil {
			return netip.Addr{}, false
		}
	}
	return a.Unmap().WithZone(""), true
}
