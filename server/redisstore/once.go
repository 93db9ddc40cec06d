package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/redis/go-redis/v9"
)

// Once records one-time keys (sign-in states, logout token ids) for every
// replica: the first use of a key wins everywhere. Keys are hashed before
// they reach Redis, so a dump holds no usable state value.
type Once struct {
	c      redis.UniversalClient
	prefix string
}

// NewOnce returns a Once on c. prefix starts every key (empty means
// DefaultPrefix).
func NewOnce(c redis.UniversalClient, prefix string) *Once {
	return &Once{c: c, prefix: keyPrefix(prefix)}
}

// UseOnce records key for ttl (SET NX PX) and reports whether this was its
// first use on any replica.
func (o *Once) UseOnce(ctx context.Context, key string, ttl time.Duration) (first bool, err error) {
	sum := sha256.Sum256([]byte(key))
	first, err = o.c.SetNX(ctx, o.prefix+"once:"+hex.EncodeToString(sum[:]), "1", ttl).Result()
	if err != nil {
		return false, unavailable("use once", err)
	}
	return first, nil
}
