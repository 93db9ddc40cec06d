package broker

import (
	"context"
	"hash/maphash"
	"sync"
)

// Locker serialises refreshes of one session.
type Locker interface {
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// The contract every Locker keeps, for implementers (an in-process one here,
// a Redis lease elsewhere):
//   - Lock blocks until the caller holds the lock of key, or returns ctx's
//     error once ctx ends; on error the caller holds nothing.
//   - While one holder has key, no other caller (in any process sharing the
//     Locker's backing state) gets it.
//   - unlock releases it; calling it again does nothing. The broker may call
//     unlock from another goroutine than the one that called Lock: a refresh
//     it has started carries on (and then releases the lock) after the caller
//     that started it stopped waiting.
//   - A holder keeps the lock as long as it runs (up to the broker's
//     CallTimeout, 15 s by default): a lease must be renewed meanwhile.
//   - The broker cancels ctx when a waiter stops waiting (a winner's token
//     was saved meanwhile); a Lock that succeeds anyway is released at once.

// StripedLocker is an in-process Locker: keys hash onto 256 stripes, each a
// lock that a waiter can stop waiting for when its context ends. Two keys may
// share a stripe (then they wait for each other), which costs nothing but
// rare extra waits. Safe for concurrent use; its zero value is not usable,
// create it with NewStripedLocker.
type StripedLocker struct {
	seed    maphash.Seed
	stripes [256]chan struct{}
}

// NewStripedLocker returns a ready StripedLocker.
func NewStripedLocker() *StripedLocker {
	l := &StripedLocker{seed: maphash.MakeSeed()}
	for i := range l.stripes {
		l.stripes[i] = make(chan struct{}, 1)
	}
	return l
}

// Lock takes key's stripe, waiting until ctx ends at most.
func (l *StripedLocker) Lock(ctx context.Context, key string) (func(), error) {
	ch := l.stripes[uint8(maphash.String(l.seed, key))]
	select {
	case ch <- struct{}{}:
	default:
		select {
		case ch <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return sync.OnceFunc(func() { <-ch }), nil
}
