package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrLockWait is returned by Lease.Lock when another holder kept the lease
// longer than Lease.MaxWait.
var ErrLockWait = errors.New("redisstore: lease still held by another replica")

// Lease is a lock shared by every replica: one holder per key at a time. The
// holder owns a Redis key (SET key token NX PX) for TTL and renews it every
// TTL/3 while it holds the lock, so a slow provider call never lets a second
// replica in; only the holder's token can release it (compare-and-delete).
// A holder that crashes stops renewing, and the lease ends TTL later.
// Waiters poll with back-off, at most MaxWait.
//
// The zero value is not usable; build it with NewLease.
type Lease struct {
	c      redis.UniversalClient
	prefix string
	// TTL is how long the lease outlives its holder's last renewal.
	TTL time.Duration
	// MaxWait bounds how long Lock waits for another holder.
	MaxWait time.Duration
}

// NewLease returns a Lease on c with a 5 s TTL and a 15 s wait bound. prefix
// starts every key (empty means DefaultPrefix).
func NewLease(c redis.UniversalClient, prefix string) *Lease {
	return &Lease{c: c, prefix: keyPrefix(prefix), TTL: 5 * time.Second, MaxWait: 15 * time.Second}
}

// releaseScript deletes KEYS[1] only while it still holds the caller's token.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// renewScript extends KEYS[1] by ARGV[2] ms only while it holds ARGV[1].
var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// Lock takes the lease of key, waiting while another replica holds it, and
// returns the function that releases it (safe to call more than once). It
// fails when ctx ends, after MaxWait (ErrLockWait), or when Redis cannot be
// reached.
func (l *Lease) Lock(ctx context.Context, key string) (unlock func(), err error) {
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	rk := l.prefix + "lock:" + key
	wait := time.NewTimer(l.MaxWait)
	defer wait.Stop()
	backoff := 5 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ok, err := l.c.SetNX(ctx, rk, token, l.TTL).Result()
		if err != nil {
			return nil, unavailable("lock", err)
		}
		if ok {
			break
		}
		pause := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			pause.Stop()
			return nil, ctx.Err()
		case <-wait.C:
			pause.Stop()
			return nil, fmt.Errorf("%w (waited %v)", ErrLockWait, l.MaxWait)
		case <-pause.C:
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go l.renew(rk, token, stop, done)
	var once sync.Once
	return func() { once.Do(func() { l.release(rk, token, stop, done) }) }, nil
}

// release stops the renewal and deletes the lease if it is still ours.
func (l *Lease) release(rk, token string, stop chan<- struct{}, done <-chan struct{}) {
	close(stop)
	<-done
	// A fresh context: the release must happen even when the caller's
	// request was cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 2*ioTimeout)
	defer cancel()
	releaseScript.Run(ctx, l.c, []string{rk}, token)
}

// renew extends the lease every TTL/3 until stop closes or the lease is lost.
func (l *Lease) renew(rk, token string, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(l.TTL / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.TTL/3)
		n, err := renewScript.Run(ctx, l.c, []string{rk}, token, l.TTL.Milliseconds()).Int()
		cancel()
		if err == nil && n == 0 {
			return // lost (expired while Redis was unreachable): nothing to renew
		}
	}
}
