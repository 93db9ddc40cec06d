package session

import (
	"context"
	"sync"
)

// Bus carries "session ended" events between the replicas of a deployment,
// so each can close what it holds for the session (open WebSockets, caches).
// A publisher receives its own events too.
type Bus interface {
	// Publish announces that the session stored under key has ended.
	Publish(ctx context.Context, key string) error
	// Subscribe calls fn with the key of every session ended from now on,
	// until stop is called. fn runs on the bus's goroutine (LocalBus: the publisher's): keep it short.
	Subscribe(fn func(key string)) (stop func())
}

// LocalBus is the Bus of a single process (file and memory stores).
type LocalBus struct {
	mu   sync.RWMutex
	next int
	subs map[int]func(string)
}

// NewLocalBus returns a Bus that delivers within the process.
func NewLocalBus() *LocalBus { return &LocalBus{subs: map[int]func(string){}} }

// Publish implements Bus: it calls every subscriber before returning.
func (b *LocalBus) Publish(_ context.Context, key string) error {
	b.mu.RLock()
	fns := make([]func(string), 0, len(b.subs))
	for _, fn := range b.subs {
		fns = append(fns, fn)
	}
	b.mu.RUnlock()
	for _, fn := range fns {
		fn(key)
	}
	return nil
}

// Subscribe implements Bus.
func (b *LocalBus) Subscribe(fn func(key string)) (stop func()) {
	b.mu.Lock()
	id := b.next
	b.next++
	b.subs[id] = fn
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.subs, id)
		b.mu.Unlock()
	}
}
