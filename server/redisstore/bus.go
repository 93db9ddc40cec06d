package redisstore

import (
	"context"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Bus is a session.Bus over Redis pub/sub: an event published on one
// replica reaches every replica's subscribers, the publisher's included.
// go-redis resubscribes after a lost connection; events published while a
// replica was cut off are not replayed (the sessions are gone from the store
// anyway, so the next request of that session fails its lookup).
type Bus struct {
	c       redis.UniversalClient
	channel string
}

// NewBus returns a Bus on c. prefix starts the channel name (empty means
// DefaultPrefix).
func NewBus(c redis.UniversalClient, prefix string) *Bus {
	return &Bus{c: c, channel: keyPrefix(prefix) + "ended"}
}

// Publish implements session.Bus.
func (b *Bus) Publish(ctx context.Context, key string) error {
	if err := b.c.Publish(ctx, b.channel, key).Err(); err != nil {
		return unavailable("publish", err)
	}
	return nil
}

// Subscribe implements session.Bus. It returns once Redis has confirmed the
// subscription or, when Redis is unreachable, at once (the subscription is
// made when Redis comes back).
func (b *Bus) Subscribe(fn func(key string)) (stop func()) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout+ioTimeout)
	ps := b.c.Subscribe(ctx, b.channel)
	ps.Receive(ctx) // the confirmation; an error here is retried by go-redis
	cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range ps.Channel() {
			fn(m.Payload)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			ps.Close()
			<-done
		})
	}
}
