package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"time"
)

// DefaultNoncePeriod is how often Nonces rotate when no period is given.
const DefaultNoncePeriod = 5 * time.Minute

// Nonces issues and checks server nonces (RFC 9449 §8 and §9) without
// storing them: a nonce is an HMAC of the current time period under a
// server key, so every replica holding the key issues the same nonce and
// accepts the others'. A nonce is accepted during its period and the next
// one, so a client that just received one keeps it for at least one period.
type Nonces struct {
	key    []byte
	period time.Duration
	now    func() time.Time
	memo   atomic.Pointer[noncePair] // the nonces of the period last asked for
}

// noncePair are the nonces of a period and of the one before it.
type noncePair struct {
	period      int64
	cur, before string
}

// NewNonces returns Nonces keyed with key (at least 32 bytes, secret, shared
// by the replicas) that rotate every period (zero means
// DefaultNoncePeriod). now is the clock; nil means time.Now.
func NewNonces(key []byte, period time.Duration, now func() time.Time) (*Nonces, error) {
	if len(key) < 32 {
		return nil, errors.New("dpop: nonce key shorter than 32 bytes")
	}
	if period < 0 {
		return nil, errors.New("dpop: negative nonce period")
	}
	if period == 0 {
		period = DefaultNoncePeriod
	}
	if now == nil {
		now = time.Now
	}
	return &Nonces{key: append([]byte(nil), key...), period: period, now: now}, nil
}

// Current returns the nonce of the current period.
func (n *Nonces) Current() string {
	return n.pair().cur
}

// Valid reports whether nonce was issued in the current or the previous
// period.
func (n *Nonces) Valid(nonce string) bool {
	if nonce == "" {
		return false
	}
	p := n.pair()
	return hmac.Equal([]byte(nonce), []byte(p.cur)) || hmac.Equal([]byte(nonce), []byte(p.before))
}

// pair returns the nonces of the current period and the one before,
// computed once per period (the memo is keyed by the period, so it never
// answers for another).
func (n *Nonces) pair() *noncePair {
	p := n.periodAt(n.now())
	if m := n.memo.Load(); m != nil && m.period == p {
		return m
	}
	m := &noncePair{period: p, cur: n.forPeriod(p), before: n.forPeriod(p - 1)}
	n.memo.Store(m)
	return m
}

func (n *Nonces) periodAt(t time.Time) int64 {
	return t.UnixNano() / int64(n.period)
}

func (n *Nonces) forPeriod(p int64) string {
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte("tokenhook dpop nonce v1\x00"))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(p))
	m.Write(b[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}
